"""Builds the adapters the activities receive, from settings."""

from __future__ import annotations

from adapters.email.base import EmailSender
from adapters.email.log_sender import LogEmailSender
from adapters.email.sendgrid_sender import SendGridEmailSender
from lifecycle.settings import Settings


def email_sender(settings: Settings) -> EmailSender:
    if settings.sendgrid_api_key:
        return SendGridEmailSender(
            api_key=settings.sendgrid_api_key,
            from_email=settings.lifecycle_email_from,
            host=settings.sendgrid_api_host,
        )
    return LogEmailSender()
