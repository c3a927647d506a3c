"""Lifecycle emails: one outbox row per idempotency key, delivered at most once per acceptance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.email.base import EmailSender, OutgoingEmail
from core.clock import utcnow
from db.engine import SessionFactory
from db.ledger import append_ledger, email_sent_entry
from db.models import Customer, EmailOutbox
from db.writes import insert_ignoring_conflict, rows_affected
from domain.emails import EmailTemplate, render_email


@dataclass(frozen=True)
class SendEmailInput:
    customer_id: str
    template: EmailTemplate
    # Stable across retries and replays: the outbox keeps one row per key.
    idempotency_key: str
    # Workflow time of the lifecycle event that asked for the email.
    requested_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendEmailResult:
    outbox_id: int
    status: str


class EmailActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        sender: EmailSender,
        *,
        product_name: str,
        app_url: str = "",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._product_name = product_name
        self._app_url = app_url
        self._clock = clock

    @activity.defn(name="send_email")
    async def send_email(self, request: SendEmailInput) -> SendEmailResult:
        outbox, to_name = await self._ensure_outbox_row(request)
        if outbox.status != "pending" or not self._sender.delivered_by_outbox:
            # Settled already (a retry: never a second email), or for a provider outside the
            # engine, the dispatcher's to send (``services.email_dispatch``): the lifecycle's
            # timeline never waits for the provider, nor retries it.
            return SendEmailResult(outbox_id=outbox.id, status=outbox.status)
        if outbox.to_email is None:
            result, _ = await self._finish(outbox.id, status="skipped", error="no email address")
            return result
        email = OutgoingEmail(
            to_email=outbox.to_email,
            to_name=to_name,
            subject=outbox.subject or "",
            body=outbox.body or "",
            template=outbox.template,
            customer_id=outbox.customer_id,
            idempotency_key=outbox.idempotency_key,
        )
        # The commit is the delivery, so a crash on either side of it can neither lose nor
        # repeat the email; only the announcement after it can go missing.
        result, delivered_now = await self._finish(outbox.id, status="sent")
        if delivered_now:
            await self._sender.send(email)
        return result

    async def _ensure_outbox_row(self, request: SendEmailInput) -> tuple[EmailOutbox, str | None]:
        async with self._sessions.begin() as session:
            customer = await session.get(Customer, request.customer_id)
            existing = await session.scalar(
                select(EmailOutbox).where(EmailOutbox.idempotency_key == request.idempotency_key)
            )
            if existing is not None:
                return existing, customer.name if customer else None
            if customer is None:
                # The API commits the row before it starts the workflow, so this is a
                # replica lag or a race worth retrying, not a reason to fail the lifecycle.
                raise ApplicationError(
                    f"customer {request.customer_id} not found", type="CustomerNotFound"
                )
            rendered = render_email(
                request.template,
                request.data,
                name=customer.name,
                product=self._product_name,
                app_url=self._app_url,
                locale=customer.locale,
            )
            await insert_ignoring_conflict(
                session,
                EmailOutbox,
                {
                    "idempotency_key": request.idempotency_key,
                    "customer_id": request.customer_id,
                    "template": str(request.template),
                    "to_email": customer.email,
                    "subject": rendered.subject,
                    "body": rendered.body,
                    "data": dict(request.data),
                    "status": "pending",
                    "provider": self._sender.name,
                    "attempts": 0,
                    "created_at": request.requested_at,
                },
                on=["idempotency_key"],
            )
            row = await session.scalar(
                select(EmailOutbox).where(EmailOutbox.idempotency_key == request.idempotency_key)
            )
            assert row is not None
            return row, customer.name

    async def _finish(
        self,
        outbox_id: int,
        *,
        status: str,
        message_id: str | None = None,
        error: str | None = None,
    ) -> tuple[SendEmailResult, bool]:
        """Settle a pending row; returns the result and whether this call settled it."""
        now = self._clock()
        async with self._sessions.begin() as session:
            # Only a pending row moves: a concurrent or earlier attempt may have settled it.
            settled = await session.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == outbox_id, EmailOutbox.status == "pending")
                .values(
                    status=status,
                    attempts=EmailOutbox.attempts + (1 if status == "sent" else 0),
                    provider_message_id=message_id,
                    last_error=error,
                    sent_at=now if status == "sent" else None,
                )
            )
            row = await session.get(EmailOutbox, outbox_id)
            assert row is not None
            if status == "sent" and row.status == "sent":
                # The audit trail names the template and the send, never the address.
                await append_ledger(
                    session, email_sent_entry(row, occurred_at=now, recorded_at=now)
                )
            return SendEmailResult(outbox_id=outbox_id, status=row.status), rows_affected(
                settled
            ) == 1
