"""The experiment statistics on generated histories with a known answer: a planted lift in
trial conversion (20 % -> 26 %) is found about as often as the stated power says, no lift
is found about alpha of the time, and a planted price effect on ARPU shows in Welch's test.
Each simulates many experiments with a fixed seed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from domain.experiments import stats
from domain.experiments.model import Experiment, ExperimentState, Overrides, Variant
from domain.experiments.results import SignupRecord, analyse

NOW = datetime(2025, 6, 1, tzinfo=UTC)
ALPHA = 0.05
N = 800  # sign-ups per variant
RUNS = 1000

EXPERIMENT = Experiment(
    id="conv",
    name="conversion",
    state=ExperimentState.RUNNING,
    variants=(
        Variant("control", 1),
        Variant("cheaper", 1, Overrides(monthly_price_cents={"pro": 7900})),
    ),
    alpha=ALPHA,
)


def _detections(p0: float, p1: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    x0 = rng.binomial(N, p0, RUNS)
    x1 = rng.binomial(N, p1, RUNS)
    found = 0
    for a, b in zip(x0, x1, strict=True):
        comparison = stats.two_proportions(int(b), N, int(a), N, ALPHA)
        assert comparison is not None
        found += comparison.significant(ALPHA)
    return found / RUNS


def test_a_planted_conversion_lift_is_found_at_the_stated_power() -> None:
    claimed = stats.power_two_proportions(0.20, 0.26, N, N, ALPHA)
    mde = stats.minimum_detectable_effect(0.20, N, N, ALPHA, 0.8)
    observed = _detections(0.20, 0.26, seed=14)
    print(
        f"\nplanted 20% -> 26%, n={N}/variant, {RUNS} experiments: claimed power "
        f"{claimed:.3f}, detected {observed:.3f}; MDE at 80% power {mde:.4f}"
    )
    assert 0.75 < claimed < 0.9
    assert observed >= claimed - 0.04
    # The MDE is the effect found with 80 % power: 20 % + MDE is found 80 % of the time.
    assert mde is not None
    assert abs(stats.power_two_proportions(0.20, 0.20 + mde, N, N, ALPHA) - 0.8) < 0.01


def test_no_effect_is_found_about_alpha_of_the_time() -> None:
    observed = _detections(0.20, 0.20, seed=15)
    print(f"\nno effect, n={N}/variant, {RUNS} experiments: false positives {observed:.3f}")
    assert abs(observed - ALPHA) < 0.02


def test_welch_finds_a_planted_arpu_effect_and_not_a_null_one() -> None:
    rng = np.random.default_rng(16)
    found = false = 0
    for _ in range(300):
        # Revenue per sign-up: most pay nothing, payers a skewed amount.
        def revenue(rate: float, mean: float) -> list[float]:
            paid = rng.random(N) < rate
            return list(np.where(paid, rng.gamma(2.0, mean / 2, N), 0.0))

        control = revenue(0.25, 9900)
        higher = revenue(0.25, 13900)
        same = revenue(0.25, 9900)
        lift = stats.welch(higher, control, ALPHA)
        null = stats.welch(same, control, ALPHA)
        assert lift is not None and null is not None
        found += lift.significant(ALPHA)
        false += null.significant(ALPHA)
    print(f"\nARPU +4000 cents on payers: detected {found / 300:.3f}; null: {false / 300:.3f}")
    assert found / 300 > 0.8
    assert false / 300 < 0.1


def _history(rate0: float, rate1: float, churn1: float, seed: int) -> list[SignupRecord]:
    rng = np.random.default_rng(seed)
    records = []
    for variant, rate, churn in (("control", rate0, 0.05), ("cheaper", rate1, churn1)):
        for i in range(N):
            signed = NOW - timedelta(days=150 - i % 30)
            converted = signed + timedelta(days=14) if rng.random() < rate else None
            churned = converted + timedelta(days=10) if converted and rng.random() < churn else None
            records.append(
                SignupRecord(
                    variant=variant,
                    signed_up_at=signed,
                    trial_ends_at=signed + timedelta(days=14),
                    converted_at=converted,
                    churned_at=churned,
                    revenue_cents=7900 * 3 if converted else 0,
                    payment_declined=False,
                )
            )
    return records


def test_results_detect_the_planted_lift_and_flag_a_churn_guardrail() -> None:
    records = _history(0.20, 0.30, churn1=0.25, seed=17)
    results = analyse(EXPERIMENT, records, {"control": 2 * N, "cheaper": 2 * N}, NOW)
    control, cheaper = results.variants
    assert control.control and control.trial_conversion.vs_control is None
    assert control.signups == cheaper.signups == N
    assert control.visitors == 2 * N
    lift = cheaper.trial_conversion.vs_control
    assert lift is not None and lift.significant(ALPHA) and lift.difference > 0.05
    low, high = cheaper.trial_conversion.estimate.ci_low, cheaper.trial_conversion.estimate.ci_high
    assert low < 0.30 < high
    assert cheaper.conversion_mde is not None and cheaper.conversion_mde < 0.07
    # 25 % churned within 30 days against 5 %: beyond the 5-point margin.
    assert [(b.variant, b.metric) for b in results.breaches] == [("cheaper", "churn_30d")]
    rpv = cheaper.revenue_per_visitor.estimate.value
    assert rpv == sum(r.revenue_cents for r in records if r.variant == "cheaper") / (2 * N)


def test_results_without_an_effect_flag_nothing() -> None:
    records = _history(0.20, 0.20, churn1=0.05, seed=18)
    results = analyse(EXPERIMENT, records, {}, NOW)
    assert results.breaches == ()
    assert results.variants[1].visitors == N
