"""In-app notifications: what the app shows a customer inside the product."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.emails import display_values


class NotificationKind(StrEnum):
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_RECOVERED = "payment_recovered"
    PAYMENT_ACTION_REQUIRED = "payment_action_required"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    USAGE_WARNING = "usage_warning"
    USAGE_LIMIT_REACHED = "usage_limit_reached"
    OFFER = "offer"


@dataclass(frozen=True)
class RenderedNotification:
    title: str
    body: str
    cta_label: str | None
    # Relative to the app's base URL.
    cta_path: str | None


class _Defaults(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


_TEMPLATES: dict[NotificationKind, tuple[str, str, str | None, str | None]] = {
    NotificationKind.PAYMENT_FAILED: (
        "Payment failed",
        "We could not charge your card for {plan_name} (attempt {attempt}). {retry_line} "
        "Your chatbots keep running meanwhile.",
        "Update card",
        "/billing/payment-method",
    ),
    NotificationKind.PAYMENT_RECOVERED: (
        "Payment received",
        "Thanks! Your {plan_name} subscription is in good standing again.",
        None,
        None,
    ),
    # The call to action is the provider's hosted invoice page (absolute), where the bank's
    # authentication happens.
    NotificationKind.PAYMENT_ACTION_REQUIRED: (
        "Confirm your payment",
        "Your bank asks you to confirm the payment of {amount_display} for {plan_name}.",
        "Confirm payment",
        "{hosted_invoice_url}",
    ),
    NotificationKind.SUBSCRIPTION_CANCELED: (
        "Subscription canceled",
        "Your {plan_name} subscription was canceled because payment could not be collected.",
        "Choose a plan",
        "/billing",
    ),
    NotificationKind.USAGE_WARNING: (
        "{metric_name}: {percent}% of your limit used",
        "You have used {used} of {limit} {metric_name} this period.{upgrade_line}",
        "See usage",
        "/billing/usage",
    ),
    NotificationKind.USAGE_LIMIT_REACHED: (
        "{metric_name} limit reached",
        "You have used {used} of {limit} {metric_name} this period. A small grace allowance "
        "keeps you running; after it, new {metric_name} are blocked.{upgrade_line}",
        "Upgrade",
        "/billing/plans",
    ),
    NotificationKind.OFFER: (
        "An offer for you",
        "{headline}.{expires_line}",
        "Take the offer",
        "/billing/offers/{offer_id}",
    ),
}


def render_notification(kind: NotificationKind, data: dict[str, Any]) -> RenderedNotification:
    title, body, cta_label, cta_path = _TEMPLATES[kind]
    values = _Defaults(display_values(data))
    values["retry_line"] = (
        f"We will try again on {values['next_retry_on']}."
        if values.get("next_retry_on")
        else "This was the last attempt."
    )
    suggestion = data.get("upgrade_plan_name")
    values["upgrade_line"] = f" {suggestion} gives you more room." if suggestion else ""
    values["expires_line"] = (
        f" It holds until {values['expires_on']}." if values.get("expires_on") else ""
    )
    return RenderedNotification(
        title=title.format_map(values),
        body=body.format_map(values),
        cta_label=cta_label,
        cta_path=cta_path.format_map(values) if cta_path else None,
    )
