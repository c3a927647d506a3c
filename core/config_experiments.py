"""The ``[experiments.<id>]`` sections of the config file: pricing experiments, validated
against the catalog with errors naming the field.

    [experiments.pro_price]
    name = "Pro at $119"
    status = "running"            # draft | running | stopped
    [experiments.pro_price.variants.control]
    weight = 50
    [experiments.pro_price.variants.higher]
    weight = 50
    monthly_price_cents = { pro = 11900 }
    # annual_discount_percent = 20
    # trial_length = "21d"
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.catalog import Catalog
from domain.durations import parse_duration
from domain.experiments.model import (
    Experiment,
    ExperimentState,
    Guardrails,
    Overrides,
    Variant,
    price_books,
)

# Ids go into provider lookup keys (``plan_<plan>_<interval>@<experiment>.<variant>``):
# neither may hold the separators.
_ID = r"^[a-z0-9][a-z0-9_-]{0,47}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Variant(_Strict):
    weight: int = Field(ge=1, le=10_000)
    monthly_price_cents: dict[str, int] = {}
    annual_discount_percent: int | None = Field(default=None, ge=0, le=100)
    trial_length: str | None = None

    @field_validator("trial_length")
    @classmethod
    def _length(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value).total_seconds() <= 0:
            raise ValueError("must be longer than zero")
        return value

    @field_validator("monthly_price_cents")
    @classmethod
    def _prices(cls, prices: dict[str, int]) -> dict[str, int]:
        negative = sorted(plan for plan, cents in prices.items() if cents < 0)
        if negative:
            raise ValueError(f"negative price for {negative}")
        return prices


class _Guardrails(_Strict):
    # Absolute differences of rates: 0.05 = five percentage points worse than control.
    churn_30d_margin: float = Field(default=0.05, gt=0, lt=1)
    decline_rate_margin: float = Field(default=0.05, gt=0, lt=1)


class ExperimentSection(_Strict):
    name: str = Field(min_length=1)
    status: Literal["draft", "running", "stopped"] = "draft"
    control: str = "control"
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    power: float = Field(default=0.8, gt=0.5, lt=1)
    guardrails: _Guardrails = _Guardrails()
    variants: dict[str, _Variant] = Field(min_length=2)

    @field_validator("variants")
    @classmethod
    def _variant_ids(cls, variants: dict[str, _Variant]) -> dict[str, _Variant]:
        bad = sorted(v for v in variants if not re.match(_ID, v))
        if bad:
            raise ValueError(f"variant id(s) {bad} must match {_ID}")
        return variants

    @model_validator(mode="after")
    def _control_is_the_config(self) -> ExperimentSection:
        control = self.variants.get(self.control)
        if control is None:
            raise ValueError(f"control {self.control!r} is not one of the variants")
        if (
            control.monthly_price_cents
            or control.annual_discount_percent is not None
            or (control.trial_length is not None)
        ):
            raise ValueError(f"variants.{self.control}: the control overrides nothing")
        return self


def with_experiments(
    catalog: Catalog, sections: dict[str, ExperimentSection]
) -> tuple[Catalog, tuple[Experiment, ...]]:
    """The experiments, and the catalog knowing their variants' price books (the catalog
    sync creates their prices, the simulator sells them). Raises ``ConfigError``."""
    from core.config import ConfigError  # core.config imports this module

    self_serve = {p.id for p in catalog.plans.values() if p.self_serve}
    try:
        _check(sections, self_serve)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    experiments = _to_experiments(sections)
    return replace(catalog, price_books=price_books(experiments)), experiments


def _check(experiments: dict[str, ExperimentSection], self_serve_plans: set[str]) -> None:
    """What a section cannot check alone: ids, the plans a variant prices, and that at most
    one experiment runs (each sign-up's terms come from one variant)."""
    for experiment_id, section in experiments.items():
        if not re.match(_ID, experiment_id):
            raise ValueError(f"experiments.{experiment_id}: the id must match {_ID}")
        for variant_id, variant in section.variants.items():
            unknown = sorted(set(variant.monthly_price_cents) - self_serve_plans)
            if unknown:
                raise ValueError(
                    f"experiments.{experiment_id}.variants.{variant_id}.monthly_price_cents: "
                    f"{unknown} are not self-serve plans (known: {sorted(self_serve_plans)})"
                )
    running = sorted(i for i, s in experiments.items() if s.status == "running")
    if len(running) > 1:
        raise ValueError(
            f"experiments {running} are all running: run one at a time (stop the others "
            'with status = "stopped")'
        )


def _to_experiments(experiments: dict[str, ExperimentSection]) -> tuple[Experiment, ...]:
    return tuple(
        Experiment(
            id=experiment_id,
            name=section.name,
            state=ExperimentState(section.status),
            control=section.control,
            alpha=section.alpha,
            power=section.power,
            guardrails=Guardrails(
                churn_30d_margin=section.guardrails.churn_30d_margin,
                decline_rate_margin=section.guardrails.decline_rate_margin,
            ),
            variants=tuple(
                Variant(
                    id=variant_id,
                    weight=v.weight,
                    overrides=Overrides(
                        monthly_price_cents=dict(v.monthly_price_cents),
                        annual_discount_percent=v.annual_discount_percent,
                        trial_length=parse_duration(v.trial_length) if v.trial_length else None,
                    ),
                )
                for variant_id, v in section.variants.items()
            ),
        )
        for experiment_id, section in sorted(experiments.items())
    )
