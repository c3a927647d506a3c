"""The `[segments.<id>]` tables of the config file: parsed into domain segments, and every
mistake refused with the offending field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_config
from core.settings import REPO_ROOT
from domain.growth.segments import SegmentRules

_CATALOG = """
[plans.starter]
name = "Starter"
monthly_price_cents = 2900

[plans.pro]
name = "Pro"
monthly_price_cents = 9900
"""


def _load(tmp_path: Path, segments: str) -> object:
    path = tmp_path / "lifecycle.toml"
    path.write_text(_CATALOG + segments)
    return load_config(path)


def test_the_shipped_segments_load() -> None:
    config = load_config(REPO_ROOT / "lifecycle.toml")
    assert len(config.segments) >= 3
    assert all(s.name and not s.computed for s in config.segments)


def test_every_rule_becomes_a_domain_rule(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        """
[segments.target]
name = "Target"
description = "All of it"
plans = ["pro"]
statuses = ["active", "past_due"]
usage_groups = [1]
usage_trends = ["declining"]
churn_risks = ["high", "medium"]
min_tenure_days = 30
max_tenure_days = 365
countries = ["de", "FR"]
""",
    )
    (segment,) = config.segments  # type: ignore[attr-defined]
    assert segment.id == "target" and segment.description == "All of it"
    assert segment.rules == SegmentRules(
        plans=("pro",),
        statuses=("active", "past_due"),
        usage_groups=(1,),
        usage_trends=("declining",),
        churn_risks=("high", "medium"),
        min_tenure_days=30,
        max_tenure_days=365,
        countries=("DE", "FR"),
    )


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('plans = ["gold"]', "x.plans: unknown plan(s) ['gold']"),
        ('statuses = ["zombie"]', "segments.x.statuses.0"),
        ('churn_risks = ["extreme"]', "segments.x.churn_risks.0"),
        ('usage_trends = ["up"]', "segments.x.usage_trends.0"),
        ('countries = ["Germany"]', "segments.x.countries"),
        ("min_tenure_days = -1", "segments.x.min_tenure_days"),
        ("min_tenure_days = 10\nmax_tenure_days = 5", "min_tenure_days 10 is above"),
        ("plans = []", "segments.x.plans"),
        ('colour = "red"', "segments.x.colour"),
        ('usage_groups = ["a"]', "segments.x.usage_groups.0"),
    ],
)
def test_a_mistake_names_the_field(tmp_path: Path, body: str, named: str) -> None:
    with pytest.raises(ConfigError, match="segments") as raised:
        _load(tmp_path, f'[segments.x]\nname = "X"\n{body}\n')
    assert named in str(raised.value)


def test_a_segment_needs_a_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"segments\.x\.name"):
        _load(tmp_path, '[segments.x]\nplans = ["pro"]\n')


def test_computed_ids_are_reserved(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="usage-group:1: ids starting"):
        _load(tmp_path, '[segments."usage-group:1"]\nname = "X"\n')
