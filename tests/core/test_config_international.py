"""The config's currencies and regions (issue 15 parts 1 and 2): amounts in each
currency's minor unit (CLDR's, through Babel), every price in every currency, regions with
valid, unshared countries; a mistake names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_config
from core.settings import REPO_ROOT
from domain.regions import customer_catalog, region_book, region_for

SHIPPED = (REPO_ROOT / "lifecycle.toml").read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lifecycle.toml"
    path.write_text(text)
    return path


def test_the_shipped_catalog_in_each_currency_and_region() -> None:
    config = load_config(REPO_ROOT / "lifecycle.toml")
    catalog = config.catalog
    assert config.reporting_currency == "usd"
    yen = catalog.in_currency("jpy")
    assert (yen.currency, yen.plan("pro").monthly_price_cents) == ("jpy", 14800)
    assert yen.annual_price_cents(yen.plan("pro")) == 150960  # whole yen
    assert yen.addon_price_cents(yen.addons["extra_chatbot"], None) == 750
    rupees = catalog.in_currency("inr")
    assert rupees.plan("starter").monthly_price_cents == 249900  # paise
    with pytest.raises(KeyError, match="chf"):
        catalog.in_currency("chf")

    india = region_for(config.regions, "in")
    assert india is not None and india.id == "india"
    local = customer_catalog(catalog, currency="inr", region_book=region_book("india"))
    assert local.plan("starter").monthly_price_cents == 99900  # explicit
    # In another currency the region's multiplier (0.4) applies to that list price.
    in_eur = customer_catalog(catalog, currency="eur", region_book=region_book("india"))
    assert in_eur.plan("pro").monthly_price_cents == 3680
    assert region_for(config.regions, "US") is None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('jpy = "4400" }', 'jpy = "4400.5" }', "jpy: 4400.5 has more decimals than JPY"),
        (', jpy = "14800" }', " }", "plans.pro.prices: no price in jpy"),
        ('currencies = ["eur",', 'currencies = ["xyz",', "unknown currency 'xyz'"),
        ('countries = ["IN"]', 'countries = ["XX"]', "'XX' is not an ISO 3166-1 alpha-2"),
        ('countries = ["BR"]', 'countries = ["BR", "IN"]', "IN is already in regions.india"),
        ('price_multiplier = "0.4"', "price_multiplier = 0.4", 'a decimal string such as "0.4"'),
        ('price_multiplier = "0.6"', 'price_multiplier = "0"', "must be > 0"),
        ('starter = "999"', 'basic = "999"', "['basic'] are not priced plans"),
        ('currency = "brl"\nprice_multiplier', 'currency = "chf"\nprice_multiplier', "not sold"),
    ],
)
def test_mistakes_name_their_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in SHIPPED, old
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config(write(tmp_path, SHIPPED.replace(old, new, 1)))
