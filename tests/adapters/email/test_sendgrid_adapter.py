"""The SendGrid adapter, the email activity and the dispatcher against a real local HTTP
server.

No mocking of the sendgrid SDK: the sender posts over a real socket to a scripted
``http.server`` running in a background thread, and the outbox lives in real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from activities.emails import EmailActivities, SendEmailInput
from adapters.email.base import EmailSender, OutgoingEmail, Schedule
from adapters.email.sendgrid_sender import SendGridEmailSender
from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import EmailOutbox
from domain.emails import EmailTemplate
from services.email_dispatch import STALE_AFTER, DispatchReport, EmailDispatcher
from tests.factories.customers import insert_customer
from tests.factories.policies import make_policy
from tests.factories.records import ledger, outbox
from tests.factories.sendgrid import FakeSendGrid, Scripted

API_KEY = "SG.test-key"
FROM_EMAIL = "hello@chatbot.example"
PRODUCT = "ChatbotCloud"


@pytest.fixture(autouse=True)
def _no_proxy_for_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib (used by the SDK) honours *_proxy variables; the fake server is local.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(autouse=True)
async def _outbox_settled(sessions: SessionFactory) -> None:
    """The dispatcher sends every due row of the shared test database: start each test
    with none left over from another."""
    async with sessions.begin() as session:
        await session.execute(
            update(EmailOutbox)
            .where(EmailOutbox.status.in_(("pending", "sending", "accepted")))
            .values(status="skipped")
        )


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    fake = FakeSendGrid()
    fake.start()
    yield fake
    fake.stop()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Mailer:
    """The email activity (writes the outbox) and the dispatcher (sends it), on one clock."""

    activities: EmailActivities
    dispatcher: EmailDispatcher
    clock: Clock

    async def later(self, delta: timedelta) -> DispatchReport:
        self.clock.now += delta
        return await self.dispatcher.dispatch_once()


def _mailer(
    sessions: SessionFactory,
    host: str,
    *,
    hold: timedelta = timedelta(0),
    sender: EmailSender | None = None,
    **sender_options: Any,
) -> Mailer:
    sendgrid = SendGridEmailSender(
        api_key=API_KEY, from_email=FROM_EMAIL, host=host, **sender_options
    )
    clock = Clock()
    return Mailer(
        EmailActivities(sessions, sendgrid, product_name=PRODUCT),
        EmailDispatcher(sessions, sender or sendgrid, hold=hold, clock=clock),
        clock,
    )


def _request(customer_id: str, template: EmailTemplate = EmailTemplate.WELCOME) -> SendEmailInput:
    return SendEmailInput(
        customer_id=customer_id,
        template=template,
        idempotency_key=f"{customer_id}:{template}:{uuid.uuid4().hex[:8]}",
        requested_at=datetime.now(UTC),
        data={"trial_days": 14, "trial_ends_at": "2030-01-15T00:00:00+00:00"},
    )


async def test_the_activity_only_writes_the_outbox_and_the_dispatcher_sends_it(
    sessions: SessionFactory, engine_config: EngineConfig, sendgrid: FakeSendGrid
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    sendgrid.script(Scripted(202, {"X-Message-Id": "msg-abc-123"}))
    mailer = _mailer(sessions, sendgrid.host)
    request = _request(customer.id)

    result = await mailer.activities.send_email(request)

    # The lifecycle's timeline waits for a database write, never for the provider.
    assert result.status == "pending"
    assert sendgrid.posts() == []
    report = await mailer.dispatcher.dispatch_once()
    assert report.sent == 1
    [posted] = sendgrid.posts()
    assert posted.path == "/v3/mail/send"
    assert posted.headers["Authorization"] == f"Bearer {API_KEY}"
    assert posted.headers["Content-Type"] == "application/json"
    body = posted.body
    [personalization] = body["personalizations"]
    assert personalization["to"] == [{"email": customer.email, "name": customer.name}]
    assert body["from"] == {"email": FROM_EMAIL}
    assert body["subject"] == f"Welcome to {PRODUCT}, your free trial has started"
    [content] = body["content"]
    assert content["type"] == "text/plain"
    assert content["value"].startswith(f"Hi {customer.name},")
    assert "14-day free trial" in content["value"]
    assert "January 15, 2030" in content["value"]
    assert body["categories"] == [str(EmailTemplate.WELCOME)]
    assert body["custom_args"] == {
        "customer_id": customer.id,
        "idempotency_key": request.idempotency_key,
    }
    assert "batch_id" not in body and "send_at" not in body

    [row] = await outbox(sessions, customer.id)
    assert row.id == result.outbox_id
    assert (row.status, row.provider, row.provider_message_id) == (
        "sent",
        "sendgrid",
        "msg-abc-123",
    )
    assert row.sent_at is not None and row.attempts == 1 and row.last_error is None
    sent = [e for e in await ledger(sessions, customer.id, audit=True) if e.kind == "email_sent"]
    assert [e.data["outbox_id"] for e in sent] == [row.id]

    # A retry of the activity (the worker died before reporting) sends nothing.
    again = await mailer.activities.send_email(request)
    assert (again.status, again.outbox_id) == ("sent", row.id)
    assert (await mailer.dispatcher.dispatch_once()).sent == 0
    assert len(sendgrid.posts()) == 1


async def test_server_error_backs_off_and_the_email_goes_out_once(
    sessions: SessionFactory, engine_config: EngineConfig, sendgrid: FakeSendGrid
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    sendgrid.script(
        Scripted(500, body=b'{"errors":[{"message":"internal"}]}'),
        Scripted(202, {"X-Message-Id": "msg-retry-1"}),
    )
    mailer = _mailer(sessions, sendgrid.host)
    request = _request(customer.id, EmailTemplate.TRIAL_REMINDER)
    await mailer.activities.send_email(request)

    assert (await mailer.dispatcher.dispatch_once()).retried == 1
    [row] = await outbox(sessions, customer.id)
    assert (row.status, row.attempts, row.sent_at) == ("pending", 1, None)
    assert row.last_error is not None and "500" in row.last_error
    assert row.next_attempt_at is not None and row.next_attempt_at > mailer.clock.now
    # Not before its backoff.
    assert (await mailer.dispatcher.dispatch_once()).sent == 0

    assert (await mailer.later(timedelta(minutes=11))).sent == 1
    assert len(sendgrid.posts()) == 2
    assert {p.body["custom_args"]["idempotency_key"] for p in sendgrid.posts()} == {
        request.idempotency_key
    }
    [row] = await outbox(sessions, customer.id)
    assert (row.status, row.provider_message_id, row.attempts) == ("sent", "msg-retry-1", 2)
    assert len(sendgrid.delivered()) == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Scripted(429, {"Retry-After": "1"}, b'{"errors":[]}'), "429"),
        (Scripted(502, body=b"<html>bad gateway", truncated=True), "SendGrid"),
    ],
    ids=["too-many-requests", "truncated-response"],
)
async def test_transient_answers_are_retried_later(
    sessions: SessionFactory,
    engine_config: EngineConfig,
    sendgrid: FakeSendGrid,
    answer: Scripted,
    error: str,
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    sendgrid.script(answer)
    mailer = _mailer(sessions, sendgrid.host)
    await mailer.activities.send_email(_request(customer.id))
    assert (await mailer.dispatcher.dispatch_once()).retried == 1
    [row] = await outbox(sessions, customer.id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None and error in row.last_error


async def test_bad_request_is_final_and_never_resent(
    sessions: SessionFactory, engine_config: EngineConfig, sendgrid: FakeSendGrid
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    sendgrid.script(
        Scripted(400, body=b'{"errors":[{"message":"Does not contain a valid address."}]}')
    )
    mailer = _mailer(sessions, sendgrid.host)
    request = _request(customer.id, EmailTemplate.TRIAL_EXPIRED)
    await mailer.activities.send_email(request)

    assert (await mailer.dispatcher.dispatch_once()).failed == 1
    [row] = await outbox(sessions, customer.id)
    assert (row.status, row.attempts, row.sent_at, row.provider_message_id) == (
        "failed",
        1,
        None,
        None,
    )
    assert row.last_error is not None and "Does not contain a valid address." in row.last_error
    await mailer.activities.send_email(request)
    await mailer.later(timedelta(hours=1))
    assert len(sendgrid.posts()) == 1


async def test_connection_refused_and_silence_are_retried_later(
    sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    # A bound socket that never listens: connecting to it is refused, and no other
    # process can take the port while the test runs.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        mailer = _mailer(sessions, f"http://127.0.0.1:{closed.getsockname()[1]}")
        await mailer.activities.send_email(_request(customer.id))
        assert (await mailer.dispatcher.dispatch_once()).retried == 1
    [row] = await outbox(sessions, customer.id)
    assert row.status == "pending"
    assert row.last_error is not None and "unreachable" in row.last_error

    # Listening but never accepting: the kernel completes the TCP handshake and the
    # request then waits for an answer that never comes. Without a client timeout the
    # SDK (urllib) would block its thread forever.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        other = await insert_customer(sessions, policy=make_policy(engine_config))
        mailer = _mailer(sessions, f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
        await mailer.activities.send_email(_request(other.id))
        report = await asyncio.wait_for(mailer.dispatcher.dispatch_once(), timeout=10)
        assert report.retried >= 1
    [row] = await outbox(sessions, other.id)
    assert row.status == "pending"
    assert row.last_error is not None and "timed out" in row.last_error


class _Killed(BaseException):
    """The process dying: nothing after it runs (not an exception anything catches)."""


class DiesAfterAccepted:
    """SendGrid answers 202, then the dispatcher's process dies before it can commit."""

    def __init__(self, inner: SendGridEmailSender) -> None:
        self._inner = inner
        self.name = inner.name
        self.delivered_by_outbox = False
        self.cancel_deadline = inner.cancel_deadline

    async def create_batch(self) -> str:
        return await self._inner.create_batch()

    async def cancel_batch(self, batch_id: str) -> None:
        await self._inner.cancel_batch(batch_id)

    async def send(self, email: OutgoingEmail, schedule: Schedule | None = None) -> str | None:
        await self._inner.send(email, schedule)
        raise _Killed


async def _crash_after_accepted(
    sessions: SessionFactory, engine_config: EngineConfig, sendgrid: FakeSendGrid, hold: timedelta
) -> tuple[str, Mailer]:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    real = SendGridEmailSender(api_key=API_KEY, from_email=FROM_EMAIL, host=sendgrid.host)
    dying = _mailer(sessions, sendgrid.host, hold=hold, sender=DiesAfterAccepted(real))
    await dying.activities.send_email(_request(customer.id))
    with pytest.raises(_Killed):
        await dying.dispatcher.dispatch_once()
    [row] = await outbox(sessions, customer.id)
    assert row.status == "sending"  # recorded before the call; the outcome never was
    # The restarted worker's dispatcher, a minute later.
    after = _mailer(sessions, sendgrid.host, hold=hold)
    after.clock.now = dying.clock.now
    return customer.id, after


async def test_an_attempt_killed_after_the_202_is_cancelled_and_sent_once(
    sessions: SessionFactory, engine_config: EngineConfig, sendgrid: FakeSendGrid
) -> None:
    """Before: a kill between SendGrid's 202 and the commit sent the email again. Now the
    attempt was a held send in a batch of its own: the retry cancels it, then sends."""
    hold = timedelta(minutes=15)
    customer_id, after = await _crash_after_accepted(sessions, engine_config, sendgrid, hold)
    report = await after.later(STALE_AFTER + timedelta(seconds=1))
    assert report.recovered == 1
    await after.dispatcher.dispatch_once()
    first, second = sendgrid.posts()
    assert first.body["batch_id"] in sendgrid.canceled
    assert second.body["batch_id"] not in sendgrid.canceled
    assert second.body["send_at"] > int(after.clock.now.timestamp())
    assert len(sendgrid.delivered()) == 1
    [row] = await outbox(sessions, customer_id)
    assert (row.status, row.attempts) == ("sent", 2)


async def test_an_unconfirmed_attempt_too_late_to_cancel_is_taken_as_delivered(
    sessions: SessionFactory, engine_config: EngineConfig, sendgrid: FakeSendGrid
) -> None:
    hold = timedelta(minutes=15)
    customer_id, after = await _crash_after_accepted(sessions, engine_config, sendgrid, hold)
    await after.later(timedelta(minutes=6))  # past send_at - 10 minutes
    await after.dispatcher.dispatch_once()
    assert len(sendgrid.posts()) == 1 and sendgrid.canceled == set()
    assert len(sendgrid.delivered()) == 1
    [row] = await outbox(sessions, customer_id)
    assert row.status == "sent"


async def test_without_a_hold_an_unconfirmed_attempt_is_sent_again(
    sessions: SessionFactory, engine_config: EngineConfig, sendgrid: FakeSendGrid
) -> None:
    """``LIFECYCLE_EMAIL_HOLD_SECONDS=0`` trades the guarantee for immediate delivery: at
    least once, the window being the 202's one-row commit."""
    customer_id, after = await _crash_after_accepted(
        sessions, engine_config, sendgrid, timedelta(0)
    )
    await after.later(STALE_AFTER + timedelta(seconds=1))
    await after.dispatcher.dispatch_once()
    assert len(sendgrid.delivered()) == 2
    [row] = await outbox(sessions, customer_id)
    assert row.status == "sent"
