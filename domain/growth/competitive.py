"""Competitive pricing: our plans beside competitors' plans (entered in the config), as a
price per unit of each metric and as what a usage profile costs per month on each side.

Pure: no I/O, no clock. Money is integer cents rounded half up (``domain.money``) once per
line of a bill; exact fractions in between.

Definitions:

- **Like for like.** A report is for one billing interval: our plans are priced on it
  (yearly: 12 x monthly less the annual discount) and only the competitors' plans billed
  on it are compared. **Monthly price** = a monthly plan's price, or a yearly one's / 12.
- **Limits** are per month on both sides, whatever the interval. A competitor's metric is
  limited (an integer), unlimited, or unknown (left out of its config: not offered or not
  published, so never assumed). Our plans' missing limits are unlimited, as the engine
  enforces them.
- **Price per unit** of a metric = monthly price / limit x the metric's unit
  (:data:`METRIC_UNITS`): the whole bundle set against one metric at a time. None when
  the metric is unlimited, unknown or not included (a limit of 0).
- **Cost at a usage profile** (quantities per month). Our self-serve plan: its monthly price
  plus, for each metric the plan falls short on, the cheapest add-on that lifts it to the
  usage, in whole units (a feature add-on comes once) and at the engine's add-on prices;
  the limits are the engine's effective limits (``domain.limits``), so yearly scaling and
  one-off packs count as they do for a customer. A metric no add-on lifts leaves the plan
  *not covering* the profile. A competitor's plan: its monthly price plus its overage rate
  on what exceeds the included amount (a metric left out of its limits but given a rate is
  pay-as-you-go from the first unit); a metric over its limit with no rate, or used but
  unknown, and the plan does not cover the profile. Usage must fit within the limits: a
  customer sizing a plan does not plan to live in the grace band.
- **Cheapest** = the covering plan with the lowest monthly cost (ties: config order).
- **Difference** = our cost - the competitor's cheapest covering plan's; its rate = the
  difference / theirs, rounded half up to 4 places (None when theirs is free).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import TypeVar

from domain.catalog import METRICS, Addon, Catalog, Plan
from domain.lifecycle import BillingInterval, Status
from domain.limits import (
    GAUGES,
    HeldAddon,
    Period,
    Subscriber,
    addon_monthly_cents,
    effective_limits,
    plan_monthly_cents,
)
from domain.money import round_fraction_half_up, round_half_up

# The block a metric's price is quoted per: (units, label).
METRIC_UNITS: dict[str, tuple[int, str]] = {
    "chatbots": (1, "chatbot"),
    "messages": (1_000, "1,000 messages"),
    "tokens": (1_000_000, "1M tokens"),
    "api_calls": (1_000, "1,000 API calls"),
}
# The largest monthly quantity of a metric a profile may ask about: far beyond any customer,
# small enough that every figure stays a readable number.
MAX_USAGE = 10**12
# Effective limits depend on the period only through one-off packs, which count in the
# period they were bought for: the one packs are bought for here.
_PERIOD = Period(datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 2, 1, tzinfo=UTC))


def metric_unit(metric: str) -> tuple[int, str]:
    return METRIC_UNITS.get(metric, (1, metric))


class LimitKind(StrEnum):
    LIMITED = "limited"
    UNLIMITED = "unlimited"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CompetitorPlan:
    id: str
    name: str
    # As billed: per month or per year.
    price_cents: int
    interval: BillingInterval
    # Included per month; None: unlimited. A metric left out is unknown.
    limits: Mapping[str, int | None] = field(default_factory=dict)
    # Per unit beyond the included amount; fractions of a cent allowed.
    overage_cents: Mapping[str, Decimal] = field(default_factory=dict)

    def limit_kind(self, metric: str) -> LimitKind:
        if metric not in self.limits:
            return LimitKind.UNKNOWN
        return LimitKind.UNLIMITED if self.limits[metric] is None else LimitKind.LIMITED


@dataclass(frozen=True)
class Competitor:
    id: str
    name: str
    currency: str
    plans: tuple[CompetitorPlan, ...]


def _monthly(price_cents: int, interval: BillingInterval) -> Fraction:
    return Fraction(price_cents, 12 if interval is BillingInterval.YEAR else 1)


def _priced_plans(catalog: Catalog) -> list[Plan]:
    return [p for p in catalog.plans.values() if p.self_serve and p.monthly_price_cents is not None]


# -- price per unit ---------------------------------------------------------------------


@dataclass(frozen=True)
class UnitPrice:
    metric: str
    limit_kind: LimitKind
    limit: int | None
    # Monthly price / limit x the metric's unit; None: unlimited, unknown or not included.
    cents_per_unit: int | None
    # A competitor's overage rate for the metric's unit.
    overage_cents_per_unit: int | None = None


@dataclass(frozen=True)
class PlanUnitPrices:
    # None for our own plans.
    competitor_id: str | None
    vendor: str
    plan_id: str
    plan_name: str
    interval: BillingInterval
    price_cents: int
    monthly_cents: int
    units: tuple[UnitPrice, ...]


def _unit_price(
    metric: str, kind: LimitKind, limit: int | None, monthly: Fraction, overage: Decimal | None
) -> UnitPrice:
    size, _ = metric_unit(metric)
    return UnitPrice(
        metric=metric,
        limit_kind=kind,
        limit=limit,
        cents_per_unit=round_fraction_half_up(monthly * size / limit) if limit else None,
        overage_cents_per_unit=(
            None if overage is None else round_fraction_half_up(Fraction(overage) * size)
        ),
    )


def our_unit_prices(
    catalog: Catalog, vendor: str, interval: BillingInterval
) -> list[PlanUnitPrices]:
    rows = []
    for plan in _priced_plans(catalog):
        price = catalog.price_cents(plan, interval)
        assert price is not None  # a plan with a monthly price has one on every interval
        # Listed like a competitor's plan stating every metric (a missing limit: unlimited).
        as_listed = CompetitorPlan(
            plan.id, plan.name, price, interval, {m: plan.limits.get(m) for m in METRICS}
        )
        rows.append(_unit_prices(None, vendor, as_listed))
    return rows


def competitor_unit_prices(
    competitor: Competitor, interval: BillingInterval
) -> list[PlanUnitPrices]:
    return [
        _unit_prices(competitor.id, competitor.name, plan)
        for plan in competitor.plans
        if plan.interval is interval
    ]


def _unit_prices(competitor_id: str | None, vendor: str, plan: CompetitorPlan) -> PlanUnitPrices:
    monthly = _monthly(plan.price_cents, plan.interval)
    return PlanUnitPrices(
        competitor_id=competitor_id,
        vendor=vendor,
        plan_id=plan.id,
        plan_name=plan.name,
        interval=plan.interval,
        price_cents=plan.price_cents,
        monthly_cents=round_fraction_half_up(monthly),
        units=tuple(
            _unit_price(
                metric,
                plan.limit_kind(metric),
                plan.limits.get(metric),
                monthly,
                plan.overage_cents.get(metric),
            )
            for metric in METRICS
        ),
    )


# -- cost at a usage profile ------------------------------------------------------------


@dataclass(frozen=True)
class UsageProfile:
    label: str
    # Quantity per month of every metric.
    usage: Mapping[str, int]


def profile(label: str, usage: Mapping[str, int]) -> UsageProfile:
    """A profile with every metric (missing ones 0), refusing what no customer uses."""
    unknown = sorted(set(usage) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {list(METRICS)}")
    for metric, quantity in usage.items():
        if not 0 <= quantity <= MAX_USAGE:
            raise ValueError(f"{metric}: must be between 0 and {MAX_USAGE}")
    return UsageProfile(label, {m: usage.get(m, 0) for m in METRICS})


@dataclass(frozen=True)
class AddonLine:
    addon_id: str
    name: str
    quantity: int
    # All units, per month.
    monthly_cents: int


@dataclass(frozen=True)
class OurPlanCost:
    plan_id: str
    plan_name: str
    # Per month; None for a sales-led plan (priced per contract).
    plan_cents: int | None
    addons: tuple[AddonLine, ...] = ()
    # Metrics neither the plan nor an add-on lifts to the usage.
    uncovered: tuple[str, ...] = ()

    @property
    def per_contract(self) -> bool:
        return self.plan_cents is None

    @property
    def monthly_cents(self) -> int | None:
        """What the profile costs on this plan per month; None when it cannot cover it."""
        if self.plan_cents is None or self.uncovered:
            return None
        return self.plan_cents + sum(line.monthly_cents for line in self.addons)


@dataclass(frozen=True)
class CompetitorPlanCost:
    plan_id: str
    plan_name: str
    interval: BillingInterval
    plan_cents: int
    overage_cents: int
    # Used beyond the limit with no overage rate.
    over_limit: tuple[str, ...] = ()
    # Used, but the plan's limit is not known.
    unknown: tuple[str, ...] = ()

    @property
    def monthly_cents(self) -> int | None:
        if self.over_limit or self.unknown:
            return None
        return self.plan_cents + self.overage_cents


@dataclass(frozen=True)
class CompetitorCost:
    competitor_id: str
    name: str
    # Its plans on the report's interval.
    plans: tuple[CompetitorPlanCost, ...]

    @property
    def cheapest(self) -> CompetitorPlanCost | None:
        return _cheapest(self.plans)


_Cost = TypeVar("_Cost", OurPlanCost, CompetitorPlanCost)


@dataclass(frozen=True)
class Difference:
    competitor_id: str
    # The competitor's cheapest covering plan.
    competitor_plan_id: str
    # Ours - theirs: positive when we cost more.
    cents: int
    # cents / theirs, 4 places; None when theirs is free.
    rate: Decimal | None


@dataclass(frozen=True)
class UsageComparison:
    profile: UsageProfile
    ours: tuple[OurPlanCost, ...]
    competitors: tuple[CompetitorCost, ...]

    @property
    def cheapest_ours(self) -> OurPlanCost | None:
        return _cheapest(self.ours)

    def versus(self, ours: OurPlanCost, competitor: CompetitorCost) -> Difference | None:
        """Our plan against the competitor's cheapest covering plan (None: either side
        cannot cover the profile)."""
        theirs = competitor.cheapest
        if theirs is None:
            return None
        return difference(competitor.competitor_id, theirs, ours.monthly_cents)


def _cheapest(costs: Sequence[_Cost]) -> _Cost | None:
    covering = [(c.monthly_cents, i, c) for i, c in enumerate(costs) if c.monthly_cents is not None]
    return min(covering, key=lambda entry: entry[:2])[2] if covering else None


def difference(
    competitor_id: str, theirs: CompetitorPlanCost, ours: int | None
) -> Difference | None:
    """Our monthly cost ``ours`` against their plan's (None: either side does not cover)."""
    their_cents = theirs.monthly_cents
    if ours is None or their_cents is None:
        return None
    cents = ours - their_cents
    rate = (
        None if their_cents == 0 else Decimal(round_half_up(cents * 10_000, their_cents)).scaleb(-4)
    )
    return Difference(competitor_id, theirs.plan_id, cents, rate)


def our_plan_cost(
    catalog: Catalog, plan: Plan, usage: Mapping[str, int], interval: BillingInterval
) -> OurPlanCost:
    price = plan_monthly_cents(catalog, plan, interval) if plan.self_serve else None
    if price is None:
        return OurPlanCost(plan_id=plan.id, plan_name=plan.name, plan_cents=None)
    subscriber = Subscriber(status=Status.ACTIVE, plan=plan.id, interval=interval.value)
    # Counters count per billing period: a yearly one holds twelve months of usage.
    needed = {
        m: usage.get(m, 0) * (1 if m in GAUGES else subscriber.months_per_period) for m in METRICS
    }
    base = effective_limits(catalog, subscriber, (), {}, _PERIOD)
    held: list[HeldAddon] = []
    lines: list[AddonLine] = []
    for metric in METRICS:
        limit = base[metric]
        if limit is None or needed[metric] <= limit:
            continue
        choice = _cheapest_addon(catalog, subscriber, metric, limit, needed[metric] - limit)
        if choice is None:
            continue
        spec, quantity, cents = choice
        held.append(
            HeldAddon(addon=spec.id, kind=spec.kind, quantity=quantity, period_start=_PERIOD.start)
        )
        lines.append(AddonLine(spec.id, spec.name, quantity, cents))
    # The engine's own limits decide whether the add-ons chosen are enough.
    final = effective_limits(catalog, subscriber, held, {}, _PERIOD)
    uncovered = tuple(m for m in METRICS if (limit := final[m]) is not None and needed[m] > limit)
    return OurPlanCost(plan.id, plan.name, price, tuple(lines), uncovered)


def _cheapest_addon(
    catalog: Catalog, subscriber: Subscriber, metric: str, limit: int, shortfall: int
) -> tuple[Addon, int, int] | None:
    """The add-on (with its quantity and monthly cost) that lifts ``metric`` by
    ``shortfall`` for the least money (ties: the smaller add-on id)."""
    best: tuple[int, str, Addon, int] | None = None
    for spec in catalog.addons.values():
        if spec.metric != metric or spec.amount <= 0:
            continue
        # What one unit adds in the subscriber's period, by the engine's own rule.
        one = HeldAddon(addon=spec.id, kind=spec.kind, quantity=1, period_start=_PERIOD.start)
        lifted = effective_limits(catalog, subscriber, (one,), {}, _PERIOD)[metric]
        if lifted is None or lifted <= limit:
            continue
        quantity = -(-shortfall // (lifted - limit))
        if spec.kind == "feature" and quantity > 1:
            continue  # an on/off feature comes once
        cents = quantity * addon_monthly_cents(catalog, spec, subscriber.billing_interval)
        if best is None or (cents, spec.id) < best[:2]:
            best = (cents, spec.id, spec, quantity)
    return None if best is None else (best[2], best[3], best[0])


def competitor_plan_cost(plan: CompetitorPlan, usage: Mapping[str, int]) -> CompetitorPlanCost:
    overage = Fraction(0)
    over_limit: list[str] = []
    unknown: list[str] = []
    for metric in METRICS:
        used = usage.get(metric, 0)
        rate = plan.overage_cents.get(metric)
        kind = plan.limit_kind(metric)
        if used <= 0 or kind is LimitKind.UNLIMITED:
            continue
        if kind is LimitKind.UNKNOWN and rate is None:
            unknown.append(metric)
            continue
        excess = used - (plan.limits.get(metric) or 0)
        if excess <= 0:
            continue
        if rate is None:
            over_limit.append(metric)
        else:
            overage += Fraction(rate) * excess
    return CompetitorPlanCost(
        plan_id=plan.id,
        plan_name=plan.name,
        interval=plan.interval,
        plan_cents=round_fraction_half_up(_monthly(plan.price_cents, plan.interval)),
        overage_cents=round_fraction_half_up(overage),
        over_limit=tuple(over_limit),
        unknown=tuple(unknown),
    )


def compare_usage(
    catalog: Catalog,
    competitors: Sequence[Competitor],
    usage_profile: UsageProfile,
    interval: BillingInterval,
) -> UsageComparison:
    usage = usage_profile.usage
    return UsageComparison(
        profile=usage_profile,
        ours=tuple(our_plan_cost(catalog, p, usage, interval) for p in catalog.plans.values()),
        competitors=tuple(
            CompetitorCost(
                competitor_id=c.id,
                name=c.name,
                plans=tuple(
                    competitor_plan_cost(p, usage) for p in c.plans if p.interval is interval
                ),
            )
            for c in competitors
        ),
    )


def default_profiles(catalog: Catalog) -> tuple[UsageProfile, ...]:
    """Small, medium and large: per metric the lowest, the midpoint and the highest limit
    among our self-serve plans (0 where none is limited); repeats are left out."""
    plans = _priced_plans(catalog)
    low: dict[str, int] = {}
    high: dict[str, int] = {}
    for metric in METRICS:
        limits = [v for p in plans if (v := p.limits.get(metric)) is not None]
        low[metric], high[metric] = (min(limits), max(limits)) if limits else (0, 0)
    middle = {m: (low[m] + high[m]) // 2 for m in METRICS}
    profiles: list[UsageProfile] = []
    for label, usage in (("small", low), ("medium", middle), ("large", high)):
        if all(usage != p.usage for p in profiles):
            profiles.append(profile(label, usage))
    return tuple(profiles)


# -- the report -------------------------------------------------------------------------


@dataclass(frozen=True)
class CompetitiveReport:
    interval: BillingInterval
    currency: str
    unit_prices: tuple[PlanUnitPrices, ...]
    comparisons: tuple[UsageComparison, ...]


def competitive_report(
    catalog: Catalog,
    competitors: Sequence[Competitor],
    *,
    vendor: str,
    interval: BillingInterval,
    profiles: Sequence[UsageProfile],
) -> CompetitiveReport:
    """Price per unit of every plan on ``interval`` (ours first, then each competitor's in
    config order), and every profile's cost on each side."""
    unit_prices = our_unit_prices(catalog, vendor, interval)
    for competitor in competitors:
        unit_prices.extend(competitor_unit_prices(competitor, interval))
    return CompetitiveReport(
        interval=interval,
        currency=catalog.currency,
        unit_prices=tuple(unit_prices),
        comparisons=tuple(compare_usage(catalog, competitors, p, interval) for p in profiles),
    )
