"""The ledger replayed: what every report is computed from.

The input rows, each customer's state over time, its MRR movements (classified as
``domain.reporting.mrr`` defines them) and the ``Scope`` (range, segment, history) every
report reads.

* A customer's recurring MRR is the running sum of its rows' ``mrr_delta_cents`` (plan plus
  recurring add-ons; annual prices count one twelfth per month). Its status, plan and
  interval are those of its last lifecycle row (a row with a ``to_status``).
* Segment (the ``plan`` / ``interval`` filters): a customer counts under the plan and
  interval it had at the time. Snapshots use the state at that time; a ledger row counts
  under the plan and interval it carries (the state after the event).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from domain.reporting.periods import Granularity, utc, windows

STATUSES: tuple[str, ...] = (
    "trialing",
    "trial_expired",
    "active",
    "past_due",
    "paused",
    "canceled",
)


class MovementType(StrEnum):
    NEW = "new"
    EXPANSION = "expansion"
    CONTRACTION = "contraction"
    CHURNED = "churned"
    REACTIVATED = "reactivated"


MOVEMENT_TYPES: tuple[MovementType, ...] = tuple(MovementType)


# -- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerRow:
    """One ledger row, as ``db.models.LedgerEvent`` holds it (plan/interval: after the event)."""

    customer_id: str | None
    kind: str
    occurred_at: datetime
    from_status: str | None = None
    to_status: str | None = None
    plan: str | None = None
    interval: str | None = None
    mrr_delta_cents: int = 0
    data: Mapping[str, Any] = field(default_factory=dict)
    actor: str = ""
    # The ledger's id: orders rows that share a timestamp.
    id: int = 0


@dataclass(frozen=True)
class InvoiceRow:
    """One row of the invoice mirror (``db.models.Invoice``)."""

    id: str
    customer_id: str
    status: str
    currency: str
    created_at: datetime
    amount_paid_cents: int = 0
    amount_due_cents: int = 0
    subtotal_cents: int = 0
    total_cents: int = 0
    amount_remaining_cents: int = 0
    # The tax in ``total_cents`` (Stripe Tax's; 0 without tax).
    tax_cents: int = 0
    number: str | None = None
    billing_reason: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    paid_at: datetime | None = None


@dataclass(frozen=True)
class Segment:
    """The plan / interval filter; ``None`` matches anything."""

    plan: str | None = None
    interval: str | None = None

    @property
    def is_all(self) -> bool:
        return self.plan is None and self.interval is None

    def holds(self, plan: str | None, interval: str | None) -> bool:
        return (self.plan is None or plan == self.plan) and (
            self.interval is None or interval == self.interval
        )


@dataclass(frozen=True)
class Movement:
    type: MovementType
    customer_id: str
    occurred_at: datetime
    event: str
    plan: str | None
    interval: str | None
    mrr_before_cents: int
    mrr_after_cents: int
    # Signed: negative for contraction and churned.
    cents: int
    # For churned movements: False when dunning was exhausted; None otherwise.
    voluntary: bool | None


# -- replaying the ledger --------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerPosition:
    """Where a customer stood after a ledger row: status, plan, interval and MRR (the
    workflow's live state is ``workflows.messages.CustomerState``)."""

    status: str | None
    plan: str | None
    interval: str | None
    mrr_cents: int


_NOBODY = LedgerPosition(None, None, None, 0)


@dataclass(frozen=True)
class Step:
    """One lifecycle row with the customer's state before and after it."""

    row: LedgerRow
    before: LedgerPosition
    after: LedgerPosition
    # Whether the customer had recurring MRR at any time before this row.
    had_revenue: bool

    @property
    def customer_id(self) -> str:
        assert self.row.customer_id is not None
        return self.row.customer_id

    @property
    def at(self) -> datetime:
        return self.row.occurred_at

    @property
    def delta(self) -> int:
        return self.after.mrr_cents - self.before.mrr_cents


def _classify(before: int, after: int, had_revenue: bool) -> MovementType:
    if before <= 0 < after:
        return MovementType.REACTIVATED if had_revenue else MovementType.NEW
    if after <= 0 < before:
        return MovementType.CHURNED
    return MovementType.EXPANSION if after > before else MovementType.CONTRACTION


def involuntary_cancel(row: LedgerRow) -> bool:
    return row.kind == "subscription_canceled" and row.data.get("voluntary") is False


class History:
    """Every customer's states over time, replayed from its ledger rows."""

    def __init__(self, rows: Iterable[LedgerRow]) -> None:
        ordered = sorted((utc_row(r) for r in rows), key=lambda r: (r.occurred_at, r.id))
        self.steps: list[Step] = []
        self.refund_rows: list[LedgerRow] = []
        self._times: dict[str, list[datetime]] = defaultdict(list)
        self._states: dict[str, list[LedgerPosition]] = defaultdict(list)
        current: dict[str, LedgerPosition] = {}
        had_revenue: set[str] = set()
        for row in ordered:
            if row.kind == "charge_refunded":
                self.refund_rows.append(row)
                continue
            cid = row.customer_id
            if cid is None or (row.to_status is None and row.mrr_delta_cents == 0):
                continue  # audit rows and rows that change no state
            before = current.get(cid, _NOBODY)
            if row.to_status is not None:
                after = LedgerPosition(
                    row.to_status, row.plan, row.interval, before.mrr_cents + row.mrr_delta_cents
                )
            else:
                after = LedgerPosition(
                    before.status,
                    before.plan,
                    before.interval,
                    before.mrr_cents + row.mrr_delta_cents,
                )
            self.steps.append(Step(row, before, after, cid in had_revenue))
            current[cid] = after
            if after.mrr_cents > 0:
                had_revenue.add(cid)
            self._times[cid].append(row.occurred_at)
            self._states[cid].append(after)
        self._step_times = [s.at for s in self.steps]

    @property
    def customers(self) -> list[str]:
        return list(self._times)

    def state(self, customer_id: str, at: datetime, *, inclusive: bool = False) -> LedgerPosition:
        """The customer's state after its rows before ``at`` (``inclusive``: at or before)."""
        times = self._times.get(customer_id)
        if not times:
            return _NOBODY
        index = (bisect_right if inclusive else bisect_left)(times, at)
        return self._states[customer_id][index - 1] if index else _NOBODY

    def states(self, at: datetime) -> dict[str, LedgerPosition]:
        found = {}
        for cid in self._times:
            state = self.state(cid, at)
            if state.status is not None:
                found[cid] = state
        return found

    def steps_between(self, start: datetime, end: datetime) -> list[Step]:
        return self.steps[bisect_left(self._step_times, start) : bisect_left(self._step_times, end)]


def utc_row(row: LedgerRow) -> LedgerRow:
    if row.occurred_at.tzinfo is UTC:
        return row
    return LedgerRow(
        customer_id=row.customer_id,
        kind=row.kind,
        occurred_at=utc(row.occurred_at),
        from_status=row.from_status,
        to_status=row.to_status,
        plan=row.plan,
        interval=row.interval,
        mrr_delta_cents=row.mrr_delta_cents,
        data=row.data,
        actor=row.actor,
        id=row.id,
    )


# -- what a report is computed over ----------------------------------------------------------


class Scope:
    """The range, the segment and the replayed history one report is computed over, with the
    range's movements classified once for every section that reads them."""

    def __init__(
        self,
        history: History,
        invoices: Sequence[InvoiceRow],
        start: datetime,
        end: datetime,
        segment: Segment,
        granularity: Granularity,
    ) -> None:
        self.history = history
        self.invoices = invoices
        self.start, self.end = start, end
        self.segment = segment
        self.granularity = granularity
        self.months = windows(start, end, Granularity.MONTH)
        self.range_steps = history.steps_between(start, end)
        self.movements = [m for m in (self._movement(s) for s in self.range_steps) if m]

    def in_segment(self, state: LedgerPosition) -> bool:
        return state.status is not None and self.segment.holds(state.plan, state.interval)

    def step_in_segment(self, step: Step) -> bool:
        return self.segment.holds(step.after.plan, step.after.interval)

    def customer_in_segment(self, customer_id: str | None, at: datetime) -> bool:
        if self.segment.is_all:
            return True
        if customer_id is None:
            return False
        return self.in_segment(self.history.state(customer_id, at, inclusive=True))

    def _movement(self, step: Step) -> Movement | None:
        if step.delta == 0 or not self.step_in_segment(step):
            return None
        before, after = step.before.mrr_cents, step.after.mrr_cents
        kind = _classify(before, after, step.had_revenue)
        return Movement(
            type=kind,
            customer_id=step.customer_id,
            occurred_at=step.at,
            event=step.row.kind,
            plan=step.after.plan,
            interval=step.after.interval,
            mrr_before_cents=before,
            mrr_after_cents=after,
            cents=step.delta,
            voluntary=(not involuntary_cancel(step.row)) if kind is MovementType.CHURNED else None,
        )

    def recurring_at(self, at: datetime) -> tuple[int, int]:
        """(recurring MRR, paying customers) in the segment at ``at``."""
        mrr = paying = 0
        for state in self.history.states(at).values():
            if self.in_segment(state) and state.mrr_cents > 0:
                mrr += state.mrr_cents
                paying += 1
        return mrr, paying

    def movements_between(self, start: datetime, end: datetime) -> list[Movement]:
        return [m for m in self.movements if start <= m.occurred_at < end]
