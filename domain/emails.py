"""Lifecycle email templates. Rendering is pure so activities and tests share it; the words
of each language live in ``domain.email_texts``, money and dates follow ``domain.locales``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from babel import Locale
from babel.numbers import UnknownCurrencyError

from domain.email_texts import TEXTS
from domain.locales import format_amount, format_day, resolve_locale


class EmailTemplate(StrEnum):
    WELCOME = "welcome"
    TRIAL_REMINDER = "trial_reminder"
    TRIAL_EXPIRED = "trial_expired"
    TRIAL_WINBACK = "trial_winback"
    TRIAL_CONVERTED = "trial_converted"
    PLAN_CHANGED = "plan_changed"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    SUBSCRIPTION_REACTIVATED = "subscription_reactivated"
    SUBSCRIPTION_PAUSED = "subscription_paused"
    SUBSCRIPTION_RESUMED = "subscription_resumed"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_RECOVERED = "payment_recovered"
    PAYMENT_ACTION_REQUIRED = "payment_action_required"
    CHECKOUT_PAYMENT_FAILED = "checkout_payment_failed"
    CHECKOUT_PAYMENT_PROCESSING = "checkout_payment_processing"
    TRIAL_EXTENDED = "trial_extended"
    USAGE_WARNING = "usage_warning"
    USAGE_LIMIT_REACHED = "usage_limit_reached"
    OFFER = "offer"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str


class _Defaults(dict[str, Any]):
    # A template never fails on a missing field; it shows an empty value instead.
    def __missing__(self, key: str) -> str:
        return ""


def format_money(cents: int, currency: str = "usd") -> str:
    """The dashboards' English amount in the currency's own minor unit (``$99.00``,
    ``¥14,800``, ``₹8,299.00``: Babel, not an assumed two decimals); emails format per
    locale with ``domain.locales.format_amount``."""
    return format_amount(cents, currency)


def _format_day(value: str, locale: Locale) -> str | None:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return format_day(when, locale)


def _money(data: dict[str, Any], locale: Locale) -> str:
    currency = str(data.get("currency") or "usd")
    try:
        return format_amount(data["amount_cents"], currency, locale)
    except (UnknownCurrencyError, ValueError):
        return format_money(data["amount_cents"], currency)


def display_values(data: dict[str, Any], locale: str | None = None) -> dict[str, Any]:
    """Turn the workflow's structured data into the phrases templates show, in ``locale``
    (English when none or unsupported): dates long, money the locale's way."""
    where = resolve_locale(locale)
    phrases = TEXTS[where.language].phrases
    values = dict(data)
    for key, value in data.items():
        if key.endswith("_at") and isinstance(value, str) and (day := _format_day(value, where)):
            values[key[:-3] + "_on"] = day
    if isinstance(data.get("amount_cents"), int):
        values["amount_display"] = _money(data, where)
    interval = data.get("interval")
    values["interval_label"] = phrases.get(f"interval_{interval}", str(interval or ""))
    if not values.get("metric_name"):
        values["metric_name"] = phrases["metric_fallback"]
    lines = _Defaults(values)

    def line(key: str) -> str:
        return phrases[key].format_map(lines)

    amount = data.get("amount_cents")
    values["amount_line"] = line("amount_line") if isinstance(amount, int) and amount > 0 else ""
    if not data.get("at_period_end"):
        values["cancel_line"] = line("cancel_ended")
    else:
        values["cancel_line"] = (
            line("cancel_on") if values.get("effective_on") else line("cancel_period_end")
        )
    values["resume_line"] = line("resume_on") if values.get("resumes_on") else line("resume_any")
    values["retry_line"] = line("retry_on") if values.get("next_retry_on") else line("retry_last")
    values["upgrade_line"] = line("upgrade_line") if data.get("upgrade_plan_name") else ""
    values["expires_line"] = line("expires_line") if values.get("expires_on") else ""
    values["offer_line"] = line("offer_line") if data.get("offer") else ""
    return values


def render_email(
    template: EmailTemplate,
    data: dict[str, Any],
    *,
    name: str | None,
    product: str,
    app_url: str = "",
    locale: str | None = None,
) -> RenderedEmail:
    """The email in the customer's ``locale`` (a supported one, else English)."""
    texts = TEXTS[resolve_locale(locale).language]
    subject, body = texts.templates[template.value]
    values = _Defaults(display_values(data, locale))
    values["product"] = product
    values["app_url"] = app_url.rstrip("/")
    values["greeting"] = name or ""
    salutation = (
        texts.phrases["salutation"].format(name=name)
        if name
        else texts.phrases["salutation_anonymous"]
    )
    return RenderedEmail(
        subject=subject.format_map(values),
        body=f"{salutation}\n\n{body.format_map(values)}",
    )
