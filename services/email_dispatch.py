"""Sends the email outbox, apart from the lifecycle's timeline.

The workflow's email activity only writes the outbox row (a short database write), so an
email provider's outage never delays an expiry, a dunning step or a cancellation: the
transition happens on time and its email follows, once, when the provider is back. The
worker runs this dispatcher next to its workflows.

Exactly once, as far as the provider allows. SendGrid takes no idempotency key, so a crash
between its 202 and the commit that records it would send the email again on retry. Every
attempt is therefore recorded before the provider is called (``sending``), and with a
``hold`` it is a scheduled send in a batch of its own: an attempt whose outcome was never
recorded is cancelled (SendGrid honours that until 10 minutes before ``send_at``) before
the email is sent again. Without a hold (``hold=0``: delivered at once) the unconfirmed
attempt is sent again: at least once, with the window between the 202 and a one-row commit
on this dispatcher's own connection (milliseconds, waiting on nothing shared). An attempt
found too late to cancel is taken as delivered: the provider has it, and a second email is
the worse failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Update, or_, select, update

from adapters.email.base import (
    EmailDeliveryError,
    EmailSender,
    OutgoingEmail,
    Schedule,
    SchedulingSender,
)
from core.clock import utcnow
from core.metrics import EMAILS
from db.engine import SessionFactory, dialect_of
from db.ledger import append_ledger, email_sent_entry
from db.models import Customer, EmailOutbox

logger = logging.getLogger("lifecycle.email")

# An attempt with no recorded outcome after this long died with its process.
STALE_AFTER = timedelta(seconds=60)
_BACKOFF_MAX = timedelta(minutes=10)


@dataclass(frozen=True)
class DispatchReport:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    recovered: int = 0


def _settling(
    row_id: int,
    status: str,
    now: datetime,
    *,
    message_id: str | None = None,
    error: str | None = None,
) -> Update:
    """An attempt's outcome; only a row still ``sending`` moves (another pass may have
    settled it)."""
    return (
        update(EmailOutbox)
        .where(EmailOutbox.id == row_id, EmailOutbox.status == "sending")
        .values(
            status=status,
            provider_message_id=message_id,
            last_error=error[:2000] if error else None,
            sent_at=now if status == "accepted" else None,
        )
    )


class EmailDispatcher:
    def __init__(
        self,
        sessions: SessionFactory,
        sender: EmailSender,
        *,
        hold: timedelta = timedelta(0),
        batch_size: int = 8,
        stale_after: timedelta = STALE_AFTER,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        # A hold needs a provider that can cancel (SendGrid); others send at once.
        self._scheduler: SchedulingSender | None = (
            cast(SchedulingSender, sender) if hasattr(sender, "cancel_batch") else None
        )
        self._hold = hold if self._scheduler is not None else timedelta(0)
        self._batch_size = batch_size
        self._stale_after = stale_after
        self._clock = clock

    # -- one pass ------------------------------------------------------------------------

    async def dispatch_once(self) -> DispatchReport:
        recovered = await self._recover_stale()
        claimed = await self._claim()
        results = await asyncio.gather(*(self._attempt(row_id) for row_id in claimed))
        for outcome, label in (("sent", "sent"), ("failed", "failed"), ("retry", "retried")):
            if count := results.count(outcome):
                EMAILS.labels(label).inc(count)
        return DispatchReport(
            sent=results.count("sent"),
            failed=results.count("failed"),
            retried=results.count("retry"),
            recovered=recovered,
        )

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Dispatch until ``stop`` is set; a pass that finds work runs again at once."""
        while not stop.is_set():
            try:
                report = await self.dispatch_once()
            except Exception:  # the database or the provider: try again next pass
                logger.exception("email dispatch pass failed")
                report = DispatchReport()
            if report.sent or report.retried or report.failed:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    # -- the steps -----------------------------------------------------------------------

    async def _claim(self) -> list[int]:
        """Mark due rows ``sending`` and commit, before any provider call."""
        now = self._clock()
        async with self._sessions.begin() as session:
            query = (
                select(EmailOutbox.id)
                .where(
                    EmailOutbox.status == "pending",
                    or_(EmailOutbox.next_attempt_at.is_(None), EmailOutbox.next_attempt_at <= now),
                )
                .order_by(EmailOutbox.id)
                .limit(self._batch_size)
            )
            if dialect_of(session) == "postgresql":
                # Several workers share the outbox: each row goes to one of them.
                query = query.with_for_update(skip_locked=True)
            ids = list(await session.scalars(query))
            if ids:
                await session.execute(
                    update(EmailOutbox)
                    .where(EmailOutbox.id.in_(ids))
                    .values(
                        status="sending",
                        attempt_started_at=now,
                        attempts=EmailOutbox.attempts + 1,
                        batch_id=None,
                        send_at=None,
                    )
                )
        return ids

    async def _attempt(self, row_id: int) -> str:
        async with self._sessions() as session:
            row = await session.get(EmailOutbox, row_id)
            assert row is not None
            customer = await session.get(Customer, row.customer_id)
        if row.to_email is None:
            await self._settle(row_id, "skipped", "no email address")
            return "failed"
        email = OutgoingEmail(
            to_email=row.to_email,
            to_name=customer.name if customer else None,
            subject=row.subject or "",
            body=row.body or "",
            template=row.template,
            customer_id=row.customer_id,
            idempotency_key=row.idempotency_key,
        )
        schedule = None
        try:
            if self._hold:
                schedule = await self._schedule(row_id)
            # The connection that records the 202 is checked out before the call: once
            # SendGrid has the email, the commit waits for nothing (no pool, no lock).
            async with self._sessions() as session:
                await session.connection()
                message_id = await self._sender.send(email, schedule)
                await session.execute(
                    _settling(row_id, "accepted", self._clock(), message_id=message_id)
                )
                await session.commit()
        except EmailDeliveryError as exc:
            if not exc.retryable:
                await self._settle(row_id, "failed", str(exc))
                return "failed"
            await self._back_off(row_id, str(exc))
            return "retry"
        await self._audit(row_id)
        return "sent"

    async def _schedule(self, row_id: int) -> Schedule:
        assert self._scheduler is not None
        batch_id = await self._scheduler.create_batch()
        schedule = Schedule(batch_id=batch_id, send_at=self._clock() + self._hold)
        async with self._sessions.begin() as session:
            await session.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == row_id)
                .values(batch_id=schedule.batch_id, send_at=schedule.send_at)
            )
        return schedule

    async def _settle(self, row_id: int, status: str, error: str | None = None) -> None:
        async with self._sessions.begin() as session:
            await session.execute(_settling(row_id, status, self._clock(), error=error))

    async def _back_off(self, row_id: int, error: str) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(EmailOutbox, row_id)
            assert row is not None
            delay = min(_BACKOFF_MAX, timedelta(seconds=2 ** min(row.attempts, 10)))
            delay *= 0.5 + random.random()  # spread the backlog of an outage
            await session.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == row_id, EmailOutbox.status == "sending")
                .values(
                    status="pending",
                    last_error=error[:2000],
                    next_attempt_at=self._clock() + delay,
                )
            )

    async def _audit(self, row_id: int) -> None:
        """The ledger row of a send (the ledger's lock is global: never before the 202's
        commit). A crash here leaves the row ``accepted``; the next pass writes it."""
        async with self._sessions.begin() as session:
            row = await session.get(EmailOutbox, row_id, with_for_update=True)
            if row is None or row.status != "accepted":
                return
            await append_ledger(
                session,
                email_sent_entry(
                    row, occurred_at=row.sent_at or self._clock(), recorded_at=self._clock()
                ),
            )
            row.status = "sent"

    async def _recover_stale(self) -> int:
        """Attempts whose process died: audit the accepted, settle the unconfirmed."""
        now = self._clock()
        async with self._sessions() as session:
            accepted = list(
                await session.scalars(
                    select(EmailOutbox.id).where(EmailOutbox.status == "accepted").limit(50)
                )
            )
            stale = list(
                await session.scalars(
                    select(EmailOutbox).where(
                        EmailOutbox.status == "sending",
                        EmailOutbox.attempt_started_at < now - self._stale_after,
                    )
                )
            )
        for row_id in accepted:
            await self._audit(row_id)
        for row in stale:
            await self._unconfirmed(row, now)
        return len(accepted) + len(stale)

    async def _unconfirmed(self, row: EmailOutbox, now: datetime) -> None:
        """An attempt with no recorded outcome: it may or may not have reached the provider."""
        if row.batch_id is None and not self._hold:
            # Sent at once: nothing to cancel. At least once.
            logger.warning("email %s: attempt outcome unknown, sending again", row.idempotency_key)
            await self._settle(row.id, "pending")
            return
        if row.batch_id is None:
            # The process died before the batch existed: nothing can have been sent.
            await self._settle(row.id, "pending")
            return
        assert row.send_at is not None and self._scheduler is not None
        if now < row.send_at - self._scheduler.cancel_deadline:
            await self._scheduler.cancel_batch(row.batch_id)
            await self._settle(row.id, "pending")
            return
        logger.warning(
            "email %s: attempt outcome unknown and too late to cancel; taken as delivered",
            row.idempotency_key,
        )
        await self._settle(row.id, "accepted")
        await self._audit(row.id)
