"""Usage limits: effective limits, degradation states, forecasts and upgrade suggestions.

Pure: no I/O, integer arithmetic only, safe to import from workflows and the API.

Rules (SPEC section 4):

- Effective limit of a metric = the plan's limit + add-ons the customer holds (recurring
  and feature add-ons while active, ``amount x quantity``; one-off packs bought for the
  current period), unless an admin override replaces it. ``None`` means unlimited.
- Plan limits are per month. Counters count per billing period, so an annual period gets
  12 x the monthly plan limit and 12 x a recurring add-on's amount (annual add-ons are
  billed 12 x too); a one-off pack adds its amount to the period it was bought for; an
  override is the period's value exactly as the admin wrote it. The ``chatbots`` gauge is
  never scaled.
- Degradation per metric: ``ok`` below 80 %, ``warning`` from 80 %, ``grace`` from 100 %,
  ``blocked`` from 110 % (for the gauge: any excess). Every metric is blocked while the
  customer is ``trial_expired``, ``paused`` or ``canceled``, or ``past_due`` under a
  read-only dunning policy.
- Consuming ``q`` is allowed when the resulting usage is not blocked: the largest allowed
  total is :func:`ceiling` (``u * 10 < limit * 11`` for counters, ``u <= limit`` for the
  gauge).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from domain.catalog import METRICS, Addon, Catalog, Plan
from domain.lifecycle import BLOCKING_STATUSES, BillingInterval, Status
from domain.money import round_half_up
from domain.policy import DunningAccess

# Gauges hold a level (+1 / -1 events) that never resets; the rest count per period.
GAUGES: frozenset[str] = frozenset({"chatbots"})
COUNTERS: tuple[str, ...] = tuple(m for m in METRICS if m not in GAUGES)
# The fixed period a gauge's counter row lives in.
GAUGE_PERIOD_START = datetime(1970, 1, 1, tzinfo=UTC)
# Percent of the limit at which the customer is notified (once per metric and period).
THRESHOLDS: tuple[int, ...] = (80, 100)
# Forecasts extrapolate from at least this much of the period, so the first minutes of a
# period do not project absurd totals.
MIN_FORECAST_WINDOW = timedelta(days=1)
TRIAL_STATUSES = frozenset({Status.TRIALING, Status.TRIAL_EXPIRED})
# How many recent periods the grace history looks at, and how many of them in grace
# trigger an upgrade suggestion.
GRACE_HISTORY_PERIODS = 3
GRACE_HISTORY_TRIGGER = 2


class UsageState(StrEnum):
    OK = "ok"
    WARNING = "warning"
    GRACE = "grace"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return max(int((self.end - self.start).total_seconds()), 1)


@dataclass(frozen=True)
class Subscriber:
    """The read-model facts a customer's limits depend on."""

    status: str
    plan: str
    interval: str | None = None
    trial_started_at: datetime | None = None
    trial_ends_at: datetime | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None

    @property
    def in_trial(self) -> bool:
        return self.status in TRIAL_STATUSES

    @property
    def billing_interval(self) -> BillingInterval:
        """The interval prices compare in: trial customers compare monthly."""
        if self.in_trial or self.interval != BillingInterval.YEAR.value:
            return BillingInterval.MONTH
        return BillingInterval.YEAR

    @property
    def months_per_period(self) -> int:
        return 12 if self.billing_interval is BillingInterval.YEAR else 1


@dataclass(frozen=True)
class HeldAddon:
    """One add-on row a customer holds (``customer_addons``)."""

    addon: str
    kind: str
    quantity: int
    active: bool = True
    # One-off packs: the start of the billing period the pack was bought for.
    period_start: datetime | None = None


# -- periods ----------------------------------------------------------------------------


def _calendar_month(now: datetime) -> Period:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(start.year, start.month)[1]
    return Period(start, start + timedelta(days=days))


def usage_period(subscriber: Subscriber, now: datetime) -> Period:
    """The window counters count in: the trial window while trialing (or expired), the
    current billing period otherwise."""
    trial = (
        Period(subscriber.trial_started_at, subscriber.trial_ends_at)
        if subscriber.trial_started_at is not None and subscriber.trial_ends_at is not None
        else None
    )
    paid = (
        Period(subscriber.current_period_start, subscriber.current_period_end)
        if subscriber.current_period_start is not None and subscriber.current_period_end is not None
        else None
    )
    if subscriber.in_trial or paid is None:
        return trial or paid or _calendar_month(now)
    return paid


def counter_period_start(metric: str, period: Period) -> datetime:
    """Where a metric's counter row lives: the period start, or the gauge's fixed start."""
    return GAUGE_PERIOD_START if metric in GAUGES else period.start


# -- limits and features ----------------------------------------------------------------


def _pack_applies(addon: HeldAddon, period: Period) -> bool:
    return addon.period_start is not None and period.start <= addon.period_start < period.end


def effective_limits(
    catalog: Catalog,
    subscriber: Subscriber,
    addons: Iterable[HeldAddon],
    overrides: Mapping[str, int | None],
    period: Period,
    *,
    plan_id: str | None = None,
) -> dict[str, int | None]:
    """Limit per metric for ``period`` (``None``: unlimited). ``plan_id`` evaluates another
    plan with the same add-ons and overrides (for upgrade suggestions)."""
    plan = catalog.plans.get(plan_id or subscriber.plan)
    scale = subscriber.months_per_period
    limits: dict[str, int | None] = {}
    for metric in METRICS:
        base = plan.limits.get(metric) if plan is not None else None
        limits[metric] = None if base is None else base * (1 if metric in GAUGES else scale)
    for held in addons:
        spec = catalog.addons.get(held.addon)
        if spec is None or spec.metric not in limits or spec.amount <= 0 or held.quantity <= 0:
            continue
        if spec.kind == "one_off":
            if not _pack_applies(held, period):
                continue
            amount = spec.amount * held.quantity
        else:
            if not held.active:
                continue
            amount = spec.amount * held.quantity * (1 if spec.metric in GAUGES else scale)
        current = limits[spec.metric]
        if current is not None:
            limits[spec.metric] = current + amount
    for metric, value in overrides.items():
        if metric in limits:
            limits[metric] = value
    return limits


def known_features(catalog: Catalog) -> frozenset[str]:
    names = {a.id for a in catalog.addons.values() if a.kind == "feature"}
    for plan in catalog.plans.values():
        names.update(plan.features)
    return frozenset(names)


def features(
    catalog: Catalog, subscriber: Subscriber, addons: Iterable[HeldAddon]
) -> frozenset[str]:
    """Features the customer has: the plan's plus active feature add-ons. None while the
    customer has no service (expired trial, paused, canceled)."""
    if subscriber.status in BLOCKING_STATUSES:
        return frozenset()
    plan = catalog.plans.get(subscriber.plan)
    names = set(plan.features if plan is not None else ())
    for held in addons:
        spec = catalog.addons.get(held.addon)
        if spec is not None and spec.kind == "feature" and held.active and held.quantity > 0:
            names.add(spec.id)
    return frozenset(names)


# -- states -----------------------------------------------------------------------------


def consumption_blocked(status: str, access: DunningAccess) -> bool:
    """Whether the customer's status blocks every metric."""
    if status in BLOCKING_STATUSES:
        return True
    return status == Status.PAST_DUE and access is DunningAccess.READ_ONLY


def ceiling(metric: str, limit: int) -> int:
    """The largest total usage that is not blocked."""
    if metric in GAUGES:
        return limit
    # u * 10 < limit * 11  <=>  u <= (limit * 11 - 1) // 10
    return (limit * 11 - 1) // 10


def degradation_state(metric: str, used: int, limit: int | None) -> UsageState:
    if limit is None:
        return UsageState.OK
    if used > ceiling(metric, limit):
        return UsageState.BLOCKED
    if used >= limit:
        return UsageState.GRACE
    if used * 5 >= limit * 4:
        return UsageState.WARNING
    return UsageState.OK


def allows(metric: str, used: int, quantity: int, limit: int | None) -> bool:
    """Whether consuming ``quantity`` more keeps the usage out of ``blocked`` (a decrement
    of the gauge is always allowed)."""
    if limit is None or quantity <= 0:
        return True
    return used + quantity <= ceiling(metric, limit)


def grace_starts_at(metric: str, limit: int | None) -> int | None:
    """The total at which a counter enters the grace band (None: never; gauges have no
    grace history)."""
    return None if metric in GAUGES else limit


def enters_grace(metric: str, used: int, limit: int | None) -> bool:
    """Whether a counter is in (or past) the grace band: recorded once per period for the
    grace history."""
    start = grace_starts_at(metric, limit)
    return start is not None and used >= start


def remaining(used: int, limit: int | None) -> int | None:
    return None if limit is None else max(limit - used, 0)


def percent_used(used: int, limit: int | None) -> int | None:
    if limit is None:
        return None
    if limit <= 0:
        return 100
    return used * 100 // limit


def crossed_thresholds(before: int, after: int, limit: int | None) -> list[int]:
    """Thresholds (percent) crossed going from ``before`` to ``after``."""
    if limit is None or after <= before:
        return []
    return [t for t in THRESHOLDS if before * 100 < limit * t <= after * 100]


# -- forecast ---------------------------------------------------------------------------


def forecast(metric: str, used: int, period: Period, now: datetime) -> int:
    """Usage at the period end if the current rate holds: ``used / elapsed x length``.

    A gauge holds its level. The elapsed time counts at least :data:`MIN_FORECAST_WINDOW`
    (or the whole period when shorter) and at most the period."""
    if metric in GAUGES or used <= 0:
        return used
    total = period.seconds
    elapsed = int((now - period.start).total_seconds())
    elapsed = min(max(elapsed, min(int(MIN_FORECAST_WINDOW.total_seconds()), total)), total)
    return used * total // elapsed


# -- upgrade suggestions ----------------------------------------------------------------


@dataclass(frozen=True)
class CounterRecord:
    """A customer's counter in some period (history for the grace rule)."""

    metric: str
    period_start: datetime
    used: int
    grace_reached: bool


@dataclass(frozen=True)
class UpgradeSuggestion:
    # "forecast": a limit will be exceeded before the period ends;
    # "grace_history": the customer reached grace in 2 of the last 3 periods.
    reason: str
    # Metrics whose projected usage exceeds the current limit.
    metrics: tuple[str, ...]
    projected: dict[str, int]
    plan: str | None = None
    addon: str | None = None
    addon_quantity: int = 0
    # Added cost per month (a sales-led plan: None, priced per contract).
    price_difference_cents: int | None = None


def plan_monthly_cents(catalog: Catalog, plan: Plan, interval: BillingInterval) -> int | None:
    """What the plan costs per month on ``interval`` (annual: a twelfth, rounded)."""
    price = catalog.price_cents(plan, interval)
    if price is None:
        return None
    return round_half_up(price, 12) if interval is BillingInterval.YEAR else price


def addon_monthly_cents(catalog: Catalog, addon: Addon, interval: BillingInterval) -> int:
    """What one unit of an add-on costs per month: recurring ones follow the plan's
    interval (annual: 12 x monthly less the discount, a twelfth per month); a one-off
    pack counts its price once for the period (a twelfth per month on annual periods)."""
    if interval is not BillingInterval.YEAR:
        return addon.price_cents
    if addon.kind == "one_off":
        return round_half_up(addon.price_cents, 12)
    discount = catalog.annual_discount_percent
    annual = round_half_up(12 * addon.price_cents * (100 - discount), 100)
    return round_half_up(annual, 12)


@dataclass
class _Option:
    cost: int
    plan: str | None = None
    addon: str | None = None
    quantity: int = 0
    sort_key: tuple[int, str] = field(default=(0, ""))


def _exceeds(amount: int, limit: int | None) -> bool:
    return limit is not None and amount > limit


def _recent_period_starts(history: Iterable[CounterRecord], current: datetime) -> list[datetime]:
    starts = {r.period_start for r in history if r.metric not in GAUGES}
    starts = {s for s in starts if s <= current}
    starts.add(current)
    return sorted(starts, reverse=True)[:GRACE_HISTORY_PERIODS]


def suggest_upgrade(
    catalog: Catalog,
    subscriber: Subscriber,
    addons: Sequence[HeldAddon],
    overrides: Mapping[str, int | None],
    period: Period,
    used: Mapping[str, int],
    now: datetime,
    history: Sequence[CounterRecord] = (),
    forecasts: Mapping[str, int] | None = None,
) -> UpgradeSuggestion | None:
    """The cheapest plan (or add-on) that fits the projected usage, when the forecast
    exceeds a limit before the period ends or the customer was in grace in at least 2 of
    the last 3 periods (the current one included). ``None`` when neither holds.
    ``forecasts``: period-end usage from a better forecast than the straight line, where
    the caller has one (``domain.analytics.usage_forecast``)."""
    limits = effective_limits(catalog, subscriber, addons, overrides, period)
    projected = {m: forecast(m, used.get(m, 0), period, now) for m in METRICS}
    projected.update(forecasts or {})
    over = [m for m in METRICS if _exceeds(projected[m], limits[m])]
    reason = "forecast"
    if not over:
        recent = set(_recent_period_starts(history, period.start))
        for metric in COUNTERS:
            graced = [
                r
                for r in history
                if r.metric == metric and r.grace_reached and r.period_start in recent
            ]
            if len({r.period_start for r in graced}) >= GRACE_HISTORY_TRIGGER:
                projected[metric] = max(projected[metric], *(r.used for r in graced))
        over = [m for m in METRICS if _exceeds(projected[m], limits[m])]
        reason = "grace_history"
    if not over:
        return None

    interval = subscriber.billing_interval
    current_plan = catalog.plans.get(subscriber.plan)
    current_cents = (
        plan_monthly_cents(catalog, current_plan, interval) if current_plan is not None else None
    ) or 0
    options: list[_Option] = []
    for plan in catalog.plans.values():
        if not plan.self_serve or plan.id == subscriber.plan:
            continue
        cents = plan_monthly_cents(catalog, plan, interval)
        if cents is None:
            continue
        candidate = effective_limits(
            catalog, subscriber, addons, overrides, period, plan_id=plan.id
        )
        if not any(_exceeds(projected[m], candidate[m]) for m in METRICS):
            options.append(_Option(cost=cents - current_cents, plan=plan.id, sort_key=(0, plan.id)))
    if len(over) == 1 and over[0] not in overrides:
        # (An overridden limit is what the contract says: add-ons do not raise it.)
        options.extend(_addon_options(catalog, subscriber, addons, over[0], projected, limits))
    if options:
        best = min(options, key=lambda o: (o.cost, o.sort_key))
        return UpgradeSuggestion(
            reason=reason,
            metrics=tuple(over),
            projected=projected,
            plan=best.plan,
            addon=best.addon,
            addon_quantity=best.quantity,
            price_difference_cents=best.cost,
        )
    sales_led = sorted(p.id for p in catalog.plans.values() if not p.self_serve)
    if not sales_led:
        return None
    return UpgradeSuggestion(
        reason=reason, metrics=tuple(over), projected=projected, plan=sales_led[0]
    )


def _addon_options(
    catalog: Catalog,
    subscriber: Subscriber,
    addons: Sequence[HeldAddon],
    metric: str,
    projected: Mapping[str, int],
    limits: Mapping[str, int | None],
) -> list[_Option]:
    """Add-ons that lift ``metric``'s limit to the projection on the current plan."""
    limit = limits[metric]
    assert limit is not None
    shortfall = projected[metric] - limit
    held_features = {h.addon for h in addons if h.active and h.quantity > 0}
    interval = subscriber.billing_interval
    options = []
    for spec in catalog.addons.values():
        if spec.metric != metric or spec.amount <= 0:
            continue
        unit = spec.amount
        if spec.kind != "one_off" and metric not in GAUGES:
            unit *= subscriber.months_per_period
        quantity = -(-shortfall // unit)
        if spec.kind == "feature" and (quantity > 1 or spec.id in held_features):
            # An on/off feature comes once.
            continue
        cost = quantity * addon_monthly_cents(catalog, spec, interval)
        options.append(_Option(cost=cost, addon=spec.id, quantity=quantity, sort_key=(1, spec.id)))
    return options
