"""Churn risk: who is likely to stop paying in the next 30 days, and why.

* **Snapshots.** Every Monday (UTC) each paying customer (active or past due) is a
  snapshot: its features then (``domain.analytics.features``) and whether it churned in the
  30 days after: canceled or paused, voluntarily or after dunning ran out (involuntary).
* **Time-based split.** Snapshots are ordered by time. The held-out window is the last
  quarter of the labelled weeks; the model learns only from snapshots whose 30 days ended
  before that window began (the weeks in between are dropped), so no label it learns from
  was known after anything it is scored on.
* **The model.** Logistic regression on standardized features (scikit-learn): its
  probability is calibrated enough to read as one, and each feature's contribution
  (coefficient x standardized value) is the customer's reasons. It is kept as plain numbers
  (means, scales, coefficients), so scoring needs no pickle and no scikit-learn.
* **Measured on the held-out window:** ROC AUC, PR AUC (average precision), the Brier
  score and a calibration table, and the same AUCs for the baseline rule "usage fell by
  half" and per kind of churn.
* **A sample at scale.** Snapshots cost Python time and memory per customer and week
  (``make bench-analytics``): beyond ``MAX_TRAINING_CUSTOMERS`` the model learns and is
  measured on a fixed sample of customers (by a hash of their id, the same every day);
  every paying customer is still scored.
* **Too little history** (fewer than 200 training snapshots or 20 churns, or a held-out
  window without both outcomes): no model. The engine says so and scores with clear rules.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.preprocessing import StandardScaler

from domain.analytics.features import (
    FEATURE_NAMES,
    PAYING,
    REASONS,
    WEEK,
    CustomerHistory,
    features_at,
    state_at,
    usage_fell_by_half,
    week_start,
)
from domain.catalog import Catalog
from domain.reporting.ledger import involuntary_cancel

HORIZON = timedelta(days=30)
MIN_TRAINING_SNAPSHOTS = 200
MIN_TRAINING_CHURNS = 20
HELD_OUT_SHARE = 0.25
# A year of weekly snapshots of this many customers is ~120,000 rows: plenty for a dozen
# coefficients, and seconds rather than minutes at 100,000 customers.
MAX_TRAINING_CUSTOMERS = 4_000
# Risk bands of a 30-day churn probability.
HIGH, MEDIUM = 0.25, 0.10
RULES = "rules"
LOGISTIC = "logistic_regression"


@dataclass(frozen=True)
class Snapshot:
    customer_id: str
    at: datetime
    features: dict[str, float]
    churned: bool
    # "voluntary" | "involuntary" | None
    kind: str | None
    usage_fell: bool


def churn_after(history: CustomerHistory, moment: datetime) -> str | None:
    """How the customer churned within the horizon after ``moment``, if it did."""
    end = moment + HORIZON
    for row in history.ledger:
        if row.occurred_at < moment or row.occurred_at >= end:
            continue
        if row.to_status == "canceled" and row.from_status != "canceled":
            return "involuntary" if involuntary_cancel(row) else "voluntary"
        if row.to_status == "paused" and row.from_status != "paused":
            return "voluntary"
    return None


def snapshots(
    histories: Iterable[CustomerHistory], catalog: Catalog, *, until: datetime
) -> list[Snapshot]:
    """Weekly snapshots of paying customers whose 30 days ended by ``until``."""
    taken = []
    for history in histories:
        if not history.ledger:
            continue
        first = history.ledger[0].occurred_at
        moment = datetime.combine(week_start(first) + WEEK, datetime.min.time(), UTC)
        while moment + HORIZON <= until:
            if state_at(history, moment).status in PAYING:
                kind = churn_after(history, moment)
                taken.append(
                    Snapshot(
                        customer_id=history.customer_id,
                        at=moment,
                        features=features_at(history, moment, catalog),
                        churned=kind is not None,
                        kind=kind,
                        usage_fell=usage_fell_by_half(history, moment),
                    )
                )
            moment += WEEK
    return sorted(taken, key=lambda s: (s.at, s.customer_id))


@dataclass(frozen=True)
class ChurnModel:
    """A trained model as numbers, or the rules (``method`` says which)."""

    version: str
    method: str
    trained_at: datetime
    features: tuple[str, ...] = FEATURE_NAMES
    means: tuple[float, ...] = ()
    scales: tuple[float, ...] = ()
    coefficients: tuple[float, ...] = ()
    intercept: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    # Why the rules apply (too little history), for admins.
    note: str = ""

    def parameters(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "means": list(self.means),
            "scales": list(self.scales),
            "coefficients": list(self.coefficients),
            "intercept": self.intercept,
        }


@dataclass(frozen=True)
class Reason:
    feature: str
    description: str
    value: float
    # Log-odds the feature adds to the customer's risk (rules: their weight).
    contribution: float


@dataclass(frozen=True)
class Score:
    probability: float
    risk: str
    reasons: tuple[Reason, ...]


def risk_band(probability: float) -> str:
    return "high" if probability >= HIGH else "medium" if probability >= MEDIUM else "low"


def score(model: ChurnModel, features: dict[str, float]) -> Score:
    if model.method == RULES:
        return rule_score(features)
    contributions = [
        coefficient * (features[name] - mean) / scale
        for name, mean, scale, coefficient in zip(
            model.features, model.means, model.scales, model.coefficients, strict=True
        )
    ]
    probability = 1 / (1 + math.exp(-(model.intercept + sum(contributions))))
    reasons = sorted(
        (
            Reason(name, REASONS.get(name, name), features[name], round(c, 4))
            for name, c in zip(model.features, contributions, strict=True)
            if c > 0
        ),
        key=lambda r: -r.contribution,
    )[:3]
    return Score(probability, risk_band(probability), tuple(reasons))


# The rules: (feature, test, weight); the score is the largest weight that applies.
_RULES: tuple[tuple[str, Any, float], ...] = (
    ("in_dunning", lambda v: v >= 1, 0.6),
    ("failed_payments_90d", lambda v: v >= 2, 0.4),
    ("weeks_idle", lambda v: v >= 2, 0.3),
    ("usage_trend", lambda v: v <= math.log(0.5), 0.2),
    ("downgrades_180d", lambda v: v >= 1, 0.15),
)


def rule_score(features: dict[str, float]) -> Score:
    """Clear rules for when there is no model: a failing payment, repeated failures, no
    usage for two weeks, usage halved, a recent downgrade."""
    hits = [
        Reason(name, REASONS[name], features[name], weight)
        for name, applies, weight in _RULES
        if applies(features[name])
    ]
    probability = max((r.contribution for r in hits), default=0.03)
    return Score(probability, risk_band(probability), tuple(hits[:3]))


def train(
    histories: Sequence[CustomerHistory], catalog: Catalog, *, now: datetime, version: str
) -> ChurnModel:
    """Train on the past and measure on the held-out window; the rules when history is
    too short."""
    sample = training_sample(histories)
    taken = snapshots(sample, catalog, until=now)
    weeks = sorted({s.at for s in taken})
    if len(weeks) < 8:
        return _rules(version, now, f"only {len(weeks)} labelled weeks of history")
    split = weeks[int(len(weeks) * (1 - HELD_OUT_SHARE))]
    training = [s for s in taken if s.at + HORIZON <= split]
    held_out = [s for s in taken if s.at >= split]
    churns = sum(s.churned for s in training)
    if len(training) < MIN_TRAINING_SNAPSHOTS or churns < MIN_TRAINING_CHURNS:
        return _rules(
            version,
            now,
            f"{len(training)} training snapshots with {churns} churns "
            f"(at least {MIN_TRAINING_SNAPSHOTS} and {MIN_TRAINING_CHURNS} needed)",
        )
    outcomes = {s.churned for s in held_out}
    if outcomes != {True, False}:
        return _rules(version, now, "the held-out window does not have both outcomes")
    x_train = _matrix(training)
    y_train = np.array([s.churned for s in training])
    scaler = StandardScaler().fit(x_train)
    # A feature (nearly) constant in training tells nothing: it weighs nothing (rounding
    # leaves a constant column a scale of ~1e-15, which would blow it up).
    constant = scaler.scale_ <= 1e-9 * np.maximum(1.0, np.abs(scaler.mean_))
    scales = np.where(constant, 1.0, scaler.scale_)
    regression = LogisticRegression(C=1.0, max_iter=1000)
    regression.fit(np.where(constant, 0.0, (x_train - scaler.mean_) / scales), y_train)
    regression.coef_[0][constant] = 0.0
    model = ChurnModel(
        version=version,
        method=LOGISTIC,
        trained_at=now,
        means=tuple(float(m) for m in scaler.mean_),
        scales=tuple(float(s) for s in scales),
        coefficients=tuple(float(c) for c in regression.coef_[0]),
        intercept=float(regression.intercept_[0]),
    )
    metrics = evaluate(model, held_out)
    metrics["training"] = {
        "customers": len(sample),
        "of_customers": len(histories),
        "snapshots": len(training),
        "churns": churns,
        "from": training[0].at.isoformat(),
        "to": training[-1].at.isoformat(),
    }
    return ChurnModel(**{**model.__dict__, "metrics": metrics})


def training_sample(histories: Sequence[CustomerHistory]) -> Sequence[CustomerHistory]:
    """All of them, or beyond ``MAX_TRAINING_CUSTOMERS`` those first by a hash of their id:
    a sample that does not depend on the order they were read in, nor on the day."""
    if len(histories) <= MAX_TRAINING_CUSTOMERS:
        return histories
    ranked = sorted(histories, key=lambda h: hashlib.sha256(h.customer_id.encode()).hexdigest())
    return ranked[:MAX_TRAINING_CUSTOMERS]


def _rules(version: str, now: datetime, why: str) -> ChurnModel:
    return ChurnModel(
        version=version,
        method=RULES,
        trained_at=now,
        note=f"Too little history for a model ({why}); the rules apply.",
        metrics={"note": why},
    )


def _matrix(taken: Sequence[Snapshot]) -> Any:
    return np.array([[s.features[name] for name in FEATURE_NAMES] for s in taken], dtype=float)


def evaluate(model: ChurnModel, held_out: Sequence[Snapshot]) -> dict[str, Any]:
    """The model's quality on snapshots it never saw, next to the baseline rule's."""
    y = np.array([s.churned for s in held_out])
    p = np.array([score(model, s.features).probability for s in held_out])
    baseline = np.array([1.0 if s.usage_fell else 0.0 for s in held_out])
    observed, predicted = calibration_curve(y, p, n_bins=5, strategy="quantile")
    by_kind = {}
    for kind in ("voluntary", "involuntary"):
        # This kind of churn against staying (the other kind left out).
        rows = [i for i, s in enumerate(held_out) if s.kind in (kind, None)]
        labels = y[rows]
        if 0 < labels.sum() < len(rows):
            by_kind[kind] = {
                "churns": int(labels.sum()),
                "roc_auc": round(float(roc_auc_score(labels, p[rows])), 4),
            }
    return {
        "held_out": {
            "snapshots": len(held_out),
            "churns": int(y.sum()),
            "from": held_out[0].at.isoformat(),
            "to": held_out[-1].at.isoformat(),
        },
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "pr_auc": round(float(average_precision_score(y, p)), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "base_rate": round(float(y.mean()), 4),
        "calibration": [
            {"predicted": round(float(a), 4), "observed": round(float(b), 4)}
            for a, b in zip(predicted, observed, strict=True)
        ],
        "baseline": {
            "rule": "usage fell by half",
            "roc_auc": round(float(roc_auc_score(y, baseline)), 4),
            "pr_auc": round(float(average_precision_score(y, baseline)), 4),
        },
        "by_kind": by_kind,
    }
