"""The plan catalog and its prices. Amounts are integer cents throughout."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.lifecycle import BillingInterval
from domain.money import round_half_up

METRICS: tuple[str, ...] = ("chatbots", "messages", "tokens", "api_calls")


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    # None for sales-led plans whose price is set per contract.
    monthly_price_cents: int | None
    self_serve: bool
    # None means "per contract": the limit comes from an admin override.
    limits: dict[str, int | None] = field(default_factory=dict)
    features: tuple[str, ...] = ()


@dataclass(frozen=True)
class Addon:
    id: str
    name: str
    # "recurring" is billed every period, "one_off" once for the current period,
    # "feature" is a recurring on/off entitlement.
    kind: str
    price_cents: int
    metric: str | None = None
    amount: int = 0


@dataclass(frozen=True)
class Coupon:
    """A discount on the first invoice of a subscription (a Stripe coupon, duration once)."""

    id: str
    percent_off: int


@dataclass(frozen=True)
class Catalog:
    plans: dict[str, Plan]
    addons: dict[str, Addon]
    annual_discount_percent: int
    currency: str = "usd"
    coupons: dict[str, Coupon] = field(default_factory=dict)

    def plan(self, plan_id: str) -> Plan:
        try:
            return self.plans[plan_id]
        except KeyError:
            raise KeyError(f"unknown plan {plan_id!r}") from None

    def annual_price_cents(self, plan: Plan) -> int | None:
        if plan.monthly_price_cents is None:
            return None
        return round_half_up(
            12 * plan.monthly_price_cents * (100 - self.annual_discount_percent), 100
        )

    def annual_saving_cents(self, plan: Plan) -> int | None:
        annual = self.annual_price_cents(plan)
        if annual is None or plan.monthly_price_cents is None:
            return None
        return 12 * plan.monthly_price_cents - annual

    def price_cents(self, plan: Plan, interval: BillingInterval) -> int | None:
        if interval is BillingInterval.YEAR:
            return self.annual_price_cents(plan)
        return plan.monthly_price_cents

    def addon_price_cents(self, addon: Addon, interval: BillingInterval | None) -> int:
        """Recurring add-ons follow the plan's interval (annual: 12 x monthly less the
        discount); one-off packs have one price."""
        if addon.kind == "one_off" or interval is not BillingInterval.YEAR:
            return addon.price_cents
        return round_half_up(12 * addon.price_cents * (100 - self.annual_discount_percent), 100)

    def addon_monthly_recurring_cents(self, addon: Addon, interval: BillingInterval) -> int:
        if addon.kind == "one_off":
            return 0
        price = self.addon_price_cents(addon, interval)
        return round_half_up(price, 12) if interval is BillingInterval.YEAR else price

    def monthly_recurring_cents(self, plan: Plan, interval: BillingInterval) -> int:
        """MRR contribution: annual plans count one twelfth per month."""
        price = self.price_cents(plan, interval)
        if price is None:
            return 0
        if interval is BillingInterval.YEAR:
            return round_half_up(price, 12)
        return price
