"""The tests behind the results: rates compared with a two-proportion z-test, money with
Welch's t-test (unequal variances: a price change moves the spread too), every estimate
with its confidence interval, and the power of the comparison for the sample at hand.

Normal approximations throughout: they hold for the sample sizes at which an experiment
is read (tens of sign-ups per variant and up); below that the intervals say how little is
known."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class Estimate:
    value: float
    ci_low: float
    ci_high: float
    n: int


@dataclass(frozen=True)
class Comparison:
    """Variant minus control, its interval, and the two-sided p-value of no difference."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float

    def significant(self, alpha: float) -> bool:
        return self.p_value < alpha


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


def proportion(successes: int, n: int, alpha: float = 0.05) -> Estimate:
    """The rate with its Wilson interval (sound near 0 and 1 and for small n)."""
    if n == 0:
        return Estimate(0.0, 0.0, 1.0, 0)
    z = _z(alpha)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n)


def two_proportions(x1: int, n1: int, x0: int, n0: int, alpha: float = 0.05) -> Comparison | None:
    """Rate 1 (variant) against rate 0 (control): the pooled z-test's p-value and the
    unpooled interval of the difference. None without both samples."""
    if n1 == 0 or n0 == 0:
        return None
    p1, p0 = x1 / n1, x0 / n0
    pooled = (x1 + x0) / (n1 + n0)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    p_value = 1.0 if se_pooled == 0 else float(2 * stats.norm.sf(abs(p1 - p0) / se_pooled))
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    half = _z(alpha) * se
    return Comparison(p1 - p0, p1 - p0 - half, p1 - p0 + half, p_value)


def mean(values: Sequence[float], alpha: float = 0.05) -> Estimate:
    """The mean with its t interval."""
    n = len(values)
    if n == 0:
        return Estimate(0.0, 0.0, 0.0, 0)
    average = math.fsum(values) / n
    if n < 2:
        return Estimate(average, average, average, n)
    sd = math.sqrt(math.fsum((v - average) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * sd / math.sqrt(n)
    return Estimate(average, average - half, average + half, n)


def welch(
    variant: Sequence[float], control: Sequence[float], alpha: float = 0.05
) -> Comparison | None:
    """Mean of the variant against the control's, Welch's t-test and its interval. None
    without two values on each side."""
    n1, n0 = len(variant), len(control)
    if n1 < 2 or n0 < 2:
        return None
    m1, m0 = math.fsum(variant) / n1, math.fsum(control) / n0
    v1 = math.fsum((v - m1) ** 2 for v in variant) / (n1 - 1) / n1
    v0 = math.fsum((v - m0) ** 2 for v in control) / (n0 - 1) / n0
    se = math.sqrt(v1 + v0)
    if se == 0:
        return Comparison(m1 - m0, m1 - m0, m1 - m0, 1.0 if m1 == m0 else 0.0)
    df = (v1 + v0) ** 2 / (v1**2 / (n1 - 1) + v0**2 / (n0 - 1))
    t = (m1 - m0) / se
    p_value = float(2 * stats.t.sf(abs(t), df))
    half = float(stats.t.ppf(1 - alpha / 2, df)) * se
    return Comparison(m1 - m0, m1 - m0 - half, m1 - m0 + half, p_value)


def power_two_proportions(p0: float, p1: float, n0: int, n1: int, alpha: float = 0.05) -> float:
    """The chance the two-proportion test at ``alpha`` finds a true difference p1 - p0 with
    these sample sizes (normal approximation, both tails)."""
    if n0 == 0 or n1 == 0 or p0 == p1:
        return alpha if p0 == p1 else 0.0
    pooled = (n0 * p0 + n1 * p1) / (n0 + n1)
    se_null = math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
    se_alt = math.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)
    z = _z(alpha)
    delta = abs(p1 - p0)
    return float(
        stats.norm.sf((z * se_null - delta) / se_alt)
        + stats.norm.cdf((-z * se_null - delta) / se_alt)
    )


def minimum_detectable_effect(
    p0: float, n0: int, n1: int, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """The smallest rise over ``p0`` the test finds with ``power`` at these sample sizes
    (absolute; None without a sample or when no rise below 100 % is found that often)."""
    if n0 == 0 or n1 == 0:
        return None
    low, high = 0.0, 1.0 - p0
    if high <= 0 or power_two_proportions(p0, 1.0, n0, n1, alpha) < power:
        return None
    for _ in range(60):
        middle = (low + high) / 2
        if power_two_proportions(p0, p0 + middle, n0, n1, alpha) >= power:
            high = middle
        else:
            low = middle
    return high


def minimum_detectable_difference(
    sd0: float, sd1: float, n0: int, n1: int, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """The smallest difference of means Welch's test finds with ``power`` (normal
    approximation)."""
    if n0 < 2 or n1 < 2:
        return None
    se = math.sqrt(sd0 * sd0 / n0 + sd1 * sd1 / n1)
    return (_z(alpha) + float(stats.norm.ppf(power))) * se
