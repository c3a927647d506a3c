"""Lifecycle email templates. Rendering is pure so activities and tests share it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class EmailTemplate(StrEnum):
    WELCOME = "welcome"
    TRIAL_REMINDER = "trial_reminder"
    TRIAL_EXPIRED = "trial_expired"
    TRIAL_WINBACK = "trial_winback"


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
}


def render_email(
    template: EmailTemplate, data: dict[str, Any], *, name: str | None, product: str
) -> RenderedEmail:
    subject, body = _TEMPLATES[template]
    values = _Defaults(data)
    values["product"] = product
    values["greeting"] = name or "there"
    values.setdefault("offer_line", "")
    return RenderedEmail(subject=subject.format_map(values), body=body.format_map(values))
