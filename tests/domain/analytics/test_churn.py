"""The churn model on generated histories with a planted driver: it learns from the past
only, ranks the driver first, beats the baseline rule, explains a score by it, and says
so when history is too short."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.config import load_config
from domain.analytics import churn
from domain.analytics.churn import (
    HORIZON,
    LOGISTIC,
    RULES,
    ChurnModel,
    rule_score,
    score,
    train,
)
from domain.analytics.features import CustomerHistory, features_at
from domain.catalog import Catalog
from tests.factories.churn import START, generated_histories

NOW = START + timedelta(weeks=52)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_config(Path(__file__).parents[3] / "lifecycle.toml").catalog


@pytest.fixture(scope="module")
def model(catalog: Catalog) -> ChurnModel:
    return train(generated_histories(), catalog, now=NOW, version="test")


def test_the_planted_driver_ranks_first_and_the_model_beats_the_baseline(
    model: ChurnModel,
) -> None:
    assert model.method == LOGISTIC
    weights = dict(zip(model.features, model.coefficients, strict=True))
    assert max(weights, key=lambda name: abs(weights[name])) == "failed_payments_90d"
    assert weights["failed_payments_90d"] > 0
    metrics = model.metrics
    assert metrics["roc_auc"] >= 0.65
    assert metrics["roc_auc"] > metrics["baseline"]["roc_auc"] + 0.1
    assert 0 < metrics["pr_auc"] <= 1 and 0 <= metrics["brier"] < metrics["base_rate"]
    # The planted churn is involuntary: the model sees it; the voluntary noise it cannot.
    assert metrics["by_kind"]["involuntary"]["roc_auc"] > 0.9


def test_it_learns_only_from_labels_known_before_the_held_out_window(model: ChurnModel) -> None:
    training_end = datetime.fromisoformat(model.metrics["training"]["to"])
    held_out_start = datetime.fromisoformat(model.metrics["held_out"]["from"])
    assert training_end + HORIZON <= held_out_start
    assert datetime.fromisoformat(model.metrics["held_out"]["to"]) + HORIZON <= NOW


def test_a_score_is_explained_by_what_raises_it(model: ChurnModel, catalog: Catalog) -> None:
    histories = generated_histories()

    def failures(history: CustomerHistory) -> list[datetime]:
        return [r.occurred_at for r in history.ledger if r.kind == "payment_failed"]

    # A card that failed twice within a month, half a year into the subscription.
    failing, second = next(
        (h, later)
        for h in histories
        for earlier, later in zip(failures(h), failures(h)[1:], strict=False)
        if later - earlier < timedelta(days=30)
        and earlier - h.ledger[0].occurred_at > timedelta(days=180)
    )
    at_risk = score(model, features_at(failing, second + timedelta(days=1), catalog))
    assert at_risk.reasons[0].feature == "failed_payments_90d"
    base_rate = model.metrics["base_rate"]
    assert at_risk.probability > 1.5 * base_rate
    calm = next(h for h in histories if all(r.kind != "payment_failed" for r in h.ledger))
    steady = score(model, features_at(calm, START + timedelta(weeks=30), catalog))
    assert steady.probability < base_rate
    assert steady.risk == "low"


def test_too_little_history_gives_the_rules_and_says_why(catalog: Catalog) -> None:
    short = train(generated_histories(customers=30, weeks=20), catalog, now=NOW, version="v")
    assert short.method == RULES
    assert "Too little history" in short.note
    features = dict.fromkeys(short.features, 0.0)
    assert score(short, features).risk == "low"
    dunning = score(short, {**features, "in_dunning": 1.0, "weeks_idle": 3.0})
    assert dunning.risk == "high"
    assert [r.feature for r in dunning.reasons] == ["in_dunning", "weeks_idle"]
    assert rule_score({**features, "usage_trend": -1.0}).risk == "medium"


def test_a_large_history_trains_on_a_fixed_sample(
    monkeypatch: pytest.MonkeyPatch, catalog: Catalog
) -> None:
    histories = generated_histories(customers=300, weeks=40)
    monkeypatch.setattr(churn, "MAX_TRAINING_CUSTOMERS", 200)
    sample = churn.training_sample(histories)
    assert len(sample) == 200
    # The same customers whatever order they were read in.
    again = churn.training_sample(list(reversed(histories)))
    assert {h.customer_id for h in again} == {h.customer_id for h in sample}
    model = churn.train(histories, catalog, now=START + timedelta(weeks=40), version="v")
    assert (model.metrics["training"]["customers"], model.metrics["training"]["of_customers"]) == (
        200,
        300,
    )
    assert churn.training_sample(histories[:150]) == histories[:150]
