"""Tax rules on Stripe-shaped amounts (minor units): EU VAT and its B2B reverse charge, UK
VAT, US state sales tax, Canada's GST/HST/QST, Australia's and India's GST, inclusive and
exclusive prices, a zero-decimal currency, and tax ids checked by python-stdnum."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.tax.calculation import (
    REVERSE_CHARGE_NOTE,
    Buyer,
    Taxability,
    TaxBehavior,
    compute,
    taxes_for,
)
from domain.tax.rates import TaxKind, rates_for
from domain.tax.tax_ids import InvalidTaxId, validate_tax_id

SELLER = "IE"
EXCLUSIVE, INCLUSIVE = TaxBehavior.EXCLUSIVE, TaxBehavior.INCLUSIVE
# Published example numbers with valid check digits.
DE_VAT = "DE 136,695,976"
FR_VAT = "FR 40 303 265 045"
GB_VAT = "GB 980 7806 84"
IN_GSTIN = "27AAPFU0939F1ZV"


def test_an_eu_consumer_pays_their_countrys_vat_on_top() -> None:
    taxability = taxes_for(Buyer("DE"), SELLER)
    taxed = compute(2900, taxability, EXCLUSIVE)
    (line,) = taxed.lines
    assert (line.rate.kind, line.rate.percentage, line.rate.jurisdiction) == (
        TaxKind.VAT,
        Decimal("19"),
        "DE",
    )
    assert (taxed.subtotal, line.amount, taxed.total) == (2900, 551, 3451)
    assert not taxed.reverse_charge and taxability.note is None


def test_an_eu_business_abroad_with_a_valid_vat_id_is_reverse_charged() -> None:
    tax_id = validate_tax_id("eu_vat", DE_VAT)
    assert (tax_id.value, tax_id.country) == ("DE136695976", "DE")
    taxability = taxes_for(Buyer("DE", tax_id=tax_id), SELLER)
    taxed = compute(2900, taxability, EXCLUSIVE)
    assert taxed.lines == () and taxed.total == 2900 and taxed.reverse_charge
    assert taxability.note == REVERSE_CHARGE_NOTE


def test_a_business_in_the_sellers_own_country_pays_its_vat() -> None:
    tax_id = validate_tax_id("eu_vat", FR_VAT)
    taxability = taxes_for(Buyer("FR", tax_id=tax_id), "FR")
    assert not taxability.reverse_charge
    assert [r.percentage for r in taxability.rates] == [Decimal("20")]


def test_a_vat_id_of_another_country_does_not_exempt() -> None:
    tax_id = validate_tax_id("eu_vat", FR_VAT)
    assert taxes_for(Buyer("DE", tax_id=tax_id), SELLER).rates == rates_for("DE")


@pytest.mark.parametrize(
    ("type_", "value", "reason"),
    [
        ("eu_vat", "DE136695978", "check digits"),
        ("eu_vat", "DE13669597", "length"),
        ("gb_vat", "GB980780685", "check digits"),
        ("in_gst", "27AAPFU0939F1ZX", "check digits"),
        ("eu_vat", "not a number", "format"),
        ("xx_vat", "123", "unsupported"),
        ("ca_gst_hst", "123456782", "BN15"),
    ],
)
def test_malformed_tax_ids_are_refused_with_the_reason(type_: str, value: str, reason: str) -> None:
    with pytest.raises(InvalidTaxId, match=reason):
        validate_tax_id(type_, value)


def test_us_sales_tax_is_the_states_and_only_where_saas_is_taxed() -> None:
    taxed = compute(10_000, taxes_for(Buyer("US", "NY"), SELLER), EXCLUSIVE)
    (line,) = taxed.lines
    assert (line.rate.jurisdiction, line.amount, taxed.total) == ("US-NY", 400, 10_400)
    assert compute(10_000, taxes_for(Buyer("US", "CA"), SELLER), EXCLUSIVE).lines == ()
    assert compute(10_000, taxes_for(Buyer("US"), SELLER), EXCLUSIVE).lines == ()


def test_canada_charges_gst_and_the_provinces_tax_as_separate_lines() -> None:
    quebec = compute(10_000, taxes_for(Buyer("CA", "QC"), SELLER), EXCLUSIVE)
    assert [(line.rate.kind, line.amount) for line in quebec.lines] == [
        (TaxKind.GST, 500),
        (TaxKind.QST, 998),
    ]
    assert quebec.total == 11_498
    ontario = compute(10_000, taxes_for(Buyer("CA", "ON"), SELLER), EXCLUSIVE)
    assert [(line.rate.kind, line.amount) for line in ontario.lines] == [(TaxKind.HST, 1300)]


def test_an_inclusive_price_keeps_its_total_australia_and_a_zero_decimal_currency() -> None:
    au = compute(1100, taxes_for(Buyer("AU"), SELLER), INCLUSIVE)
    assert (au.subtotal, au.tax, au.total) == (1000, 100, 1100)
    # 4,400 JPY (no minor unit) to a UK consumer, VAT included: 3,667 + 733.
    gb = compute(4400, taxes_for(Buyer("GB"), SELLER), INCLUSIVE)
    assert (gb.subtotal, gb.tax, gb.total) == (3667, 733, 4400)


def test_gb_and_india_business_buyers_of_a_foreign_seller_are_reverse_charged() -> None:
    gb = taxes_for(Buyer("GB", tax_id=validate_tax_id("gb_vat", GB_VAT)), SELLER)
    india = taxes_for(Buyer("IN", tax_id=validate_tax_id("in_gst", IN_GSTIN)), SELLER)
    assert gb.reverse_charge and india.reverse_charge
    assert [r.percentage for r in taxes_for(Buyer("IN"), SELLER).rates] == [Decimal("18")]


def test_no_tax_where_none_is_charged() -> None:
    assert taxes_for(Buyer("BR"), SELLER) == Taxability(rates=())


@given(
    amount=st.integers(min_value=0, max_value=10**9),
    place=st.sampled_from([("DE", None), ("CA", "QC"), ("CA", "BC"), ("HU", None), ("US", "TX")]),
)
def test_inclusive_lines_add_up_to_the_price_and_exclusive_lines_round_half_up(
    amount: int, place: tuple[str, str | None]
) -> None:
    taxability = taxes_for(Buyer(*place), SELLER)
    inclusive = compute(amount, taxability, INCLUSIVE)
    assert inclusive.subtotal + inclusive.tax == inclusive.total == amount
    exclusive = compute(amount, taxability, EXCLUSIVE)
    assert exclusive.total == amount + exclusive.tax
    for line in exclusive.lines:
        exact = Decimal(amount) * line.rate.percentage / 100
        assert abs(Decimal(line.amount) - exact) <= Decimal("0.5")
