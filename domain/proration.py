"""Stripe-style billing periods and proration. Pure: no I/O, safe to import from workflows.

Billing periods follow Stripe's billing cycle anchor: a monthly subscription anchored on
the 31st renews on the last day of shorter months and goes back to the 31st when the month
has one (Jan 31 -> Feb 28 -> Mar 31 -> Apr 30); a yearly one anchored on Feb 29 renews on
Feb 28 in common years. Every boundary is computed from the anchor, never from the
previous (possibly clamped) boundary, and keeps the anchor's time of day.

Proration is by the second, like Stripe's default: a price change at ``at`` credits the
unused time on the old price and charges the remaining time on the new one, each line
``price * remaining_seconds / period_seconds`` rounded to a whole cent on its own.
Rounding is half up (a half cent rounds away from zero): Stripe documents rounding to the
nearest unit with halves going up (0.025 -> 0.03) for its fees and tax amounts, and does
not document a different rule for prorations.

An interval change (month <-> year) resets the billing cycle: the new period starts at the
change, the customer is credited the unused time on the old price and charged the full new
price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.lifecycle import BillingInterval
from domain.money import round_half_up
from domain.months import add_months

MONTHS_PER_INTERVAL: dict[BillingInterval, int] = {
    BillingInterval.MONTH: 1,
    BillingInterval.YEAR: 12,
}


# -- billing periods --------------------------------------------------------------------


def add_interval(anchor: datetime, interval: BillingInterval, count: int = 1) -> datetime:
    """The ``count``-th period boundary after ``anchor`` (``count`` may be negative)."""
    return add_months(anchor, MONTHS_PER_INTERVAL[interval] * count)


def next_period_end(anchor: datetime, interval: BillingInterval, after: datetime) -> datetime:
    """The first boundary ``anchor + k intervals`` (k >= 1) strictly after ``after``."""
    step = MONTHS_PER_INTERVAL[interval]
    months = (after.year - anchor.year) * 12 + (after.month - anchor.month)
    count = max(months // step - 1, 1)
    while add_months(anchor, step * count) <= after:
        count += 1
    return add_months(anchor, step * count)


def billing_period(
    anchor: datetime, interval: BillingInterval, at: datetime
) -> tuple[datetime, datetime]:
    """The period ``[start, end)`` of a cycle anchored at ``anchor`` that contains ``at``."""
    if at < anchor:
        raise ValueError("the moment is before the billing cycle anchor")
    end = next_period_end(anchor, interval, at)
    step = MONTHS_PER_INTERVAL[interval]
    # add_months moves exactly that many calendar months, so this recovers the count.
    count = ((end.year - anchor.year) * 12 + (end.month - anchor.month)) // step
    return add_months(anchor, step * (count - 1)), end


# -- proration --------------------------------------------------------------------------


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


def _whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def prorated_cents(price_cents: int, remaining_seconds: int, period_seconds: int) -> int:
    """``price * remaining / period`` rounded half up to a whole cent."""
    if period_seconds <= 0:
        raise ValueError("the period must be longer than zero seconds")
    remaining = min(max(remaining_seconds, 0), period_seconds)
    return round_half_up(price_cents * remaining, period_seconds)


@dataclass(frozen=True)
class ProrationResult:
    # Unused time on the old price: zero or negative ("Unused time on X after <date>").
    credit_cents: int
    # Remaining time on the new price ("Remaining time on Y after <date>"), or the full new
    # price when the change resets the billing cycle.
    charge_cents: int
    # When the change happens (whole seconds), and the period the new price now covers.
    at: datetime
    period_start: datetime
    period_end: datetime
    # True for interval changes: the new period starts at ``at`` and ``period_end`` is one
    # new interval later.
    resets_cycle: bool = False
    remaining_seconds: int = 0
    period_seconds: int = 0

    @property
    def net_cents(self) -> int:
        """The invoice total of the change; negative when the credit outweighs the charge."""
        return self.credit_cents + self.charge_cents

    @property
    def amount_due_cents(self) -> int:
        """What is charged now. A negative net goes to the customer's credit balance."""
        return max(self.net_cents, 0)

    @property
    def balance_credit_cents(self) -> int:
        """The part of a negative net that becomes customer credit (zero or negative)."""
        return min(self.net_cents, 0)


def _unused(
    old_price_cents: int, period_start: datetime, period_end: datetime, at: datetime
) -> tuple[int, int, int]:
    start, end, at = _whole_second(period_start), _whole_second(period_end), _whole_second(at)
    period = _seconds(end - start)
    if period <= 0:
        raise ValueError("the billing period must end after it starts")
    remaining = min(max(_seconds(end - at), 0), period)
    return -prorated_cents(old_price_cents, remaining, period), remaining, period


def prorate_change(
    old_price_cents: int,
    new_price_cents: int,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
) -> ProrationResult:
    """A price change within the same billing cycle (same interval), prorated by the second."""
    credit, remaining, period = _unused(old_price_cents, period_start, period_end, at)
    at = _whole_second(at)
    return ProrationResult(
        credit_cents=credit,
        charge_cents=prorated_cents(new_price_cents, remaining, period),
        at=at,
        period_start=max(at, _whole_second(period_start)),
        period_end=_whole_second(period_end),
        remaining_seconds=remaining,
        period_seconds=period,
    )


def prorate_cycle_reset(
    old_price_cents: int,
    new_price_cents: int,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
    new_interval: BillingInterval,
) -> ProrationResult:
    """An interval change: credit the unused old time, charge a full new period from ``at``."""
    credit, remaining, period = _unused(old_price_cents, period_start, period_end, at)
    at = _whole_second(at)
    return ProrationResult(
        credit_cents=credit,
        charge_cents=new_price_cents,
        at=at,
        period_start=at,
        period_end=add_interval(at, new_interval),
        resets_cycle=True,
        remaining_seconds=remaining,
        period_seconds=period,
    )


def prorate(
    old_price_cents: int,
    old_interval: BillingInterval,
    new_price_cents: int,
    new_interval: BillingInterval,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
) -> ProrationResult:
    """``prorate_change`` for the same interval, ``prorate_cycle_reset`` across intervals."""
    if old_interval is new_interval:
        return prorate_change(old_price_cents, new_price_cents, period_start, period_end, at)
    return prorate_cycle_reset(
        old_price_cents, new_price_cents, period_start, period_end, at, new_interval
    )


# -- invoice line wording (Stripe's) ------------------------------------------------------


_MONTH_ABBREVIATIONS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip


def format_date(moment: datetime) -> str:
    """Stripe's invoice date style, independent of the locale: ``15 Jan 2026``."""
    return f"{moment.day} {_MONTH_ABBREVIATIONS[moment.month - 1]} {moment.year}"


def unused_time_description(name: str, at: datetime) -> str:
    return f"Unused time on {name} after {format_date(at)}"


def remaining_time_description(name: str, at: datetime) -> str:
    return f"Remaining time on {name} after {format_date(at)}"
