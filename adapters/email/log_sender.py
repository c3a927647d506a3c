"""Embedded default: the outbox row is the delivery, and a log line shows it happened."""

from __future__ import annotations

import logging

from adapters.email.base import OutgoingEmail, Schedule

logger = logging.getLogger("lifecycle.email")


class LogEmailSender:
    name = "outbox"
    delivered_by_outbox = True

    async def send(self, email: OutgoingEmail, schedule: Schedule | None = None) -> str | None:
        logger.info(
            "email %s to customer %s key %s: %s",
            email.template,
            email.customer_id,
            email.idempotency_key,
            email.subject,
        )
        return None
