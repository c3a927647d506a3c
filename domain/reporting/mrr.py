"""MRR: the headline figure at the end of the range, its monthly series and its movements.

* Overage: the engine bills usage as one-off add-on purchases (message packs,
  ``addon_purchased`` rows with ``kind = one_off``). The overage MRR at t is the sum of
  their ``amount_paid_cents`` in the month before t, ``[t - 1 calendar month, t)``.
  ``mrr_cents`` = recurring MRR at ``end`` + overage MRR at ``end``; ``arr_cents`` = 12 x
  ``mrr_cents``.
* MRR movements: every row in the range with a nonzero delta, classified with the
  customer's MRR before (b) and after (a) it: b = 0 < a is ``new`` (the customer never had
  MRR before) or ``reactivated`` (it had); a = 0 < b is ``churned`` (cancellation, pause,
  dunning exhausted); otherwise ``expansion`` (a > b) or ``contraction`` (a < b).
  Contraction and churned amounts are negative; ``net`` is the sum of the five. With a
  segment filter, MRR that moves with a customer into or out of the segment (a plan change
  between segments) is reported as ``transfer_in`` / ``transfer_out``, so that
  recurring MRR at start + net + transfer_in - transfer_out = recurring MRR at end.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.months import add_months
from domain.reporting.ledger import MOVEMENT_TYPES, Movement, MovementType, Scope


@dataclass(frozen=True)
class CustomerCents:
    customer_id: str
    cents: int


@dataclass(frozen=True)
class MovementTotal:
    cents: int
    # Per customer, summed over its movements of this type; largest first.
    customers: tuple[CustomerCents, ...]


@dataclass(frozen=True)
class MovementSummary:
    starting_mrr_cents: int
    ending_mrr_cents: int
    totals: Mapping[MovementType, MovementTotal]
    net_cents: int
    transfer_in_cents: int
    transfer_out_cents: int
    entries: tuple[Movement, ...]

    def cents(self, kind: MovementType) -> int:
        return self.totals[kind].cents


@dataclass(frozen=True)
class MrrPoint:
    month: str
    at: datetime
    mrr_cents: int
    recurring_mrr_cents: int
    overage_mrr_cents: int
    movements: Mapping[MovementType, int]
    net_cents: int


def overage_at(scope: Scope, at: datetime) -> int:
    total = 0
    for step in scope.history.steps_between(add_months(at, -1), at):
        row = step.row
        if (
            row.kind == "addon_purchased"
            and row.data.get("kind") == "one_off"
            and scope.step_in_segment(step)
        ):
            total += int(row.data.get("amount_paid_cents") or 0)
    return total


def movement_summary(scope: Scope) -> MovementSummary:
    totals: dict[MovementType, MovementTotal] = {}
    for kind in MOVEMENT_TYPES:
        per_customer: dict[str, int] = defaultdict(int)
        for movement in scope.movements:
            if movement.type is kind:
                per_customer[movement.customer_id] += movement.cents
        customers = tuple(
            CustomerCents(cid, cents)
            for cid, cents in sorted(per_customer.items(), key=lambda i: (-abs(i[1]), i[0]))
        )
        totals[kind] = MovementTotal(sum(per_customer.values()), customers)
    transfer_in = transfer_out = 0
    for step in scope.range_steps:
        was = scope.segment.holds(step.before.plan, step.before.interval)
        now = scope.step_in_segment(step)
        if was and not now:
            transfer_out += step.before.mrr_cents
        elif now and not was:
            transfer_in += step.before.mrr_cents
    return MovementSummary(
        starting_mrr_cents=scope.recurring_at(scope.start)[0],
        ending_mrr_cents=scope.recurring_at(scope.end)[0],
        totals=totals,
        net_cents=sum(t.cents for t in totals.values()),
        transfer_in_cents=transfer_in,
        transfer_out_cents=transfer_out,
        entries=tuple(scope.movements),
    )


def mrr_series(scope: Scope) -> tuple[MrrPoint, ...]:
    points = []
    for window in scope.months:
        recurring, _ = scope.recurring_at(window.end)
        overage = overage_at(scope, window.end)
        by_type = dict.fromkeys(MOVEMENT_TYPES, 0)
        for movement in scope.movements_between(window.start, window.end):
            by_type[movement.type] += movement.cents
        points.append(
            MrrPoint(
                month=window.label,
                at=window.end,
                mrr_cents=recurring + overage,
                recurring_mrr_cents=recurring,
                overage_mrr_cents=overage,
                movements=by_type,
                net_cents=sum(by_type.values()),
            )
        )
    return tuple(points)
