"""What every concern of the customer workflow shares: the state, the terms, the caller.

One object per run, handed to the concern modules (trial, subscription, dunning, ...),
which change ``state`` and call the effects; only the workflow class holds the lock.
"""

from __future__ import annotations

import hashlib
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.catalog import Catalog
    from domain.lifecycle import BillingInterval
    from domain.policy import Policy
    from domain.terms import Terms
    from workflows.messages import CustomerState

SYSTEM_ACTOR = "system"
PROVIDER_ACTOR = "stripe"

# One copy of each terms version per worker process, shared by every customer on it
# (about 16 KB of objects each, so 160 MB for 10,000 cached customers otherwise). Sound
# because a version names one document for ever and no workflow code mutates terms.
_shared_terms: dict[str, Terms] = {}


def shared_terms(version: str, loaded: Terms) -> Terms:
    return _shared_terms.setdefault(version, loaded)


class CustomerContext:
    def __init__(
        self,
        state: CustomerState,
        terms: Terms | None,
        terms_version: str | None,
        generation: int = 0,
    ) -> None:
        self.state = state
        # The generation of the code that started this run (see ``patches``).
        self.generation = generation
        # None only while a new run loads its terms (see ``CustomerWorkflow.run``).
        self.terms = terms
        self.terms_version = terms_version
        # True while a command's caller waits on the result: provider calls then give up
        # quickly and report; timers and events retry, then stall and back off.
        self.caller_waiting = False
        # The caller's idempotency key of the command running now, if it gave one.
        self.request_id: str | None = None
        # The terms' catalog and that catalog in ``state.billed_currency`` (built once).
        self._billed: tuple[Catalog, Catalog] | None = None

    def since(self, generation: int) -> bool:
        """Whether this run takes the changes of ``generation`` (see ``patches``)."""
        return self.generation >= generation

    def fixed(self, patch: str, generation: int = 1) -> bool:
        """Whether the fix ``patch`` applies: always in a run of ``generation`` or later
        (the generation that made it the rule), else as the patch decides (see
        ``patches``)."""
        return self.since(generation) or workflow.patched(patch)

    @property
    def policy(self) -> Policy:
        assert self.terms is not None, "terms are loaded before any step runs"
        return self.terms.policy

    @property
    def catalog(self) -> Catalog:
        """The terms' catalog, in the currency the provider bills when that differs."""
        assert self.terms is not None, "terms are loaded before any step runs"
        catalog = self.terms.catalog
        billed = self.state.billed_currency
        if billed is None or billed == catalog.currency or not catalog.sells_in(billed):
            return catalog
        if self._billed is None or self._billed[0] is not catalog:
            self._billed = (catalog, catalog.in_currency(billed))
        return self._billed[1]

    @property
    def customer_id(self) -> str:
        return self.state.customer_id

    # -- provider idempotency keys ---------------------------------------------------------

    def next_command(self) -> int:
        self.state.command_seq += 1
        return self.state.command_seq

    def key(self, seq: int, operation: str) -> str:
        """The provider idempotency key of one operation of a command.

        From the caller's idempotency key when it gave one (so a retried request, even in a
        later run, repeats the provider's first answer), else from the command sequence
        (carried across continue-as-new)."""
        if self.request_id is not None:
            digest = hashlib.sha256(self.request_id.encode()).hexdigest()[:32]
            return f"{self.customer_id}:r:{digest}:{operation}"
        return f"{self.customer_id}:{seq}:{operation}"

    # -- what the catalog says about the customer ----------------------------------------

    def mrr(self, plan: str, interval: BillingInterval) -> int:
        """The subscription's monthly recurring revenue: plan plus recurring add-ons."""
        catalog = self.catalog
        found = catalog.plans.get(plan)
        total = catalog.monthly_recurring_cents(found, interval) if found else 0
        for addon_id, quantity in self.state.addons.items():
            addon = catalog.addons.get(addon_id)
            if addon is not None:
                total += quantity * catalog.addon_monthly_recurring_cents(addon, interval)
        return total

    def plan_name(self, plan: str) -> str:
        found = self.catalog.plans.get(plan)
        return found.name if found else plan

    def plan_data(self) -> dict[str, Any]:
        state = self.state
        return {
            "plan": state.plan,
            "plan_name": self.plan_name(state.plan),
            "interval": state.interval.value if state.interval else None,
        }
