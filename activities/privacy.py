"""GDPR erasure and data retention: personal data leaves, the financial record stays."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from temporalio import activity

from core.clock import utcnow
from db.engine import SessionFactory
from db.ledger import append_ledger
from db.models import Customer, EmailOutbox, Notification, UsageEvent, WebhookEvent
from db.security_events import purge_security_events
from db.writes import rows_affected
from domain.erasure import erased_external_id
from domain.policy import RetentionPolicy
from domain.terms import Terms


@dataclass(frozen=True)
class ErasePersonalDataInput:
    customer_id: str
    actor: str
    # Workflow time of the erasure, for the ledger row.
    erased_at: datetime


@dataclass(frozen=True)
class PurgeInput:
    usage_events_older_than: timedelta
    email_bodies_older_than: timedelta


@dataclass(frozen=True)
class PurgeResult:
    usage_events: int
    email_bodies: int
    # Absent from the results of runs before the security log had a retention.
    security_events: int = 0


class PrivacyActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        *,
        clock: Callable[[], datetime] = utcnow,
        load_terms: Callable[[], Awaitable[Terms]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._load_terms = load_terms

    async def _security_events_retention(self) -> timedelta:
        # Read here, not passed by the workflow: the purge's workflow predates this
        # retention, and today's configuration is what the worker loads anyway.
        if self._load_terms is None:
            return RetentionPolicy().security_events
        return (await self._load_terms()).policy.retention.security_events

    @activity.defn(name="erase_personal_data")
    async def erase_personal_data(self, request: ErasePersonalDataInput) -> None:
        """Remove name, email, address and card details everywhere in the app database.

        The customer id (a random UUID) stays as the pseudonym that keeps invoices, usage
        aggregates and the ledger meaningful. Safe to repeat."""
        cid = request.customer_id
        async with self._sessions.begin() as session:
            await session.execute(
                update(Customer)
                .where(Customer.id == cid)
                .values(
                    email=None,
                    name=None,
                    external_id=erased_external_id(cid),
                    billing_address=None,
                    locale=None,
                    payment_method_id=None,
                    payment_method_brand=None,
                    payment_method_last4=None,
                    payment_method_exp_month=None,
                    payment_method_exp_year=None,
                    updated_at=self._clock(),
                )
            )
            await session.execute(
                update(EmailOutbox)
                .where(EmailOutbox.customer_id == cid)
                .values(to_email=None, subject=None, body=None)
            )
            await session.execute(
                update(Notification)
                .where(Notification.customer_id == cid)
                .values(title="(erased)", body="(erased)", data={})
            )
            # Provider payloads carry the customer's email and name: keep what happened only.
            events = await session.execute(
                select(WebhookEvent.id, WebhookEvent.type).where(WebhookEvent.customer_id == cid)
            )
            for event_id, event_type in events.all():
                await session.execute(
                    update(WebhookEvent)
                    .where(WebhookEvent.id == event_id)
                    .values(payload={"id": event_id, "type": event_type, "redacted": True})
                )
            await append_ledger(
                session,
                {
                    "event_key": f"{cid}:erased",
                    "customer_id": cid,
                    "kind": "customer_erased",
                    "actor": request.actor,
                    "from_status": None,
                    "to_status": None,
                    "plan": None,
                    "interval": None,
                    "mrr_delta_cents": 0,
                    "data": {},
                    "occurred_at": request.erased_at,
                    "recorded_at": self._clock(),
                },
            )

    @activity.defn(name="purge_expired_data")
    async def purge_expired_data(self, request: PurgeInput) -> PurgeResult:
        """Drop raw usage events, email bodies and security events past retention;
        counters, daily totals, invoices and the ledger stay."""
        now = self._clock()
        security_retention = await self._security_events_retention()
        async with self._sessions.begin() as session:
            events = await session.execute(
                delete(UsageEvent).where(
                    UsageEvent.recorded_at < now - request.usage_events_older_than
                )
            )
            bodies = await session.execute(
                update(EmailOutbox)
                .where(
                    EmailOutbox.created_at < now - request.email_bodies_older_than,
                    EmailOutbox.body.is_not(None),
                )
                .values(subject=None, body=None)
            )
            security = await purge_security_events(session, before=now - security_retention)
        return PurgeResult(
            usage_events=rows_affected(events),
            email_bodies=rows_affected(bodies),
            security_events=security,
        )
