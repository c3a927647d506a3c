"""Lifecycle email templates. Rendering is pure so activities and tests share it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


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


_TEMPLATES: dict[EmailTemplate, tuple[str, str]] = {
    EmailTemplate.WELCOME: (
        "Welcome to {product}, your free trial has started",
        "Hi {greeting},\n\nYour {trial_days}-day free trial of {product} is ready. "
        "No card needed: build your first chatbot today.\n\nYour trial ends on {trial_ends_on}.",
    ),
    EmailTemplate.TRIAL_REMINDER: (
        "{days_left} day(s) left in your {product} trial",
        "Hi {greeting},\n\nYour {product} trial ends on {trial_ends_on} ({days_left} day(s) "
        "left). Pick a plan to keep your chatbots running without interruption.",
    ),
    EmailTemplate.TRIAL_EXPIRED: (
        "Your {product} trial has ended",
        "Hi {greeting},\n\nYour free trial ended on {trial_ends_on}. Your chatbots and data "
        "are safe: choose a plan to bring them back online.",
    ),
    EmailTemplate.TRIAL_WINBACK: (
        "Your chatbots are waiting for you",
        "Hi {greeting},\n\nIt has been {days_since_expiry} day(s) since your {product} trial "
        "ended. Everything you built is still here: pick a plan to continue.{offer_line}",
    ),
    EmailTemplate.TRIAL_CONVERTED: (
        "Welcome to {product} {plan_name}",
        "Hi {greeting},\n\nThanks for subscribing to {plan_name} ({interval}ly billing). "
        "We charged {amount_display} today; your next invoice is due on {period_end_on}.",
    ),
    EmailTemplate.PLAN_CHANGED: (
        "Your {product} plan is now {plan_name}",
        "Hi {greeting},\n\nYour plan changed from {previous_plan_name} to {plan_name} "
        "({interval}ly billing), effective {effective_on}.{amount_line}",
    ),
    EmailTemplate.SUBSCRIPTION_CANCELED: (
        "Your {product} subscription is canceled",
        "Hi {greeting},\n\nYour {plan_name} subscription {cancel_line}. You can come back "
        "at any time; your chatbots and data stay with us.",
    ),
    EmailTemplate.SUBSCRIPTION_REACTIVATED: (
        "Your {product} subscription continues",
        "Hi {greeting},\n\nGood news: your {plan_name} subscription will renew as usual on "
        "{period_end_on}.",
    ),
    EmailTemplate.SUBSCRIPTION_PAUSED: (
        "Your {product} subscription is paused",
        "Hi {greeting},\n\nYour {plan_name} subscription is paused; you will not be charged "
        "while it is. {resume_line}",
    ),
    EmailTemplate.PAYMENT_FAILED: (
        "Payment for {product} failed",
        "Hi {greeting},\n\nWe could not charge your card for your {plan_name} subscription "
        "(attempt {attempt}). {retry_line} Your chatbots keep running meanwhile.\n\n"
        "Update your card: {app_url}/billing/payment-method",
    ),
    EmailTemplate.PAYMENT_RECOVERED: (
        "Payment received, thank you",
        "Hi {greeting},\n\nYour payment went through and your {plan_name} subscription is "
        "in good standing again.{amount_line}",
    ),
    EmailTemplate.PAYMENT_ACTION_REQUIRED: (
        "Confirm your {product} payment",
        "Hi {greeting},\n\nYour bank asks you to confirm the payment of {amount_display} for "
        "your {plan_name} subscription. Confirm it here: {hosted_invoice_url}\n\n"
        "Your chatbots keep running meanwhile.",
    ),
    EmailTemplate.CHECKOUT_PAYMENT_FAILED: (
        "Your {product} payment did not go through",
        "Hi {greeting},\n\nThe payment for your {plan_name} subscription could not be "
        "completed, so the subscription did not start. Pick a plan again to retry: "
        "{app_url}/billing",
    ),
    EmailTemplate.TRIAL_EXTENDED: (
        "Your {product} trial has been extended",
        "Hi {greeting},\n\nGood news: we extended your free trial by {days} day(s). It now "
        "ends on {trial_ends_on}.",
    ),
    EmailTemplate.USAGE_WARNING: (
        "You have used {percent}% of your {metric_name} this period",
        "Hi {greeting},\n\nYour {product} account has used {used} of {limit} {metric_name} "
        "this billing period.{upgrade_line}",
    ),
    EmailTemplate.USAGE_LIMIT_REACHED: (
        "You have reached your {metric_name} limit",
        "Hi {greeting},\n\nYour {product} account has used all {limit} {metric_name} of "
        "this billing period. A small grace allowance keeps your chatbots answering; after "
        "it, new {metric_name} are blocked until the next period.{upgrade_line}",
    ),
    EmailTemplate.OFFER: (
        "An offer for you: {headline}",
        "Hi {greeting},\n\nThanks for building with {product}. We have an offer for you: "
        "{headline}.{expires_line}\n\nTake it in one click: {app_url}/billing/offers/{offer_id}",
    ),
    EmailTemplate.SUBSCRIPTION_RESUMED: (
        "Your {product} subscription is active again",
        "Hi {greeting},\n\nYour {plan_name} subscription is active again. Welcome back.",
    ),
}


def format_money(cents: int, currency: str = "usd") -> str:
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency.lower())
    amount = f"{abs(cents) / 100:,.2f}"
    sign = "-" if cents < 0 else ""
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency.upper()}"


def _format_day(value: str) -> str | None:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return f"{when:%B} {when.day}, {when.year}"


def display_values(data: dict[str, Any]) -> dict[str, Any]:
    """Turn the workflow's structured data into the phrases templates show."""
    values = dict(data)
    for key, value in data.items():
        if key.endswith("_at") and isinstance(value, str) and (day := _format_day(value)):
            values[key[:-3] + "_on"] = day
    currency = str(data.get("currency", "usd"))
    if isinstance(data.get("amount_cents"), int):
        values["amount_display"] = format_money(data["amount_cents"], currency)
    values["amount_line"] = (
        f" We charged {values['amount_display']}." if data.get("amount_cents", 0) > 0 else ""
    )
    values["cancel_line"] = (
        f"ends on {values.get('effective_on', 'the end of the period')}"
        if data.get("at_period_end")
        else "has ended"
    )
    values["resume_line"] = (
        f"It resumes on {values['resumes_on']}."
        if values.get("resumes_on")
        else "Resume it whenever you like."
    )
    values["retry_line"] = (
        f"We will try again on {values['next_retry_on']}."
        if values.get("next_retry_on")
        else "This was our last attempt."
    )
    suggestion = data.get("upgrade_plan_name")
    metric = values.get("metric_name", "it")
    values["upgrade_line"] = (
        f"\n\nNeed more room? {suggestion} fits how you are using {metric}." if suggestion else ""
    )
    values["expires_line"] = (
        f" It holds until {values['expires_on']}." if values.get("expires_on") else ""
    )
    offer = data.get("offer")
    values["offer_line"] = f"\n\nCome back now and get {offer}." if offer else ""
    return values


def render_email(
    template: EmailTemplate,
    data: dict[str, Any],
    *,
    name: str | None,
    product: str,
    app_url: str = "",
) -> RenderedEmail:
    subject, body = _TEMPLATES[template]
    values = _Defaults(display_values(data))
    values["product"] = product
    values["app_url"] = app_url.rstrip("/")
    values["greeting"] = name or "there"
    return RenderedEmail(subject=subject.format_map(values), body=body.format_map(values))
