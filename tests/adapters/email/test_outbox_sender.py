"""The embedded email provider: the committed outbox row is the delivery, exactly once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from activities.emails import EmailActivities, SendEmailInput
from adapters.email.base import OutgoingEmail, Schedule
from adapters.email.log_sender import LogEmailSender
from core.config import EngineConfig
from db.engine import SessionFactory
from domain.emails import EmailTemplate
from tests.factories.customers import insert_customer
from tests.factories.policies import make_policy
from tests.factories.records import ledger, outbox


class _Announcements(LogEmailSender):
    """Records each announcement; can die right after the commit, like a killed worker."""

    def __init__(self, *, die_once: bool = False) -> None:
        self.announced: list[str] = []
        self._die = die_once

    async def send(self, email: OutgoingEmail, schedule: Schedule | None = None) -> str | None:
        if self._die:
            self._die = False
            raise SystemExit("worker killed between the commit and the announcement")
        self.announced.append(email.idempotency_key)
        return await super().send(email)


def _request(customer_id: str) -> SendEmailInput:
    return SendEmailInput(
        customer_id=customer_id,
        template=EmailTemplate.WELCOME,
        idempotency_key=f"{customer_id}:welcome:{uuid.uuid4().hex[:8]}",
        requested_at=datetime.now(UTC),
        data={"trial_days": 14, "trial_ends_at": "2030-01-15T00:00:00+00:00"},
    )


async def test_repeated_attempts_deliver_and_announce_once(
    sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    sender = _Announcements()
    activities = EmailActivities(sessions, sender, product_name="ChatbotCloud")
    request = _request(customer.id)

    first = await activities.send_email(request)
    again = await activities.send_email(request)

    assert (first.status, again.status, again.outbox_id) == ("sent", "sent", first.outbox_id)
    assert sender.announced == [request.idempotency_key]
    [row] = await outbox(sessions, customer.id)
    assert (row.status, row.attempts, row.provider) == ("sent", 1, "outbox")
    sends = [e for e in await ledger(sessions, customer.id, audit=True) if e.kind == "email_sent"]
    assert len(sends) == 1


async def test_a_crash_after_the_commit_neither_loses_nor_repeats_the_email(
    sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    sender = _Announcements(die_once=True)
    activities = EmailActivities(sessions, sender, product_name="ChatbotCloud")
    request = _request(customer.id)

    with pytest.raises(SystemExit):
        await activities.send_email(request)
    [row] = await outbox(sessions, customer.id)
    assert (row.status, row.attempts) == ("sent", 1), "the commit already delivered it"

    retry = await activities.send_email(request)
    assert retry.status == "sent"
    assert sender.announced == [], "a settled row is never delivered or announced again"
    [row] = await outbox(sessions, customer.id)
    assert row.attempts == 1
