"""``[experiments.<id>]`` in the config file: parsed into experiments and the list
catalog's price books; every mistake is a ConfigError naming the field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.config import ConfigError, load_config
from domain.catalog import PriceBook
from domain.experiments.model import ExperimentState
from tests.factories.experiments import config_with, experiment_section


def test_an_experiment_is_parsed_with_its_price_book(tmp_path: Path) -> None:
    trial = """
[experiments.trial_len]
name = "Three weeks of trial"
[experiments.trial_len.variants.control]
weight = 1
[experiments.trial_len.variants.long]
weight = 1
trial_length = "21d"
annual_discount_percent = 20
"""
    config = load_config(config_with(tmp_path, experiment_section("pro_price"), trial))
    # After the shipped draft (lifecycle.toml's pro_119).
    shipped, pro, lengths = config.experiments
    assert (shipped.id, shipped.state) == ("pro_119", ExperimentState.DRAFT)
    assert pro.id == "pro_price" and pro.state is ExperimentState.RUNNING
    assert [v.id for v in pro.variants] == ["control", "higher"]
    assert pro.variant("higher").overrides.monthly_price_cents == {"pro": 11900}
    assert lengths.state is ExperimentState.DRAFT
    assert lengths.variant("long").overrides.trial_length == timedelta(days=21)
    # Every book is sold, the draft's too (its prices exist before an operator starts it).
    # (Besides the regions' books, lifecycle.toml's [regions.*].)
    experiment_books = {
        book: prices
        for book, prices in config.catalog.price_books.items()
        if not book.startswith("region:")
    }
    assert experiment_books == {
        "pro_119.higher": PriceBook({"pro": 11900}, None),
        "pro_price.higher": PriceBook({"pro": 11900}, None),
        "trial_len.long": PriceBook({}, 20),
    }


@pytest.mark.parametrize(
    ("section", "named"),
    [
        (experiment_section("a.b"), "experiments.a.b"),
        (experiment_section("pp", extra="colour = 1"), "experiments.pp.colour"),
        (experiment_section("pp", higher_weight=0), "experiments.pp.variants.higher.weight"),
        (
            experiment_section("pp").replace("pro = 11900", "enterprise = 100"),
            "experiments.pp.variants.higher.monthly_price_cents",
        ),
        (
            experiment_section("pp").replace("pro = 11900", "pro = -1"),
            "experiments.pp.variants.higher.monthly_price_cents",
        ),
        (experiment_section("pp", extra='control = "base"'), "experiments.pp"),
        (
            experiment_section("pp").replace(
                "weight = 50\n\n", 'weight = 50\ntrial_length = "3d"\n'
            ),
            "experiments.pp",
        ),
        (experiment_section("pp", status="paused"), "experiments.pp.status"),
        (experiment_section("pp") + experiment_section("qq"), "running"),
    ],
)
def test_mistakes_name_the_field(tmp_path: Path, section: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config_with(tmp_path, section))
    assert named in str(caught.value)
