"""Lifecycle emails in each supported language: every template filled, money and dates the
locale's way (Babel), English when the locale is missing or unknown."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from domain.email_texts import TEXTS
from domain.emails import EmailTemplate, display_values, render_email
from domain.locales import SUPPORTED_LANGUAGES, format_amount, format_day, normalize_locale

# Every field some template reads, so no placeholder can stay empty unnoticed.
DATA = {
    "trial_days": 14,
    "trial_ends_at": "2025-03-05T10:00:00+00:00",
    "days_left": 3,
    "days_since_expiry": 7,
    "days": 5,
    "offer": "20% off",
    "plan_name": "Pro",
    "previous_plan_name": "Starter",
    "interval": "month",
    "amount_cents": 2900,
    "currency": "eur",
    "period_end_at": "2025-04-05T00:00:00+00:00",
    "effective_at": "2025-04-05T00:00:00+00:00",
    "at_period_end": True,
    "resumes_at": "2025-05-01T00:00:00+00:00",
    "next_retry_at": "2025-03-08T00:00:00+00:00",
    "attempt": 2,
    "hosted_invoice_url": "https://pay.example/inv_1",
    "percent": 80,
    "used": 800,
    "limit": 1000,
    "metric_name": "messages",
    "upgrade_plan_name": "Scale",
    "headline": "20% off",
    "expires_at": "2025-03-20T00:00:00+00:00",
    "offer_id": "ofr_1",
}
ENGLISH_WORDS = {"your", "you", "the", "been", "is", "for", "welcome", "payment"}
ENGLISH_WORDS |= {"trial", "subscription", "ended", "left", "offer", "reached"}


def nbsp(text: str) -> str:
    # Babel separates amounts and symbols with (narrow) no-break spaces.
    return text.replace("\xa0", " ").replace("\u202f", " ")


def render(template: EmailTemplate, locale: str | None, **data: object):
    return render_email(
        template,
        {**DATA, **data},
        name="Ada",
        product="Botly",
        app_url="https://app.example/",
        locale=locale,
    )


def test_every_language_has_every_template_with_the_english_placeholders() -> None:
    assert set(TEXTS) == set(SUPPORTED_LANGUAGES)
    fields = re.compile(r"{(\w+)}")
    for template in EmailTemplate:
        subject, body = TEXTS["en"].templates[template.value]
        for language in SUPPORTED_LANGUAGES:
            translated = TEXTS[language].templates[template.value]
            assert set(fields.findall(translated[0])) == set(fields.findall(subject)), (
                language,
                template,
            )
            assert set(fields.findall(translated[1])) == set(fields.findall(body)), (
                language,
                template,
            )
        for language in SUPPORTED_LANGUAGES:
            assert set(TEXTS[language].phrases) == set(TEXTS["en"].phrases), language


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("template", list(EmailTemplate))
def test_each_template_renders_filled_in_each_language(
    template: EmailTemplate, language: str
) -> None:
    email = render(template, language)
    english = render(template, "en")
    for text in (email.subject, email.body):
        assert "{" not in text and "}" not in text
    assert email.subject.strip() and email.body.strip()
    if language != "en":
        assert email.subject != english.subject
        assert email.body != english.body
        words = set(re.findall(r"[a-z]+", email.subject.lower()))
        assert not words & ENGLISH_WORDS, (template, email.subject)


def test_no_locale_or_an_unknown_one_is_english() -> None:
    english = render(EmailTemplate.WELCOME, "en")
    assert render(EmailTemplate.WELCOME, None) == english
    assert render(EmailTemplate.WELCOME, "xx-YY") == english
    assert english.subject == "Welcome to Botly, your free trial has started"
    assert english.body.startswith("Hi Ada,\n\nYour 14-day free trial of Botly is ready.")
    assert english.body.endswith("Your trial ends on March 5, 2025.")


def test_money_per_locale() -> None:
    assert nbsp(format_amount(2900, "eur", "de")) == "29,00 €"
    assert format_amount(2900, "usd", "en") == "$29.00"
    assert nbsp(format_amount(2900, "usd", "de")) == "29,00 $"
    assert nbsp(format_amount(123456, "eur", "fr")) == "1 234,56 €"
    # JPY has no minor unit: 2900 is ¥2,900, never ¥29.00.
    assert format_amount(2900, "jpy", "ja") == "￥2,900"
    assert format_amount(2900, "jpy", "en") == "¥2,900"
    converted = render(EmailTemplate.TRIAL_CONVERTED, "ja", amount_cents=2900, currency="jpy")
    assert "￥2,900" in converted.body and "29.00" not in converted.body
    german = render(EmailTemplate.TRIAL_CONVERTED, "de", amount_cents=2900, currency="usd")
    assert "29,00 $" in nbsp(german.body)
    assert "$29.00" in render(EmailTemplate.TRIAL_CONVERTED, "en", currency="usd").body


def test_dates_per_locale() -> None:
    day = datetime(2025, 3, 5, 10, tzinfo=UTC)
    expected = {
        "en": "March 5, 2025",
        "de": "5. März 2025",
        "fr": "5 mars 2025",
        "es": "5 de marzo de 2025",
        "pt": "5 de março de 2025",
        "ja": "2025年3月5日",
    }
    assert {lang: format_day(day, lang) for lang in SUPPORTED_LANGUAGES} == expected
    for language, text in expected.items():
        assert text in render(EmailTemplate.WELCOME, language).body


def test_optional_lines_follow_the_language() -> None:
    german = render(EmailTemplate.PAYMENT_FAILED, "de")
    assert "Wir versuchen es am 8. März 2025 erneut." in german.body
    last = render(EmailTemplate.PAYMENT_FAILED, "de", next_retry_at=None)
    assert "Das war unser letzter Versuch." in last.body
    ended = render(EmailTemplate.SUBSCRIPTION_CANCELED, "fr", at_period_end=False)
    assert "Votre abonnement Pro est terminé." in ended.body
    yearly = render(EmailTemplate.PLAN_CHANGED, "es", interval="year")
    assert "(facturación anual)" in yearly.body
    # A region shapes the formats, the language the words.
    brazil = render(EmailTemplate.TRIAL_CONVERTED, "pt-BR", currency="brl")
    assert "R$ 29,00" in nbsp(brazil.body) and "Obrigado" in brazil.body


def test_anonymous_salutation() -> None:
    email = render_email(EmailTemplate.WELCOME, DATA, name=None, product="Botly", locale="de")
    assert email.body.startswith("Hallo,\n\n")
    english = render_email(EmailTemplate.WELCOME, DATA, name=None, product="Botly")
    assert english.body.startswith("Hi there,\n\n")


def test_notifications_values_stay_english_by_default() -> None:
    values = display_values({"next_retry_at": "2025-03-08T00:00:00+00:00"})
    assert values["next_retry_on"] == "March 8, 2025"


@pytest.mark.parametrize(
    ("given", "stored"),
    [("de", "de"), ("DE", "de"), ("pt_BR", "pt-BR"), ("pt-br", "pt-BR"), (" ja ", "ja")],
)
def test_locale_spellings_normalize(given: str, stored: str) -> None:
    assert normalize_locale(given) == stored


@pytest.mark.parametrize("given", ["", "xx-YY", "zh", "en-XX", "not a locale"])
def test_unknown_or_unsupported_locales_are_refused(given: str) -> None:
    with pytest.raises(ValueError):
        normalize_locale(given)
