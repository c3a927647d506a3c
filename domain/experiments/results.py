"""Results per variant from the sign-ups' histories, each against the control, and the
guardrails: a variant whose 30-day churn or payment decline rate is worse than the
control's by more than its margin, significantly, flags the experiment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.experiments import stats
from domain.experiments.model import Experiment

CHURN_WINDOWS: tuple[int, ...] = (30, 60, 90)


@dataclass(frozen=True)
class SignupRecord:
    """One sign-up the experiment assigned, as its history tells it."""

    variant: str
    signed_up_at: datetime
    trial_ends_at: datetime | None
    converted_at: datetime | None
    # The first cancellation after the conversion (voluntary or not).
    churned_at: datetime | None
    # Paid invoices, in cents.
    revenue_cents: int
    # Whether a payment of the customer was declined after the conversion.
    payment_declined: bool


@dataclass(frozen=True)
class Metric:
    estimate: stats.Estimate
    # None for the control, or while either side has no sample.
    vs_control: stats.Comparison | None


@dataclass(frozen=True)
class VariantResult:
    variant: str
    control: bool
    weight: int
    changes: str
    visitors: int
    signups: int
    trial_conversion: Metric
    # Cents per sign-up.
    arpu: Metric
    churn: dict[int, Metric]
    # Cents per visitor (sign-ups and visitors who saw the plans and left).
    revenue_per_visitor: Metric
    decline_rate: Metric
    # What the comparison with the control can see with this sample, at the experiment's
    # power: the smallest rise in trial conversion (absolute) and of ARPU (cents).
    conversion_mde: float | None
    arpu_mde: float | None
    # The power to find the difference in conversion observed, were it the true one.
    conversion_power: float | None


@dataclass(frozen=True)
class GuardrailBreach:
    variant: str
    metric: str
    difference: float
    margin: float
    p_value: float


@dataclass(frozen=True)
class ExperimentResults:
    experiment: str
    alpha: float
    power: float
    variants: tuple[VariantResult, ...]
    breaches: tuple[GuardrailBreach, ...]


def _converted_eligible(records: Sequence[SignupRecord], now: datetime) -> list[bool]:
    """Converted or not, for sign-ups whose trial is over or who converted early: a trial
    still running has not decided yet (a longer trial variant is not punished for it)."""
    return [
        r.converted_at is not None
        for r in records
        if r.converted_at is not None or (r.trial_ends_at is not None and r.trial_ends_at <= now)
    ]


def _churned(records: Sequence[SignupRecord], days: int, now: datetime) -> list[bool]:
    window = timedelta(days=days)
    return [
        r.churned_at is not None and r.churned_at <= r.converted_at + window
        for r in records
        if r.converted_at is not None and r.converted_at + window <= now
    ]


def _declined(records: Sequence[SignupRecord]) -> list[bool]:
    return [r.payment_declined for r in records if r.converted_at is not None]


def _rate(outcomes: list[bool], control: list[bool] | None, alpha: float) -> Metric:
    hits = sum(outcomes)
    comparison = None
    if control is not None:
        comparison = stats.two_proportions(hits, len(outcomes), sum(control), len(control), alpha)
    return Metric(stats.proportion(hits, len(outcomes), alpha), comparison)


def _money(values: list[float], control: list[float] | None, alpha: float) -> Metric:
    comparison = stats.welch(values, control, alpha) if control is not None else None
    return Metric(stats.mean(values, alpha), comparison)


@dataclass(frozen=True)
class _Outcomes:
    """One variant's samples: a rate's outcomes, money per sign-up and per visitor."""

    conversion: list[bool]
    churn: dict[int, list[bool]]
    declined: list[bool]
    arpu: list[float]
    per_visitor: list[float]


def _outcomes(records: Sequence[SignupRecord], visitors: int, now: datetime) -> _Outcomes:
    revenue = [float(r.revenue_cents) for r in records]
    return _Outcomes(
        conversion=_converted_eligible(records, now),
        churn={d: _churned(records, d, now) for d in CHURN_WINDOWS},
        declined=_declined(records),
        arpu=revenue,
        # Visitors who saw the variant and did not sign up bring nothing.
        per_visitor=revenue + [0.0] * max(0, visitors - len(records)),
    )


def analyse(
    experiment: Experiment,
    records: Sequence[SignupRecord],
    visitors: dict[str, int],
    now: datetime,
) -> ExperimentResults:
    """Every variant's metrics, each compared with the control's. ``visitors`` counts the
    distinct subjects shown each variant (plans page or sign-up)."""
    alpha, power = experiment.alpha, experiment.power
    by_variant = {v.id: [r for r in records if r.variant == v.id] for v in experiment.variants}

    def seen(variant_id: str) -> int:
        return max(visitors.get(variant_id, 0), len(by_variant[variant_id]))

    base = _outcomes(by_variant[experiment.control], seen(experiment.control), now)
    p0 = sum(base.conversion) / len(base.conversion) if base.conversion else 0.0
    results: list[VariantResult] = []
    breaches: list[GuardrailBreach] = []
    for variant in experiment.variants:
        rows = by_variant[variant.id]
        is_control = variant.id == experiment.control
        mine = _outcomes(rows, seen(variant.id), now)
        versus = None if is_control else base
        conversion = _rate(mine.conversion, versus.conversion if versus else None, alpha)
        churn = {
            d: _rate(mine.churn[d], versus.churn[d] if versus else None, alpha)
            for d in CHURN_WINDOWS
        }
        declines = _rate(mine.declined, versus.declined if versus else None, alpha)
        n0, n1 = len(base.conversion), len(mine.conversion)
        mde = observed_power = arpu_mde = None
        if not is_control:
            mde = stats.minimum_detectable_effect(p0, n0, n1, alpha, power)
            if n0 and n1:
                observed_power = stats.power_two_proportions(
                    p0, conversion.estimate.value, n0, n1, alpha
                )
            arpu_mde = stats.minimum_detectable_difference(
                _sd(base.arpu), _sd(mine.arpu), len(base.arpu), len(mine.arpu), alpha, power
            )
        results.append(
            VariantResult(
                variant=variant.id,
                control=is_control,
                weight=variant.weight,
                changes=variant.overrides.describe(),
                visitors=seen(variant.id),
                signups=len(rows),
                trial_conversion=conversion,
                arpu=_money(mine.arpu, versus.arpu if versus else None, alpha),
                churn=churn,
                revenue_per_visitor=_money(
                    mine.per_visitor, versus.per_visitor if versus else None, alpha
                ),
                decline_rate=declines,
                conversion_mde=mde,
                arpu_mde=arpu_mde,
                conversion_power=observed_power,
            )
        )
        guarded = (
            ("churn_30d", churn[30], experiment.guardrails.churn_30d_margin),
            ("decline_rate", declines, experiment.guardrails.decline_rate_margin),
        )
        for name, metric, margin in guarded:
            against = metric.vs_control
            if against is not None and against.difference > margin and against.significant(alpha):
                breaches.append(
                    GuardrailBreach(variant.id, name, against.difference, margin, against.p_value)
                )
    return ExperimentResults(experiment.id, alpha, power, tuple(results), tuple(breaches))


def _sd(values: Sequence[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    average = sum(values) / n
    return float((sum((v - average) ** 2 for v in values) / (n - 1)) ** 0.5)
