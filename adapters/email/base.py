"""The email delivery interface the email activity talks to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True)
class OutgoingEmail:
    to_email: str
    to_name: str | None
    subject: str
    body: str
    template: str
    customer_id: str
    idempotency_key: str


class EmailDeliveryError(Exception):
    """The provider did not accept the email. ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool, status_code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code


@dataclass(frozen=True)
class Schedule:
    """A send held by the provider until ``send_at`` in a cancellable batch (SendGrid)."""

    batch_id: str
    send_at: datetime


class EmailSender(Protocol):
    name: str
    # True when committing the outbox row as sent is itself the delivery (the embedded
    # default): the activity then calls ``send`` after that commit, only to announce it.
    delivered_by_outbox: bool

    async def send(self, email: OutgoingEmail, schedule: Schedule | None = None) -> str | None:
        """Deliver the email (held until ``schedule.send_at`` when given); returns the
        provider's message id when it gives one."""
        ...


class SchedulingSender(EmailSender, Protocol):
    """A provider whose sends can be held and cancelled: what makes a retry after an
    unconfirmed attempt safe (cancel it, then send again)."""

    # How long before ``send_at`` a cancellation is still honoured.
    cancel_deadline: timedelta

    async def create_batch(self) -> str: ...

    async def cancel_batch(self, batch_id: str) -> None: ...
