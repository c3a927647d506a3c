"""Assignment is a pure function of experiment and subject that follows the weights; a
variant's terms are the config's with exactly its overrides; price lookup keys round-trip
with and without a book."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from scipy import stats

from core.config import EngineConfig
from domain.catalog import Catalog
from domain.experiments.assignment import assign, bucket
from domain.experiments.model import (
    Experiment,
    ExperimentState,
    Overrides,
    Variant,
    price_books,
    variant_terms,
)
from domain.lifecycle import BillingInterval
from domain.payments import PriceRef
from domain.terms import Terms

EXPERIMENT = Experiment(
    id="pro_price",
    name="Pro price",
    state=ExperimentState.RUNNING,
    variants=(
        Variant("control", 50),
        Variant("higher", 30, Overrides(monthly_price_cents={"pro": 11900})),
        Variant("trial21", 20, Overrides(trial_length=timedelta(days=21))),
    ),
)


def test_assignment_is_deterministic_and_independent_of_other_experiments() -> None:
    subjects = [f"user-{i}" for i in range(500)]
    first = [assign(EXPERIMENT, s) for s in subjects]
    assert first == [assign(EXPERIMENT, s) for s in subjects]
    # Another experiment cuts the same subjects independently.
    other = replace(EXPERIMENT, id="other")
    same = sum(assign(other, s) == v for s, v in zip(subjects, first, strict=True))
    assert same < 0.6 * len(subjects)
    assert all(0 <= bucket("x", s) < 1 for s in subjects)


def test_assignment_follows_the_weights() -> None:
    n = 20_000
    counts = {v.id: 0 for v in EXPERIMENT.variants}
    for i in range(n):
        counts[assign(EXPERIMENT, f"subject-{i}")] += 1
    expected = [n * v.weight / 100 for v in EXPERIMENT.variants]
    observed = [counts[v.id] for v in EXPERIMENT.variants]
    chi2, p_value = stats.chisquare(observed, expected)
    print(f"\nassignment of {n} ids: {counts} (chi-square {chi2:.2f}, p = {p_value:.3f})")
    assert p_value > 0.001
    # A planted skew is caught: the same counts against equal thirds.
    assert stats.chisquare(observed, [n / 3] * 3)[1] < 1e-6


def test_variant_terms_apply_exactly_the_overrides(engine_config: EngineConfig) -> None:
    terms = Terms(policy=engine_config.policy, catalog=engine_config.catalog)
    assert variant_terms(terms, EXPERIMENT, "control") == terms

    higher = variant_terms(terms, EXPERIMENT, "higher")
    assert higher.policy == terms.policy
    catalog = higher.catalog
    assert catalog.price_book == "pro_price.higher"
    assert catalog.plan("pro").monthly_price_cents == 11900
    assert catalog.price_cents(catalog.plan("pro"), BillingInterval.YEAR) == 121380  # 15 % off
    # Everything else as the config has it.
    assert replace(catalog, plans=terms.catalog.plans, price_book=None) == replace(
        terms.catalog, price_books={}
    )

    trial = variant_terms(terms, EXPERIMENT, "trial21")
    assert trial.catalog == terms.catalog
    assert trial.policy.trial.length == timedelta(days=21)
    assert replace(trial.policy.trial, length=terms.policy.trial.length) == terms.policy.trial

    discount = replace(
        EXPERIMENT,
        variants=(Variant("control", 1), Variant("d25", 1, Overrides(annual_discount_percent=25))),
    )
    annual = variant_terms(terms, discount, "d25").catalog
    assert annual.price_cents(annual.plan("pro"), BillingInterval.YEAR) == 89100
    assert annual.price_cents(annual.plan("pro"), BillingInterval.MONTH) == 9900
    # Add-ons keep the list discount: their provider prices have no book.
    addon = annual.addons["extra_chatbot"]
    assert annual.addon_price_cents(addon, BillingInterval.YEAR) == 5100


def test_the_list_catalog_knows_the_books_of_every_experiment(
    engine_config: EngineConfig,
) -> None:
    # A draft's too: its prices are at the provider before an operator starts it.
    books = price_books((EXPERIMENT, replace(EXPERIMENT, id="draft", state=ExperimentState.DRAFT)))
    assert list(books) == ["pro_price.higher", "draft.higher"]
    catalog: Catalog = replace(engine_config.catalog, price_books=books)
    assert catalog.in_book("pro_price.higher").plan("pro").monthly_price_cents == 11900
    assert catalog.in_book(None) is catalog
    with pytest.raises(KeyError):
        catalog.in_book("nope.nope")


@pytest.mark.parametrize(
    ("ref", "key"),
    [
        (PriceRef("pro", BillingInterval.MONTH), "plan_pro_month"),
        (PriceRef("team_plus", BillingInterval.YEAR), "plan_team_plus_year"),
        (
            PriceRef("pro", BillingInterval.YEAR, book="pro_price.higher"),
            "plan_pro_year@pro_price.higher",
        ),
        (
            PriceRef("team_plus", BillingInterval.MONTH, book="x-1.v_2"),
            "plan_team_plus_month@x-1.v_2",
        ),
    ],
)
def test_price_lookup_keys_round_trip(ref: PriceRef, key: str) -> None:
    assert ref.lookup_key == key
    assert PriceRef.from_lookup_key(key) == ref


@pytest.mark.parametrize(
    "key", [None, "", "addon_extra_chatbot_month", "plan_pro_week", "plan_pro_month@"]
)
def test_other_lookup_keys_are_no_plan_price(key: str | None) -> None:
    assert PriceRef.from_lookup_key(key) is None
