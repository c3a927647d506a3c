"""The locales lifecycle emails speak, and money and dates formatted per locale (Babel)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, get_currency_precision

# The languages the email texts exist in (``domain.email_texts``); a stored locale may add a
# region (``pt-BR``, ``de-CH``), which shapes money and dates, never the words.
SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "pt", "ja")
DEFAULT_LOCALE = "en"


def normalize_locale(value: str) -> str:
    """The canonical spelling (``de``, ``pt-BR``) of a supported locale, else ValueError."""
    text = value.strip()
    if not text:
        raise ValueError("must be a locale such as 'de' or 'pt-BR'")
    try:
        parsed = Locale.parse(text.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(f"unknown locale {value!r}") from None
    if parsed.language not in SUPPORTED_LANGUAGES:
        supported = ", ".join(SUPPORTED_LANGUAGES)
        raise ValueError(f"unsupported locale {value!r}; supported languages: {supported}")
    return "-".join(part for part in (parsed.language, parsed.script, parsed.territory) if part)


def resolve_locale(value: str | None) -> Locale:
    """The locale to render in: the stored one when supported, else English."""
    try:
        return Locale.parse(normalize_locale(value).replace("-", "_")) if value else _default()
    except ValueError:
        return _default()


def _default() -> Locale:
    return Locale.parse(DEFAULT_LOCALE)


def minor_units_to_amount(amount: int, currency: str) -> Decimal:
    """Stripe-style minor units (cents, or yen for a zero-decimal currency) as a decimal."""
    return Decimal(amount).scaleb(-get_currency_precision(currency.upper()))


def format_amount(amount: int, currency: str, locale: Locale | str = DEFAULT_LOCALE) -> str:
    """``29,00 €`` in de, ``$29.00`` in en, ``￥2,900`` in ja: the locale's own way."""
    code = currency.upper()
    return format_currency(minor_units_to_amount(amount, code), code, locale=locale)


def format_day(value: datetime, locale: Locale | str = DEFAULT_LOCALE) -> str:
    """The long date (``March 5, 2025``, ``5. März 2025``, ``2025年3月5日``)."""
    return format_date(value, format="long", locale=locale)
