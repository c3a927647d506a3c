"""The payment methods a Checkout offers, by the customer's currency and country."""

from __future__ import annotations

import pytest

from domain.emails import EmailTemplate, render_email
from domain.payment_methods import DELAYED, KNOWN, SEPA_COUNTRIES, checkout_methods
from tests.factories.stripe_spec import spec


@pytest.mark.parametrize(
    ("currency", "country", "expected"),
    [
        ("usd", "US", ("card",)),
        ("brl", "BR", ("card", "boleto", "pix")),
        ("inr", "IN", ("card", "upi")),
        ("eur", "DE", ("card", "sepa_debit")),
        ("eur", "NL", ("card", "sepa_debit", "ideal")),
        ("eur", "BE", ("card", "sepa_debit", "bancontact")),
        ("jpy", "JP", ("card",)),
        # Each local method takes its one currency only, and only where it is local.
        ("usd", "BR", ("card",)),
        ("eur", "BR", ("card",)),
        ("brl", "PT", ("card",)),
        ("eur", "US", ("card",)),
        ("inr", "US", ("card",)),
        # Where the customer is unknown, nothing local.
        ("eur", None, ("card",)),
        # Codes as people type them.
        ("BRL", "br", ("card", "boleto", "pix")),
    ],
)
def test_methods_follow_currency_and_country(
    currency: str, country: str | None, expected: tuple[str, ...]
) -> None:
    assert checkout_methods(currency, country) == expected


def test_only_bank_debits_and_vouchers_settle_later() -> None:
    assert sorted(DELAYED) == ["boleto", "sepa_debit"]


def test_sepa_covers_the_euro_area_and_the_non_eu_members() -> None:
    assert {"DE", "FR", "NL", "BE", "IE", "NO", "CH", "GB"} <= SEPA_COUNTRIES
    assert not {"US", "BR", "IN", "JP", "TR"} & SEPA_COUNTRIES


def test_every_method_is_a_stripe_checkout_payment_method_type() -> None:
    create = spec()["paths"]["/v1/checkout/sessions"]["post"]["requestBody"]["content"]
    params = create["application/x-www-form-urlencoded"]["schema"]["properties"]
    offered = set(params["payment_method_types"]["items"]["enum"])
    objects = set(spec()["components"]["schemas"]["payment_method"]["properties"])
    assert not KNOWN - offered and not KNOWN - objects


@pytest.mark.parametrize(
    ("locale", "subject", "phrase"),
    [("en", "Your Botly payment is on its way", "boleto"), ("pt-BR", "a caminho", "boletos")],
)
def test_the_payment_processing_email_in_two_languages(
    locale: str, subject: str, phrase: str
) -> None:
    email = render_email(
        EmailTemplate.CHECKOUT_PAYMENT_PROCESSING,
        {"plan_name": "Pro"},
        name="Ada",
        product="Botly",
        locale=locale,
    )
    assert subject in email.subject
    assert "Pro" in email.body and phrase in email.body
