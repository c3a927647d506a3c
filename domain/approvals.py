"""Maker-checker: which admin actions need a second admin's approval (``[approvals]``), and
the life of an approval request. Pure: the API asks, ``services.approvals`` stores.

A request is ``pending`` until a different admin key approves or rejects it; an approved
request runs once, through the same use case as the direct call, and ends ``executed`` or
``failed`` (the action refused, e.g. the trial could no longer be extended).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    TRIAL_EXTENSION = "trial_extension"
    LIMIT_OVERRIDE = "limit_override"
    ERASURE = "erasure"
    # A campaign's send: its coupon goes to every customer of its segment.
    COUPON_GRANT = "coupon_grant"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTED = "executed"
    FAILED = "failed"


@dataclass(frozen=True)
class Approvals:
    """What needs a second admin. Everything off: one admin key acts alone."""

    # GDPR erasure (irreversible: personal data is gone).
    erasure: bool = False
    # A limit override above the customer's plan (or unlimited); lowering one never does.
    limit_overrides_above_plan: bool = False
    # A trial extension of more than this many days; None: never.
    trial_extensions_beyond_days: int | None = None
    # Sending a campaign (each customer of its segment is offered its coupon); a dry run
    # grants nothing and never waits.
    coupon_grants: bool = False

    def trial_extension_needs_approval(self, days: int) -> bool:
        limit = self.trial_extensions_beyond_days
        return limit is not None and days > limit

    def limit_override_needs_approval(
        self, requested: Mapping[str, int | None], plan_limits: Mapping[str, int | None]
    ) -> bool:
        if not self.limit_overrides_above_plan:
            return False
        return any(
            above_plan(value, plan_limits.get(metric)) for metric, value in requested.items()
        )


def above_plan(value: int | None, plan_limit: int | None) -> bool:
    """Whether an override raises the plan's limit. ``None`` is unlimited as an override;
    as the plan's limit it means "per contract", which has no figure to stay under: any
    override then sets the contract and counts as raising it."""
    if plan_limit is None:
        return True
    return value is None or value > plan_limit
