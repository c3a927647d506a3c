"""``[tax]``: the shipped file names the seller and charges nothing until turned on; what
is configured reaches the engine; a bad seller (tax id check digits, country, invoice
prefix) or tax on without a seller is refused naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_config
from core.settings import REPO_ROOT
from domain.tax.calculation import TaxBehavior

SHIPPED = (REPO_ROOT / "lifecycle.toml").read_text()


def variant(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = SHIPPED
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "lifecycle.toml"
    path.write_text(text)
    return path


def test_the_shipped_config_names_the_seller_and_charges_no_tax() -> None:
    tax = load_config(REPO_ROOT / "lifecycle.toml").tax
    assert tax.enabled is False
    assert tax.seller is not None and tax.seller.country == "IE"
    assert [t.value for t in tax.seller.tax_ids] == ["IE6388047V"]
    assert tax.seller.invoice_prefix is None
    assert tax.behavior_for("EUR") is TaxBehavior.INCLUSIVE
    assert tax.behavior_for("usd") is TaxBehavior.EXCLUSIVE


def test_turned_on_with_an_account_prefix(tmp_path: Path) -> None:
    tax = load_config(
        variant(
            tmp_path,
            ("enabled = false\n# Whether prices", "enabled = true\n# Whether prices"),
            ('# invoice_prefix = "CHAT"', 'invoice_prefix = "CHAT"'),
        )
    ).tax
    assert tax.enabled and tax.seller is not None and tax.seller.invoice_prefix == "CHAT"


@pytest.mark.parametrize(
    ("replacement", "named"),
    [
        (('value = "IE6388047V"', 'value = "IE6388047X"'), "tax.seller.tax_ids"),
        (('country = "IE"', 'country = "Ireland"'), "tax.seller.country"),
        (('# invoice_prefix = "CHAT"', 'invoice_prefix = "chat-"'), "tax.seller.invoice_prefix"),
        (('eur = "inclusive", gbp', 'eur = "gross", gbp'), "tax.behavior_by_currency"),
        (('eur = "inclusive", gbp', 'zzz = "inclusive", gbp'), "tax.behavior_by_currency"),
    ],
)
def test_a_bad_seller_or_behavior_is_refused(
    tmp_path: Path, replacement: tuple[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config(variant(tmp_path, replacement))


def test_tax_on_needs_a_seller(tmp_path: Path) -> None:
    start = SHIPPED.index("[tax.seller]")
    end = SHIPPED.index("\n[", start + 1)
    path = tmp_path / "lifecycle.toml"
    path.write_text(
        (SHIPPED[:start] + SHIPPED[end:]).replace(
            "enabled = false\n# Whether prices", "enabled = true\n# Whether prices", 1
        )
    )
    with pytest.raises(ConfigError, match=r"tax\.seller"):
        load_config(path)
