"""The TOML configuration file: catalog and lifecycle policy, validated with clear errors."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.config_approvals import ApprovalsSection
from core.config_experiments import ExperimentSection, with_experiments
from core.config_regions import (
    LocalPrices,
    RegionsSection,
    all_prices,
    catalog_currencies,
    check_local_prices,
    check_regions,
    regions_from,
)
from core.config_save_flow import SaveFlowSection
from core.config_segments import SegmentsSection, segments_from
from core.config_tax import TaxSection
from domain.approvals import Approvals
from domain.catalog import METRICS, Addon, Catalog, Coupon, Plan
from domain.durations import parse_duration
from domain.experiments.model import Experiment
from domain.growth.competitive import Competitor, CompetitorPlan
from domain.growth.segments import Segment
from domain.lifecycle import BillingInterval
from domain.money import currency_code
from domain.policy import (
    MIN_SECURITY_EVENTS_RETENTION,
    DunningAccess,
    DunningPolicy,
    FinalAction,
    Policy,
    RetentionPolicy,
    TrialPolicy,
)
from domain.regions import Region, with_regions
from domain.retention import SaveFlow
from domain.tax.settings import TaxSettings


class ConfigError(Exception):
    """The configuration file is missing or invalid; the message names the offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Product(_Strict):
    name: str = "ChatbotCloud"
    app_url: str = "https://app.example.com"


class _Billing(_Strict):
    currency: str = "usd"
    annual_discount_percent: int = Field(default=15, ge=0, le=100)
    # The other currencies every price is sold in (Stripe currency_options).
    currencies: list[str] = []
    # What reports convert every currency into (dated exchange rates); default: currency.
    reporting_currency: str | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return currency_code(value)

    @field_validator("reporting_currency")
    @classmethod
    def _reporting_currency(cls, value: str | None) -> str | None:
        return currency_code(value) if value is not None else None

    @field_validator("currencies")
    @classmethod
    def _currencies(cls, values: list[str]) -> list[str]:
        codes = [currency_code(v) for v in values]
        if len(set(codes)) != len(codes):
            raise ValueError("a currency is listed twice")
        return codes


def _duration(value: str) -> str:
    parse_duration(value)
    return value


class _Trial(_Strict):
    length: str = "14d"
    plan: str = "starter"
    reminders: list[str] = ["7d", "3d", "1d"]
    winback: list[str] = ["3d", "7d"]
    winback_coupon: str | None = None
    winback_offer: str | None = None

    @field_validator("length")
    @classmethod
    def _length(cls, value: str) -> str:
        return _duration(value)

    @field_validator("reminders", "winback")
    @classmethod
    def _offsets(cls, values: list[str]) -> list[str]:
        return [_duration(v) for v in values]


class _Dunning(_Strict):
    retries: list[str] = ["1d", "3d", "5d", "7d"]
    final_action: Literal["cancel", "downgrade"] = "cancel"
    downgrade_plan: str | None = None
    access: Literal["full", "read_only"] = "full"

    @field_validator("retries")
    @classmethod
    def _offsets(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("at least one retry")
        parsed = [parse_duration(v) for v in values]
        if parsed != sorted(parsed) or len(set(parsed)) != len(parsed):
            raise ValueError("retries must be increasing offsets after the first failure")
        return values

    @model_validator(mode="after")
    def _downgrade_needs_plan(self) -> _Dunning:
        if self.final_action == "downgrade" and not self.downgrade_plan:
            raise ValueError("final_action = 'downgrade' needs downgrade_plan")
        return self


class _Retention(_Strict):
    usage_events: str = "90d"
    email_bodies: str = "30d"
    security_events: str = "180d"
    every: str = "1d"

    @field_validator("usage_events", "email_bodies", "every")
    @classmethod
    def _length(cls, value: str) -> str:
        return _duration(value)

    @field_validator("security_events")
    @classmethod
    def _security_floor(cls, value: str) -> str:
        value = _duration(value)
        if parse_duration(value) < MIN_SECURITY_EVENTS_RETENTION:
            raise ValueError(
                f"the security log is kept at least {MIN_SECURITY_EVENTS_RETENTION.days} days"
            )
        return value


class _Plan(_Strict):
    name: str
    monthly_price_cents: int | None = Field(default=None, ge=0)
    self_serve: bool = True
    limits: dict[str, int | None] = {}
    features: list[str] = []
    # The monthly price in each of [billing] currencies, in major units ("27.50").
    prices: LocalPrices = {}

    @field_validator("limits")
    @classmethod
    def _known_metrics(cls, limits: dict[str, int | None]) -> dict[str, int | None]:
        unknown = sorted(set(limits) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known: {list(METRICS)}")
        return limits

    @model_validator(mode="after")
    def _priced_if_self_serve(self) -> _Plan:
        if self.self_serve and self.monthly_price_cents is None:
            raise ValueError("a self-serve plan needs monthly_price_cents")
        return self


class _Addon(_Strict):
    name: str
    kind: Literal["recurring", "one_off", "feature"]
    price_cents: int = Field(ge=0)
    metric: str | None = None
    amount: int = Field(default=0, ge=0)
    prices: LocalPrices = {}


class _Coupon(_Strict):
    percent_off: int = Field(ge=1, le=100)


def _known_metric_keys(values: dict[str, object]) -> None:
    unknown = sorted(set(values) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {list(METRICS)}")


class _CompetitorPlan(_Strict):
    name: str = Field(min_length=1)
    # As billed on `interval`: a yearly plan's price is the year's.
    price_cents: int = Field(ge=0)
    interval: Literal["month", "year"]
    # Per month: a whole number, or "unlimited" (None here); a metric left out is unknown.
    limits: dict[str, int | None] = {}
    # Cents per unit beyond the limit, e.g. "0.25": a decimal string, since a TOML float
    # is binary and would misstate fractions of a cent.
    overage_cents: dict[str, Decimal] = {}

    @field_validator("limits", mode="before")
    @classmethod
    def _limits(cls, limits: object) -> object:
        if not isinstance(limits, dict):
            return limits
        _known_metric_keys(limits)
        parsed: dict[str, int | None] = {}
        for metric, value in limits.items():
            if value == "unlimited":
                parsed[metric] = None
            elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                parsed[metric] = value
            else:
                raise ValueError(f'{metric}: a whole number >= 0 or "unlimited", not {value!r}')
        return parsed

    @field_validator("overage_cents", mode="before")
    @classmethod
    def _overage(cls, rates: object) -> object:
        if not isinstance(rates, dict):
            return rates
        _known_metric_keys(rates)
        parsed: dict[str, Decimal] = {}
        for metric, value in rates.items():
            rate = None
            if isinstance(value, int | str) and not isinstance(value, bool):
                try:
                    rate = Decimal(value)
                except InvalidOperation:
                    rate = None
            if rate is None or not rate.is_finite() or rate < 0:
                raise ValueError(
                    f"{metric}: cents per unit >= 0 as a whole number or a decimal string such "
                    f'as "0.25", not {value!r}'
                )
            parsed[metric] = rate
        return parsed

    @model_validator(mode="after")
    def _overage_where_limited(self) -> _CompetitorPlan:
        pointless = sorted(
            m for m in self.overage_cents if m in self.limits and self.limits[m] is None
        )
        if pointless:
            raise ValueError(f"overage_cents on unlimited metric(s) {pointless}")
        return self


class _Competitor(_Strict):
    name: str = Field(min_length=1)
    # ISO 4217; it must be the catalog's ([billing] currency): the engine has one currency.
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    plans: dict[str, _CompetitorPlan] = Field(min_length=1)


class _File(_Strict):
    product: _Product = _Product()
    billing: _Billing = _Billing()
    trial: _Trial = _Trial()
    dunning: _Dunning = _Dunning()
    retention: _Retention = _Retention()
    plans: dict[str, _Plan]
    addons: dict[str, _Addon] = {}
    coupons: dict[str, _Coupon] = {}
    competitors: dict[str, _Competitor] = {}
    experiments: dict[str, ExperimentSection] = {}
    segments: SegmentsSection = {}
    save_flow: SaveFlowSection = SaveFlowSection()
    approvals: ApprovalsSection = ApprovalsSection()
    tax: TaxSection = TaxSection()

    regions: RegionsSection = {}

    @model_validator(mode="after")
    def _priced_in_every_currency(self) -> _File:
        check_local_prices(self.billing.currency, self.billing.currencies, self.plans, self.addons)
        priced = {k for k, p in self.plans.items() if p.monthly_price_cents is not None}
        check_regions(self.regions, self.billing.currency, self.billing.currencies, priced)
        return self

    @model_validator(mode="after")
    def _competitors_in_our_currency(self) -> _File:
        ours = self.billing.currency.lower()
        for competitor_id, competitor in self.competitors.items():
            if competitor.currency.lower() != ours:
                raise ValueError(
                    f"competitors.{competitor_id}.currency {competitor.currency!r} is not the "
                    f"catalog's currency {ours!r} ([billing] currency): prices in another "
                    "currency cannot be compared"
                )
        return self

    @model_validator(mode="after")
    def _trial_plan_exists(self) -> _File:
        if self.trial.plan not in self.plans:
            raise ValueError(f"trial.plan {self.trial.plan!r} is not one of the plans")
        coupon = self.trial.winback_coupon
        if coupon is not None and coupon not in self.coupons:
            raise ValueError(f"trial.winback_coupon {coupon!r} has no [coupons.{coupon}] entry")
        plan = self.dunning.downgrade_plan
        if plan is not None and plan not in self.plans:
            raise ValueError(f"dunning.downgrade_plan {plan!r} is not one of the plans")
        for key, named in self.save_flow.coupons().items():
            if named not in self.coupons:
                raise ValueError(f"save_flow.{key} {named!r} has no [coupons.{named}] entry")
        return self


@dataclass(frozen=True)
class EngineConfig:
    product_name: str
    app_url: str
    catalog: Catalog
    policy: Policy
    # Outside the catalog: competitors are no part of a customer's terms.
    competitors: tuple[Competitor, ...] = ()
    experiments: tuple[Experiment, ...] = ()
    segments: tuple[Segment, ...] = ()
    # Outside the terms too: which offers a customer who asks to cancel is shown.
    save_flow: SaveFlow = field(default_factory=SaveFlow)
    # Price books by billing country (their books are among the catalog's price_books).
    regions: tuple[Region, ...] = ()
    # Reports across currencies convert into this one (never used to charge).
    reporting_currency: str = "usd"
    # Which admin actions need a second admin (maker-checker).
    approvals: Approvals = field(default_factory=Approvals)
    # The selling entity and how prices carry tax (off unless configured).
    tax: TaxSettings = field(default_factory=TaxSettings)


def load_config(path: Path) -> EngineConfig:
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found (set LIFECYCLE_CONFIG)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
    return _to_domain(parsed)


def _to_domain(parsed: _File) -> EngineConfig:
    plans = {
        plan_id: Plan(
            id=plan_id,
            name=p.name,
            monthly_price_cents=p.monthly_price_cents,
            self_serve=p.self_serve,
            limits={m: p.limits.get(m) for m in METRICS},
            features=tuple(p.features),
            prices=all_prices(parsed.billing.currency, p.monthly_price_cents, p.prices),
        )
        for plan_id, p in parsed.plans.items()
    }
    addons = {
        addon_id: Addon(
            id=addon_id,
            name=a.name,
            kind=a.kind,
            price_cents=a.price_cents,
            metric=a.metric,
            amount=a.amount,
            prices=all_prices(parsed.billing.currency, a.price_cents, a.prices),
        )
        for addon_id, a in parsed.addons.items()
    }
    trial, dunning = parsed.trial, parsed.dunning
    policy = Policy(
        trial=TrialPolicy(
            length=parse_duration(trial.length),
            plan=trial.plan,
            reminders=tuple(parse_duration(r) for r in trial.reminders),
            winback=tuple(parse_duration(w) for w in trial.winback),
            winback_coupon=trial.winback_coupon,
            winback_offer=trial.winback_offer,
        ),
        dunning=DunningPolicy(
            retries=tuple(parse_duration(r) for r in dunning.retries),
            final_action=FinalAction(dunning.final_action),
            downgrade_plan=dunning.downgrade_plan,
            access=DunningAccess(dunning.access),
        ),
        retention=RetentionPolicy(
            usage_events=parse_duration(parsed.retention.usage_events),
            email_bodies=parse_duration(parsed.retention.email_bodies),
            security_events=parse_duration(parsed.retention.security_events),
            every=parse_duration(parsed.retention.every),
        ),
    )
    catalog = Catalog(
        plans=plans,
        addons=addons,
        annual_discount_percent=parsed.billing.annual_discount_percent,
        currency=parsed.billing.currency,
        currencies=catalog_currencies(parsed.billing.currency, parsed.billing.currencies),
        coupons={
            coupon_id: Coupon(id=coupon_id, percent_off=c.percent_off)
            for coupon_id, c in parsed.coupons.items()
        },
    )
    catalog, experiments = with_experiments(catalog, parsed.experiments)
    regions = regions_from(parsed.regions)
    catalog = with_regions(catalog, regions)
    competitors = tuple(
        Competitor(
            id=competitor_id,
            name=c.name,
            currency=c.currency.lower(),
            plans=tuple(
                CompetitorPlan(
                    id=plan_id,
                    name=p.name,
                    price_cents=p.price_cents,
                    interval=BillingInterval(p.interval),
                    limits=dict(p.limits),
                    overage_cents=dict(p.overage_cents),
                )
                for plan_id, p in c.plans.items()
            ),
        )
        for competitor_id, c in parsed.competitors.items()
    )
    return EngineConfig(
        product_name=parsed.product.name,
        app_url=parsed.product.app_url,
        catalog=catalog,
        policy=policy,
        competitors=competitors,
        experiments=experiments,
        segments=segments_from(parsed.segments),
        save_flow=parsed.save_flow.to_domain(),
        regions=regions,
        reporting_currency=parsed.billing.reporting_currency or parsed.billing.currency,
        approvals=parsed.approvals.to_domain(),
        tax=parsed.tax.to_domain(),
    )
