"""Revenue and lifecycle metrics computed from the ledger: MRR and ARR, MRR movements, the
trial funnel, churn, ARPU, LTV, revenue cohorts and status counts over time.

Pure: no I/O. ``db/reporting.py`` loads the rows, ``compute_report`` does the rest.

Definitions (the API documentation repeats them; keep both in step):

* Time. Every range is half-open, ``[start, end)``, in UTC. "The state at t" is the state
  after every ledger row with ``occurred_at < t``. Calendar buckets (day, ISO week starting
  Monday, month) are UTC; a bucket cut by the range is clipped to it (``partial``).
* A customer's recurring MRR is the running sum of its rows' ``mrr_delta_cents`` (plan plus
  recurring add-ons; annual prices count one twelfth per month). Its status, plan and
  interval are those of its last lifecycle row (a row with a ``to_status``).
* Segment (the ``plan`` / ``interval`` filters): a customer counts under the plan and
  interval it had at the time. Snapshots use the state at that time; a ledger row counts
  under the plan and interval it carries (the state after the event).
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
* Trial funnel (a cohort view): the trials started in the range; of those, by ``end``:
  converted (first ``trial_converted`` row; split into via win-back = ``winbacks_sent`` > 0,
  else within the trial = converted from ``trialing``, else after expiry), expired (a
  ``trial_expired`` row), expired and not converted, still trialing. Conversion rate =
  converted / started. Days to convert = conversion time - trial start; median over the
  converted (mean of the two middle values for an even count). With a segment filter only
  conversions into the segment count as converted; trials started are all trials.
  Weekly cohorts group the same customers by the ISO week of ``trial_started``.
* Churn per calendar month window W = [ws, we): paying customers at ws = customers with
  recurring MRR > 0 at ws; logo churn = distinct customers with a ``churned`` movement in W
  / paying customers at ws; revenue churn = (|churned| + |contraction|) in W / recurring
  MRR at ws. Involuntary churn = churned movements by ``subscription_canceled`` with
  ``voluntary = false`` (dunning exhausted); every other churned movement (cancellations,
  pauses) is voluntary. Dunning: started = ``payment_failed`` rows, recovered =
  ``payment_recovered`` rows, exhausted = ``subscription_canceled`` with ``voluntary =
  false`` or ``plan_changed`` with ``reason = dunning_exhausted``; recovery rate =
  recovered / (recovered + exhausted). The range's ``logo_churn_rate`` and
  ``revenue_churn_rate`` pool the months: sum of numerators / sum of denominators (a
  monthly rate); the range's dunning recovery rate pools the same way.
* ARPU = ``mrr_cents`` / paying customers at ``end``. LTV = ARPU / revenue churn rate
  (both unrounded; rounded once at the end); none when revenue churn is 0.
* Revenue cohorts: customers by the calendar month of their first revenue (their first
  ``new`` movement) in the range. Revenue = paid invoices (``amount_paid_cents`` at
  ``paid_at``) less refunds, cumulated to the end of each month since the cohort month;
  retained = recurring MRR > 0 at the end of that month.
* Payments: paid invoices with ``amount_paid_cents`` > 0, at ``paid_at``. Refunds:
  ``charge_refunded`` rows; the provider's ``amount_refunded`` is cumulative per charge, so
  a refund's amount is its increase over the charge's previous refund row.
* Rounding: money is integer cents; cent figures that are quotients (ARPU, LTV, revenue per
  customer) round half up. Rates are ``Decimal`` fractions (0.25 is 25 %) rounded half up
  to 4 places, days to 2 places; ``None`` when the denominator is 0.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

STATUSES: tuple[str, ...] = (
    "trialing",
    "trial_expired",
    "active",
    "past_due",
    "paused",
    "canceled",
)
RATE_PLACES = 4
DAYS_PLACES = 2


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


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


# -- outputs ---------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class FunnelCounts:
    started: int
    converted: int
    converted_within_trial: int
    converted_after_expiry: int
    converted_via_winback: int
    expired: int
    expired_unconverted: int
    in_trial: int
    conversion_rate: Decimal | None
    median_days_to_convert: Decimal | None


@dataclass(frozen=True)
class TrialCohort:
    week: str
    week_start: date
    counts: FunnelCounts


@dataclass(frozen=True)
class TrialFunnel:
    counts: FunnelCounts
    cohorts: tuple[TrialCohort, ...]


@dataclass(frozen=True)
class ChurnMonth:
    month: str
    window_start: datetime
    window_end: datetime
    partial: bool
    paying_customers_at_start: int
    mrr_at_start_cents: int
    churned_customers: int
    churned_mrr_cents: int
    contraction_mrr_cents: int
    logo_churn_rate: Decimal | None
    revenue_churn_rate: Decimal | None
    voluntary_churned_customers: int
    voluntary_churned_mrr_cents: int
    involuntary_churned_customers: int
    involuntary_churned_mrr_cents: int
    dunning_started: int
    dunning_recovered: int
    dunning_exhausted: int
    dunning_recovery_rate: Decimal | None


@dataclass(frozen=True)
class ChurnSummary:
    logo_churn_rate: Decimal | None
    revenue_churn_rate: Decimal | None
    churned_customers: int
    churned_mrr_cents: int
    contraction_mrr_cents: int
    voluntary_churned_customers: int
    voluntary_churned_mrr_cents: int
    involuntary_churned_customers: int
    involuntary_churned_mrr_cents: int
    dunning_started: int
    dunning_recovered: int
    dunning_exhausted: int
    dunning_recovery_rate: Decimal | None
    months: tuple[ChurnMonth, ...]


@dataclass(frozen=True)
class CohortMonth:
    offset: int
    month: str
    retained_customers: int
    cumulative_revenue_cents: int
    cumulative_revenue_per_customer_cents: int


@dataclass(frozen=True)
class RevenueCohort:
    month: str
    customers: int
    revenue_cents: int
    revenue_per_customer_cents: int
    months: tuple[CohortMonth, ...]


@dataclass(frozen=True)
class StatusPoint:
    period: str
    period_start: datetime
    at: datetime
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Payment:
    paid_at: datetime
    invoice: InvoiceRow


@dataclass(frozen=True)
class Refund:
    refunded_at: datetime
    customer_id: str | None
    charge_id: str | None
    invoice_id: str | None
    currency: str | None
    amount_refunded_cents: int
    cumulative_refunded_cents: int
    event_id: str | None


@dataclass(frozen=True)
class RevenueSummary:
    payments: int
    payments_cents: int
    refunds: int
    refunds_cents: int
    net_revenue_cents: int


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    segment: Segment
    granularity: Granularity
    mrr_cents: int
    recurring_mrr_cents: int
    overage_mrr_cents: int
    arr_cents: int
    status_counts: Mapping[str, int]
    paying_customers: int
    arpu_cents: int | None
    ltv_cents: int | None
    movements: MovementSummary
    mrr_series: tuple[MrrPoint, ...]
    funnel: TrialFunnel
    churn: ChurnSummary
    cohorts: tuple[RevenueCohort, ...]
    lifecycle: tuple[StatusPoint, ...]
    invoices: tuple[InvoiceRow, ...]
    payments: tuple[Payment, ...]
    refunds: tuple[Refund, ...]
    revenue: RevenueSummary

    @property
    def trial_conversion_rate(self) -> Decimal | None:
        return self.funnel.counts.conversion_rate

    @property
    def logo_churn_rate(self) -> Decimal | None:
        return self.churn.logo_churn_rate

    @property
    def revenue_churn_rate(self) -> Decimal | None:
        return self.churn.revenue_churn_rate

    @property
    def dunning_recovery_rate(self) -> Decimal | None:
        return self.churn.dunning_recovery_rate


# -- arithmetic ------------------------------------------------------------------------------


def round_half_up(value: Fraction) -> int:
    """Nearest integer, halves away from zero."""
    numerator, denominator = value.numerator, value.denominator
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((-2 * numerator + denominator) // (2 * denominator))


def to_decimal(value: Fraction, places: int) -> Decimal:
    scaled = round_half_up(value * 10**places)
    return (Decimal(scaled) / Decimal(10**places)).quantize(Decimal(1).scaleb(-places))


def ratio(numerator: int, denominator: int, places: int = RATE_PLACES) -> Decimal | None:
    if denominator == 0:
        return None
    return to_decimal(Fraction(numerator, denominator), places)


def _median(values: Sequence[Fraction]) -> Fraction | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


_DAY_US = 86_400 * 1_000_000


def _days(delta: timedelta) -> Fraction:
    return Fraction(delta // timedelta(microseconds=1), _DAY_US)


# -- calendar --------------------------------------------------------------------------------


def utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def add_months(value: datetime, months: int) -> datetime:
    """The same day and time ``months`` later (earlier when negative), clamped to the
    month's last day (31 March - 1 month = 28 or 29 February)."""
    index = value.year * 12 + value.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_index = index + 1
    last_day = (
        datetime(next_index // 12, next_index % 12 + 1, 1, tzinfo=value.tzinfo) - timedelta(days=1)
    ).day
    return value.replace(year=year, month=month, day=min(value.day, last_day))


def _bucket_start(value: datetime, unit: Granularity) -> datetime:
    day = value.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit is Granularity.DAY:
        return day
    if unit is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_bucket(start: datetime, unit: Granularity) -> datetime:
    if unit is Granularity.DAY:
        return start + timedelta(days=1)
    if unit is Granularity.WEEK:
        return start + timedelta(days=7)
    return add_months(start, 1)


def iso_week(value: datetime | date) -> str:
    year, week, _ = value.isocalendar()
    return f"{year}-W{week:02d}"


def _label(start: datetime, unit: Granularity) -> str:
    if unit is Granularity.DAY:
        return start.date().isoformat()
    if unit is Granularity.WEEK:
        return iso_week(start)
    return f"{start.year:04d}-{start.month:02d}"


def month_label(value: datetime) -> str:
    return f"{value.year:04d}-{value.month:02d}"


@dataclass(frozen=True)
class Window:
    label: str
    bucket_start: datetime
    bucket_end: datetime
    # The bucket clipped to the range.
    start: datetime
    end: datetime

    @property
    def partial(self) -> bool:
        return (self.start, self.end) != (self.bucket_start, self.bucket_end)


def windows(start: datetime, end: datetime, unit: Granularity) -> list[Window]:
    """The calendar buckets overlapping [start, end), each clipped to the range."""
    found = []
    bucket = _bucket_start(start, unit)
    while bucket < end:
        following = _next_bucket(bucket, unit)
        found.append(
            Window(_label(bucket, unit), bucket, following, max(bucket, start), min(following, end))
        )
        bucket = following
    return found


# -- replaying the ledger --------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerState:
    status: str | None
    plan: str | None
    interval: str | None
    mrr_cents: int


_NOBODY = CustomerState(None, None, None, 0)


@dataclass(frozen=True)
class Step:
    """One lifecycle row with the customer's state before and after it."""

    row: LedgerRow
    before: CustomerState
    after: CustomerState
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


def _involuntary_cancel(row: LedgerRow) -> bool:
    return row.kind == "subscription_canceled" and row.data.get("voluntary") is False


def _dunning_exhausted(row: LedgerRow) -> bool:
    return _involuntary_cancel(row) or (
        row.kind == "plan_changed" and row.data.get("reason") == "dunning_exhausted"
    )


class History:
    """Every customer's states over time, replayed from its ledger rows."""

    def __init__(self, rows: Iterable[LedgerRow]) -> None:
        ordered = sorted((utc_row(r) for r in rows), key=lambda r: (r.occurred_at, r.id))
        self.steps: list[Step] = []
        self.refund_rows: list[LedgerRow] = []
        self._times: dict[str, list[datetime]] = defaultdict(list)
        self._states: dict[str, list[CustomerState]] = defaultdict(list)
        current: dict[str, CustomerState] = {}
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
                after = CustomerState(
                    row.to_status, row.plan, row.interval, before.mrr_cents + row.mrr_delta_cents
                )
            else:
                after = CustomerState(
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

    def state(self, customer_id: str, at: datetime, *, inclusive: bool = False) -> CustomerState:
        """The customer's state after its rows before ``at`` (``inclusive``: at or before)."""
        times = self._times.get(customer_id)
        if not times:
            return _NOBODY
        index = (bisect_right if inclusive else bisect_left)(times, at)
        return self._states[customer_id][index - 1] if index else _NOBODY

    def states(self, at: datetime) -> dict[str, CustomerState]:
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


# -- the report ------------------------------------------------------------------------------


class _Computation:
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

    # building blocks

    def _in_segment(self, state: CustomerState) -> bool:
        return state.status is not None and self.segment.holds(state.plan, state.interval)

    def _step_in_segment(self, step: Step) -> bool:
        return self.segment.holds(step.after.plan, step.after.interval)

    def _movement(self, step: Step) -> Movement | None:
        if step.delta == 0 or not self._step_in_segment(step):
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
            voluntary=(not _involuntary_cancel(step.row)) if kind is MovementType.CHURNED else None,
        )

    def recurring_at(self, at: datetime) -> tuple[int, int]:
        """(recurring MRR, paying customers) in the segment at ``at``."""
        mrr = paying = 0
        for state in self.history.states(at).values():
            if self._in_segment(state) and state.mrr_cents > 0:
                mrr += state.mrr_cents
                paying += 1
        return mrr, paying

    def overage_at(self, at: datetime) -> int:
        total = 0
        for step in self.history.steps_between(add_months(at, -1), at):
            row = step.row
            if (
                row.kind == "addon_purchased"
                and row.data.get("kind") == "one_off"
                and self._step_in_segment(step)
            ):
                total += int(row.data.get("amount_paid_cents") or 0)
        return total

    def status_counts(self, at: datetime) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for state in self.history.states(at).values():
            if self._in_segment(state):
                assert state.status is not None
                counts[state.status] = counts.get(state.status, 0) + 1
        return counts

    def movements_between(self, start: datetime, end: datetime) -> list[Movement]:
        return [m for m in self.movements if start <= m.occurred_at < end]

    # sections

    def movement_summary(self) -> MovementSummary:
        totals: dict[MovementType, MovementTotal] = {}
        for kind in MOVEMENT_TYPES:
            per_customer: dict[str, int] = defaultdict(int)
            for movement in self.movements:
                if movement.type is kind:
                    per_customer[movement.customer_id] += movement.cents
            customers = tuple(
                CustomerCents(cid, cents)
                for cid, cents in sorted(per_customer.items(), key=lambda i: (-abs(i[1]), i[0]))
            )
            totals[kind] = MovementTotal(sum(per_customer.values()), customers)
        transfer_in = transfer_out = 0
        for step in self.range_steps:
            was = self.segment.holds(step.before.plan, step.before.interval)
            now = self._step_in_segment(step)
            if was and not now:
                transfer_out += step.before.mrr_cents
            elif now and not was:
                transfer_in += step.before.mrr_cents
        return MovementSummary(
            starting_mrr_cents=self.recurring_at(self.start)[0],
            ending_mrr_cents=self.recurring_at(self.end)[0],
            totals=totals,
            net_cents=sum(t.cents for t in totals.values()),
            transfer_in_cents=transfer_in,
            transfer_out_cents=transfer_out,
            entries=tuple(self.movements),
        )

    def mrr_series(self) -> tuple[MrrPoint, ...]:
        points = []
        for window in self.months:
            recurring, _ = self.recurring_at(window.end)
            overage = self.overage_at(window.end)
            by_type = dict.fromkeys(MOVEMENT_TYPES, 0)
            for movement in self.movements_between(window.start, window.end):
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

    def funnel(self) -> TrialFunnel:
        started: dict[str, datetime] = {}
        for step in self.range_steps:
            if step.row.kind == "trial_started":
                started.setdefault(step.customer_id, step.at)
        conversions: dict[str, Step] = {}
        expired: set[str] = set()
        for step in self.range_steps:
            cid = step.customer_id
            if cid not in started or step.at < started[cid]:
                continue
            if step.row.kind == "trial_converted":
                conversions.setdefault(cid, step)
            elif step.row.kind == "trial_expired":
                expired.add(cid)
        counted = {cid: s for cid, s in conversions.items() if self._step_in_segment(s)}
        trialing = {
            cid for cid in started if self.history.state(cid, self.end).status == "trialing"
        }

        def how(step: Step) -> str:
            if int(step.row.data.get("winbacks_sent") or 0) > 0:
                return "winback"
            if step.row.data.get("converted_from", "trialing") == "trialing":
                return "within"
            return "after_expiry"

        def counts(customers: Iterable[str]) -> FunnelCounts:
            members = list(customers)
            converted = [counted[c] for c in members if c in counted]
            ways = [how(s) for s in converted]
            median = _median([_days(s.at - started[s.customer_id]) for s in converted])
            return FunnelCounts(
                started=len(members),
                converted=len(converted),
                converted_within_trial=ways.count("within"),
                converted_after_expiry=ways.count("after_expiry"),
                converted_via_winback=ways.count("winback"),
                expired=sum(1 for c in members if c in expired),
                expired_unconverted=sum(1 for c in members if c in expired and c not in counted),
                in_trial=sum(1 for c in members if c in trialing),
                conversion_rate=ratio(len(converted), len(members)),
                median_days_to_convert=None if median is None else to_decimal(median, DAYS_PLACES),
            )

        by_week: dict[date, list[str]] = defaultdict(list)
        for cid, at in started.items():
            day = at.date()
            by_week[day - timedelta(days=day.weekday())].append(cid)
        cohorts = tuple(
            TrialCohort(week=iso_week(week), week_start=week, counts=counts(members))
            for week, members in sorted(by_week.items())
        )
        return TrialFunnel(counts=counts(started), cohorts=cohorts)

    def churn(self) -> ChurnSummary:
        months = []
        for window in self.months:
            mrr, paying = self.recurring_at(window.start)
            moved = self.movements_between(window.start, window.end)
            churned = [m for m in moved if m.type is MovementType.CHURNED]
            voluntary = [m for m in churned if m.voluntary]
            involuntary = [m for m in churned if not m.voluntary]
            churned_mrr = -sum(m.cents for m in churned)
            contraction = -sum(m.cents for m in moved if m.type is MovementType.CONTRACTION)
            dunning = [
                s
                for s in self.history.steps_between(window.start, window.end)
                if self._step_in_segment(s)
            ]
            started = sum(1 for s in dunning if s.row.kind == "payment_failed")
            recovered = sum(1 for s in dunning if s.row.kind == "payment_recovered")
            exhausted = sum(1 for s in dunning if _dunning_exhausted(s.row))
            months.append(
                ChurnMonth(
                    month=window.label,
                    window_start=window.start,
                    window_end=window.end,
                    partial=window.partial,
                    paying_customers_at_start=paying,
                    mrr_at_start_cents=mrr,
                    churned_customers=len({m.customer_id for m in churned}),
                    churned_mrr_cents=churned_mrr,
                    contraction_mrr_cents=contraction,
                    logo_churn_rate=ratio(len({m.customer_id for m in churned}), paying),
                    revenue_churn_rate=ratio(churned_mrr + contraction, mrr),
                    voluntary_churned_customers=len({m.customer_id for m in voluntary}),
                    voluntary_churned_mrr_cents=-sum(m.cents for m in voluntary),
                    involuntary_churned_customers=len({m.customer_id for m in involuntary}),
                    involuntary_churned_mrr_cents=-sum(m.cents for m in involuntary),
                    dunning_started=started,
                    dunning_recovered=recovered,
                    dunning_exhausted=exhausted,
                    dunning_recovery_rate=ratio(recovered, recovered + exhausted),
                )
            )
        lost = sum(m.churned_customers for m in months)
        lost_mrr = sum(m.churned_mrr_cents for m in months)
        contraction = sum(m.contraction_mrr_cents for m in months)
        recovered = sum(m.dunning_recovered for m in months)
        exhausted = sum(m.dunning_exhausted for m in months)
        return ChurnSummary(
            logo_churn_rate=ratio(lost, sum(m.paying_customers_at_start for m in months)),
            revenue_churn_rate=ratio(
                lost_mrr + contraction, sum(m.mrr_at_start_cents for m in months)
            ),
            churned_customers=lost,
            churned_mrr_cents=lost_mrr,
            contraction_mrr_cents=contraction,
            voluntary_churned_customers=sum(m.voluntary_churned_customers for m in months),
            voluntary_churned_mrr_cents=sum(m.voluntary_churned_mrr_cents for m in months),
            involuntary_churned_customers=sum(m.involuntary_churned_customers for m in months),
            involuntary_churned_mrr_cents=sum(m.involuntary_churned_mrr_cents for m in months),
            dunning_started=sum(m.dunning_started for m in months),
            dunning_recovered=recovered,
            dunning_exhausted=exhausted,
            dunning_recovery_rate=ratio(recovered, recovered + exhausted),
            months=tuple(months),
        )

    def refunds(self) -> list[Refund]:
        """Every refund up to ``end`` (the provider's amounts are cumulative per charge)."""
        seen: dict[str, int] = {}
        found = []
        for row in self.history.refund_rows:
            if row.occurred_at >= self.end:
                break
            data = row.data
            charge = data.get("charge_id")
            cumulative = int(data.get("amount_refunded_cents") or 0)
            previous = seen.get(charge, 0) if charge else 0
            if charge:
                seen[charge] = max(previous, cumulative)
            found.append(
                Refund(
                    refunded_at=row.occurred_at,
                    customer_id=row.customer_id,
                    charge_id=charge,
                    invoice_id=data.get("invoice_id"),
                    currency=data.get("currency"),
                    amount_refunded_cents=max(0, cumulative - previous),
                    cumulative_refunded_cents=cumulative,
                    event_id=data.get("event_id"),
                )
            )
        return found

    def _customer_in_segment(self, customer_id: str | None, at: datetime) -> bool:
        if self.segment.is_all:
            return True
        if customer_id is None:
            return False
        return self._in_segment(self.history.state(customer_id, at, inclusive=True))

    def payments(self) -> list[Payment]:
        """Paid invoices up to ``end``, by payment time."""
        found = []
        for invoice in self.invoices:
            if invoice.status != "paid" or invoice.amount_paid_cents <= 0:
                continue
            paid_at = utc(invoice.paid_at or invoice.created_at)
            if paid_at < self.end:
                found.append(Payment(paid_at, invoice))
        found.sort(key=lambda p: (p.paid_at, p.invoice.id))
        return found

    def cohorts(
        self, payments: Sequence[Payment], refunds: Sequence[Refund]
    ) -> list[RevenueCohort]:
        first_revenue: dict[str, Step] = {}
        for step in self.history.steps:
            if step.at >= self.end:
                break
            if step.before.mrr_cents <= 0 < step.after.mrr_cents and not step.had_revenue:
                first_revenue.setdefault(step.customer_id, step)
        members: dict[str, list[str]] = defaultdict(list)
        for cid, step in first_revenue.items():
            if self.start <= step.at and self._step_in_segment(step):
                members[month_label(step.at)].append(cid)
        money: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
        for payment in payments:
            money[payment.invoice.customer_id].append(
                (payment.paid_at, payment.invoice.amount_paid_cents)
            )
        for refund in refunds:
            if refund.customer_id is not None:
                money[refund.customer_id].append(
                    (refund.refunded_at, -refund.amount_refunded_cents)
                )
        cohorts = []
        for window in self.months:
            customers = members.get(window.label, [])
            if not customers:
                continue
            months = []
            offset = 0
            bucket = window.bucket_start
            while bucket < self.end:
                at = min(add_months(bucket, 1), self.end)
                revenue = sum(
                    cents for cid in customers for when, cents in money.get(cid, []) if when < at
                )
                retained = sum(1 for cid in customers if self.history.state(cid, at).mrr_cents > 0)
                months.append(
                    CohortMonth(
                        offset=offset,
                        month=month_label(bucket),
                        retained_customers=retained,
                        cumulative_revenue_cents=revenue,
                        cumulative_revenue_per_customer_cents=round_half_up(
                            Fraction(revenue, len(customers))
                        ),
                    )
                )
                offset += 1
                bucket = add_months(bucket, 1)
            total = months[-1].cumulative_revenue_cents
            cohorts.append(
                RevenueCohort(
                    month=window.label,
                    customers=len(customers),
                    revenue_cents=total,
                    revenue_per_customer_cents=round_half_up(Fraction(total, len(customers))),
                    months=tuple(months),
                )
            )
        return cohorts

    def lifecycle(self) -> tuple[StatusPoint, ...]:
        return tuple(
            StatusPoint(
                period=w.label,
                period_start=w.bucket_start,
                at=w.end,
                counts=self.status_counts(w.end),
            )
            for w in windows(self.start, self.end, self.granularity)
        )

    def report(self) -> Report:
        recurring, paying = self.recurring_at(self.end)
        overage = self.overage_at(self.end)
        mrr = recurring + overage
        churn = self.churn()
        all_payments = self.payments()
        all_refunds = self.refunds()
        payments = tuple(
            p
            for p in all_payments
            if self.start <= p.paid_at
            and self._customer_in_segment(p.invoice.customer_id, p.paid_at)
        )
        refunds = tuple(
            r
            for r in all_refunds
            if self.start <= r.refunded_at
            and self._customer_in_segment(r.customer_id, r.refunded_at)
        )
        invoices = tuple(
            sorted(
                (
                    i
                    for i in self.invoices
                    if self.start <= utc(i.created_at) < self.end
                    and self._customer_in_segment(i.customer_id, utc(i.created_at))
                ),
                key=lambda i: (utc(i.created_at), i.id),
            )
        )
        arpu = Fraction(mrr, paying) if paying else None
        revenue_churn = Fraction(churn.churned_mrr_cents + churn.contraction_mrr_cents)
        churn_base = sum(m.mrr_at_start_cents for m in churn.months)
        ltv = None
        if arpu is not None and revenue_churn > 0 and churn_base > 0:
            ltv = round_half_up(arpu / (revenue_churn / churn_base))
        payments_cents = sum(p.invoice.amount_paid_cents for p in payments)
        refunds_cents = sum(r.amount_refunded_cents for r in refunds)
        return Report(
            start=self.start,
            end=self.end,
            segment=self.segment,
            granularity=self.granularity,
            mrr_cents=mrr,
            recurring_mrr_cents=recurring,
            overage_mrr_cents=overage,
            arr_cents=12 * mrr,
            status_counts=self.status_counts(self.end),
            paying_customers=paying,
            arpu_cents=None if arpu is None else round_half_up(arpu),
            ltv_cents=ltv,
            movements=self.movement_summary(),
            mrr_series=self.mrr_series(),
            funnel=self.funnel(),
            churn=churn,
            cohorts=tuple(self.cohorts(all_payments, all_refunds)),
            lifecycle=self.lifecycle(),
            invoices=invoices,
            payments=payments,
            refunds=refunds,
            revenue=RevenueSummary(
                payments=len(payments),
                payments_cents=payments_cents,
                refunds=len(refunds),
                refunds_cents=refunds_cents,
                net_revenue_cents=payments_cents - refunds_cents,
            ),
        )


def compute_report(
    rows: Iterable[LedgerRow],
    invoices: Iterable[InvoiceRow] = (),
    *,
    start: datetime,
    end: datetime,
    plan: str | None = None,
    interval: str | None = None,
    granularity: Granularity | str = Granularity.MONTH,
) -> Report:
    """Every metric for [start, end). ``rows`` must hold the ledger up to ``end`` (MRR at
    ``start`` needs the history before it); rows at or after ``end`` are ignored."""
    start, end = utc(start), utc(end)
    if start >= end:
        raise ValueError("start must be before end")
    history = History(r for r in rows if utc(r.occurred_at) < end)
    return _Computation(
        history, list(invoices), start, end, Segment(plan, interval), Granularity(granularity)
    ).report()


# -- CSV tables ------------------------------------------------------------------------------

CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "mrr": (
        "month",
        "at",
        "mrr_cents",
        "recurring_mrr_cents",
        "overage_mrr_cents",
        "new_cents",
        "expansion_cents",
        "contraction_cents",
        "churned_cents",
        "reactivated_cents",
        "net_cents",
    ),
    "mrr_movements": (
        "occurred_at",
        "customer_id",
        "movement",
        "event",
        "plan",
        "interval",
        "mrr_before_cents",
        "mrr_after_cents",
        "delta_cents",
        "voluntary",
    ),
    "invoices": (
        "invoice_id",
        "number",
        "customer_id",
        "status",
        "currency",
        "billing_reason",
        "subtotal_cents",
        "total_cents",
        "amount_due_cents",
        "amount_paid_cents",
        "amount_remaining_cents",
        "period_start",
        "period_end",
        "created_at",
        "paid_at",
    ),
    "payments": (
        "paid_at",
        "invoice_id",
        "number",
        "customer_id",
        "currency",
        "billing_reason",
        "amount_paid_cents",
    ),
    "refunds": (
        "refunded_at",
        "customer_id",
        "charge_id",
        "invoice_id",
        "currency",
        "amount_refunded_cents",
        "cumulative_refunded_cents",
        "event_id",
    ),
    "trial_funnel": (
        "cohort_week",
        "week_start",
        "trials_started",
        "converted",
        "converted_within_trial",
        "converted_after_expiry",
        "converted_via_winback",
        "expired",
        "expired_unconverted",
        "in_trial",
        "conversion_rate",
        "median_days_to_convert",
    ),
    "churn": (
        "month",
        "window_start",
        "window_end",
        "partial",
        "paying_customers_at_start",
        "mrr_at_start_cents",
        "churned_customers",
        "churned_mrr_cents",
        "contraction_mrr_cents",
        "logo_churn_rate",
        "revenue_churn_rate",
        "voluntary_churned_customers",
        "voluntary_churned_mrr_cents",
        "involuntary_churned_customers",
        "involuntary_churned_mrr_cents",
        "dunning_started",
        "dunning_recovered",
        "dunning_exhausted",
        "dunning_recovery_rate",
    ),
    "cohorts": (
        "cohort_month",
        "customers",
        "month_offset",
        "month",
        "retained_customers",
        "cumulative_revenue_cents",
        "cumulative_revenue_per_customer_cents",
    ),
    "lifecycle": ("period", "period_start", "at", *STATUSES, "total"),
}

CsvValue = str | int | bool | Decimal | datetime | date | None


def _funnel_values(counts: FunnelCounts) -> list[CsvValue]:
    return [
        counts.started,
        counts.converted,
        counts.converted_within_trial,
        counts.converted_after_expiry,
        counts.converted_via_winback,
        counts.expired,
        counts.expired_unconverted,
        counts.in_trial,
        counts.conversion_rate,
        counts.median_days_to_convert,
    ]


def csv_rows(report: Report, name: str) -> list[list[CsvValue]]:
    """The rows of one CSV table, in ``CSV_COLUMNS[name]`` order."""
    if name == "mrr":
        return [
            [
                p.month,
                p.at,
                p.mrr_cents,
                p.recurring_mrr_cents,
                p.overage_mrr_cents,
                *(p.movements[t] for t in MOVEMENT_TYPES),
                p.net_cents,
            ]
            for p in report.mrr_series
        ]
    if name == "mrr_movements":
        return [
            [
                m.occurred_at,
                m.customer_id,
                m.type.value,
                m.event,
                m.plan,
                m.interval,
                m.mrr_before_cents,
                m.mrr_after_cents,
                m.cents,
                m.voluntary,
            ]
            for m in report.movements.entries
        ]
    if name == "invoices":
        return [
            [
                i.id,
                i.number,
                i.customer_id,
                i.status,
                i.currency,
                i.billing_reason,
                i.subtotal_cents,
                i.total_cents,
                i.amount_due_cents,
                i.amount_paid_cents,
                i.amount_remaining_cents,
                i.period_start,
                i.period_end,
                i.created_at,
                i.paid_at,
            ]
            for i in report.invoices
        ]
    if name == "payments":
        return [
            [
                p.paid_at,
                p.invoice.id,
                p.invoice.number,
                p.invoice.customer_id,
                p.invoice.currency,
                p.invoice.billing_reason,
                p.invoice.amount_paid_cents,
            ]
            for p in report.payments
        ]
    if name == "refunds":
        return [
            [
                r.refunded_at,
                r.customer_id,
                r.charge_id,
                r.invoice_id,
                r.currency,
                r.amount_refunded_cents,
                r.cumulative_refunded_cents,
                r.event_id,
            ]
            for r in report.refunds
        ]
    if name == "trial_funnel":
        return [[c.week, c.week_start, *_funnel_values(c.counts)] for c in report.funnel.cohorts]
    if name == "churn":
        return [
            [
                m.month,
                m.window_start,
                m.window_end,
                m.partial,
                m.paying_customers_at_start,
                m.mrr_at_start_cents,
                m.churned_customers,
                m.churned_mrr_cents,
                m.contraction_mrr_cents,
                m.logo_churn_rate,
                m.revenue_churn_rate,
                m.voluntary_churned_customers,
                m.voluntary_churned_mrr_cents,
                m.involuntary_churned_customers,
                m.involuntary_churned_mrr_cents,
                m.dunning_started,
                m.dunning_recovered,
                m.dunning_exhausted,
                m.dunning_recovery_rate,
            ]
            for m in report.churn.months
        ]
    if name == "cohorts":
        return [
            [
                c.month,
                c.customers,
                m.offset,
                m.month,
                m.retained_customers,
                m.cumulative_revenue_cents,
                m.cumulative_revenue_per_customer_cents,
            ]
            for c in report.cohorts
            for m in c.months
        ]
    if name == "lifecycle":
        return [
            [p.period, p.period_start, p.at, *(p.counts.get(s, 0) for s in STATUSES), p.total]
            for p in report.lifecycle
        ]
    raise KeyError(name)


def csv_text(value: CsvValue) -> str:
    """How a CSV cell is written: ISO 8601 times, plain decimals, true/false, '' for none."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
