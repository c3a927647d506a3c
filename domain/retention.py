"""Churn prevention: the offers a customer who asks to cancel is shown, and the rules every
offer obeys. Pure: the API picks the offers from today's config, the workflow checks and
carries them out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.catalog import Catalog
from domain.lifecycle import BillingInterval, Status


class ExitReason(StrEnum):
    TOO_EXPENSIVE = "too_expensive"
    NOT_USING = "not_using"
    MISSING_FEATURES = "missing_features"
    SWITCHING = "switching_to_competitor"
    TECHNICAL_ISSUES = "technical_issues"
    TEMPORARY = "temporary_pause"
    OTHER = "other"


class OfferKind(StrEnum):
    PAUSE = "pause"
    DOWNGRADE = "downgrade"
    COUPON = "coupon"
    EXTEND_TRIAL = "extend_trial"


class OfferSource(StrEnum):
    SAVE_FLOW = "save_flow"
    CAMPAIGN = "campaign"
    CHURN_PREVENTION = "churn_prevention"


# A save-flow offer of one kind is taken at most once in this long: a customer cannot
# live on "30 % off to stay" by asking to cancel every month.
SAVE_OFFER_EVERY = timedelta(days=180)
MAX_PAUSE_DAYS = 90
MAX_TRIAL_DAYS = 30

# What to show first for each reason; kinds that do not fit are left out.
_PREFERENCE: dict[ExitReason, tuple[OfferKind, ...]] = {
    ExitReason.TOO_EXPENSIVE: (OfferKind.DOWNGRADE, OfferKind.COUPON, OfferKind.PAUSE),
    ExitReason.NOT_USING: (OfferKind.PAUSE, OfferKind.DOWNGRADE, OfferKind.COUPON),
    ExitReason.TEMPORARY: (OfferKind.PAUSE, OfferKind.COUPON, OfferKind.DOWNGRADE),
}
_DEFAULT_PREFERENCE = (OfferKind.COUPON, OfferKind.PAUSE, OfferKind.DOWNGRADE)


@dataclass(frozen=True)
class SaveFlow:
    """``[save_flow]`` of the config: which offers exist. Today's config decides what is
    shown; a customer's terms are not involved (an offer is not a price)."""

    pause_days: int | None = None
    coupon: str | None = None
    coupon_offer: str | None = None
    extend_trial_days: int | None = None
    downgrade: bool = False
    # Sent through the workflow by the daily churn run to customers turning high-risk.
    proactive_coupon: str | None = None
    proactive_offer: str | None = None
    proactive_every: timedelta = timedelta(days=90)


@dataclass(frozen=True)
class RetentionOffer:
    kind: OfferKind
    headline: str
    days: int | None = None
    coupon: str | None = None
    plan: str | None = None
    interval: BillingInterval | None = None
    # What the customer pays less per month with it (a downgrade), when known.
    monthly_saving_cents: int | None = None


@dataclass(frozen=True)
class CustomerPosition:
    """What the offers depend on, as the read model has it."""

    status: Status
    plan: str
    interval: BillingInterval | None
    # Save-flow offer kinds taken within ``SAVE_OFFER_EVERY``.
    recently_taken: frozenset[OfferKind] = frozenset()


def offers_for(
    position: CustomerPosition, reason: ExitReason, catalog: Catalog, flow: SaveFlow
) -> list[RetentionOffer]:
    """The offers that fit, best first for the reason given."""
    if position.status is Status.TRIAL_EXPIRED:
        days = flow.extend_trial_days
        if days and OfferKind.EXTEND_TRIAL not in position.recently_taken:
            return [
                RetentionOffer(
                    OfferKind.EXTEND_TRIAL, f"{days} more days to try it, free", days=days
                )
            ]
        return []
    if position.status is not Status.ACTIVE or position.interval is None:
        return []
    fitting: dict[OfferKind, RetentionOffer] = {}
    if flow.pause_days:
        fitting[OfferKind.PAUSE] = RetentionOffer(
            OfferKind.PAUSE,
            f"Pause for {flow.pause_days} days instead: nothing is charged meanwhile",
            days=flow.pause_days,
        )
    if flow.coupon and flow.coupon in catalog.coupons:
        percent = catalog.coupons[flow.coupon].percent_off
        fitting[OfferKind.COUPON] = RetentionOffer(
            OfferKind.COUPON,
            flow.coupon_offer or f"{percent}% off your next invoice",
            coupon=flow.coupon,
        )
    if flow.downgrade:
        cheaper = cheaper_plan(catalog, position.plan, position.interval)
        if cheaper is not None:
            plan, saving = cheaper
            fitting[OfferKind.DOWNGRADE] = RetentionOffer(
                OfferKind.DOWNGRADE,
                f"Move to {catalog.plan(plan).name} at the end of the period",
                plan=plan,
                interval=position.interval,
                monthly_saving_cents=saving,
            )
    order = _PREFERENCE.get(reason, _DEFAULT_PREFERENCE)
    return [
        fitting[kind] for kind in order if kind in fitting and kind not in position.recently_taken
    ]


def cheaper_plan(catalog: Catalog, plan: str, interval: BillingInterval) -> tuple[str, int] | None:
    """The dearest self-serve plan cheaper than ``plan`` (the smallest step down), with what
    it saves per month."""
    current = catalog.plans.get(plan)
    if current is None or current.monthly_price_cents is None:
        return None
    now = catalog.monthly_recurring_cents(current, interval)
    best: tuple[str, int] | None = None
    for other in catalog.plans.values():
        if other.id == plan or not other.self_serve or other.monthly_price_cents is None:
            continue
        monthly = catalog.monthly_recurring_cents(other, interval)
        if monthly < now and (best is None or now - monthly < best[1]):
            best = (other.id, now - monthly)
    return best


def taken_recently(taken_at: datetime | None, now: datetime) -> bool:
    return taken_at is not None and now - taken_at < SAVE_OFFER_EVERY
