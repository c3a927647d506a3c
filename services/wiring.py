"""Builds the adapters (email, payments) that activities and the API receive, from settings."""

from __future__ import annotations

from adapters.email.base import EmailSender
from adapters.email.log_sender import LogEmailSender
from adapters.email.sendgrid_sender import SendGridEmailSender
from adapters.payments.base import PaymentGateway
from core.settings import Settings
from db.engine import SessionFactory


def email_sender(settings: Settings) -> EmailSender:
    if settings.sendgrid_api_key:
        return SendGridEmailSender(
            api_key=settings.sendgrid_api_key,
            from_email=settings.lifecycle_email_from,
            host=settings.sendgrid_api_host,
        )
    return LogEmailSender()


def payment_gateway(settings: Settings, sessions: SessionFactory) -> PaymentGateway:
    """Stripe when STRIPE_API_KEY is set, otherwise the embedded simulator."""
    if settings.stripe_api_key:
        from adapters.payments.stripe_gateway import StripeGateway

        return StripeGateway(
            settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            automatic_tax=settings.engine_config.tax.enabled,
        )
    from adapters.payments.simulator import SimulatedGateway

    return SimulatedGateway(
        sessions,
        settings.engine_config.catalog,
        base_url=settings.public_base_url,
        tax=settings.engine_config.tax,
    )
