"""The `[competitors.<id>]` tables of the config file: parsed into domain values, and every
mistake refused with the offending key named."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from core.config import ConfigError, load_config
from core.settings import REPO_ROOT
from domain.lifecycle import BillingInterval
from tests.factories.competitors import config_with_competitors


def _plan(**keys: str) -> str:
    """A competitor `acme` with one plan `p`, its keys defaulted unless given (TOML)."""
    values = {
        "name": '"P"',
        "price_cents": "1900",
        "interval": '"month"',
        "limits": "{ messages = 2000 }",
        **keys,
    }
    body = "\n".join(f"{key} = {value}" for key, value in values.items() if value)
    head = '[competitors.acme]\nname = "Acme"\ncurrency = "usd"\n'
    return f"{head}\n[competitors.acme.plans.p]\n{body}\n"


def test_the_shipped_competitors_load_and_are_marked_fictional() -> None:
    config = load_config(REPO_ROOT / "lifecycle.toml")
    assert len(config.competitors) >= 2
    for competitor in config.competitors:
        assert "fictional" in competitor.name
        assert competitor.currency == config.catalog.currency
        assert competitor.plans


def test_limits_overage_and_interval_become_domain_values(tmp_path: Path) -> None:
    text = _plan(
        interval='"year"',
        price_cents="22800",
        limits='{ chatbots = "unlimited", messages = 2000, tokens = 0 }',
        overage_cents='{ messages = "0.25", api_calls = 1 }',
    )
    config = load_config(config_with_competitors(tmp_path, text.replace('"usd"', '"USD"')))
    (acme,) = config.competitors
    assert (acme.id, acme.name, acme.currency) == ("acme", "Acme", "usd")
    (plan,) = acme.plans
    assert (plan.id, plan.price_cents, plan.interval) == ("p", 22800, BillingInterval.YEAR)
    # Unlimited is None; api_calls, left out, stays unknown (absent).
    assert dict(plan.limits) == {"chatbots": None, "messages": 2000, "tokens": 0}
    assert dict(plan.overage_cents) == {"messages": Decimal("0.25"), "api_calls": Decimal(1)}


def test_no_competitors_is_fine(tmp_path: Path) -> None:
    assert load_config(config_with_competitors(tmp_path, "")).competitors == ()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (_plan().replace('"usd"', '"eur"'), "competitors.acme.currency 'eur' is not the catalog"),
        (_plan().replace('"usd"', '"dollars"'), "competitors.acme.currency"),
        (_plan(price_cents="-100"), "competitors.acme.plans.p.price_cents"),
        (_plan(price_cents=""), "competitors.acme.plans.p.price_cents: Field required"),
        (_plan(interval='"week"'), "competitors.acme.plans.p.interval"),
        (_plan(limits="{ seats = 3 }"), "competitors.acme.plans.p.limits: Value error, unknown"),
        (_plan(limits="{ messages = -5 }"), "competitors.acme.plans.p.limits"),
        (_plan(limits='{ messages = "lots" }'), 'messages: a whole number >= 0 or "unlimited"'),
        (_plan(limits="{ messages = 2.5 }"), "competitors.acme.plans.p.limits"),
        (_plan(overage_cents="{ messages = 0.25 }"), "a decimal string such as"),
        (_plan(overage_cents='{ messages = "-1" }'), "competitors.acme.plans.p.overage_cents"),
        (_plan(overage_cents='{ messages = "NaN" }'), "competitors.acme.plans.p.overage_cents"),
        (_plan(overage_cents='{ words = "1" }'), "unknown metric(s) ['words']"),
        (
            _plan(limits='{ messages = "unlimited" }', overage_cents='{ messages = "1" }'),
            "overage_cents on unlimited metric(s) ['messages']",
        ),
        (_plan(colour='"red"'), "competitors.acme.plans.p.colour"),
        ('[competitors.acme]\nname = "Acme"\ncurrency = "usd"\nplans = {}\n', "plans"),
    ],
)
def test_mistakes_are_refused_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = config_with_competitors(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert named in str(refused.value)
