"""The SendGrid adapter and the email activity against a real local HTTP server.

No mocking of the sendgrid SDK: the sender posts over a real socket to a scripted
``http.server`` running in a background thread, and the outbox lives in real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.emails import EmailActivities, SendEmailInput
from adapters.email.sendgrid_sender import SendGridEmailSender
from db.engine import SessionFactory
from domain.emails import EmailTemplate
from lifecycle.config import EngineConfig
from tests.factories import insert_customer, make_policy
from tests.helpers import outbox

API_KEY = "SG.test-key"
FROM_EMAIL = "hello@chatbot.example"
PRODUCT = "ChatbotCloud"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Scripted:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Announce more body than is sent, then hang up: a response cut off in transit.
    truncated: bool = False


class FakeSendGrid:
    """Records every request and answers from a scripted list (then 202 once it runs out)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.responses: list[Scripted] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                with fake._lock:
                    fake.requests.append(
                        Recorded(self.command, self.path, dict(self.headers.items()), body)
                    )
                    answer = fake.responses.pop(0) if fake.responses else Scripted(202)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                announced = len(answer.body) + (100 if answer.truncated else 0)
                self.send_header("Content-Length", str(announced))
                self.end_headers()
                if answer.body:
                    self.wfile.write(answer.body)

            do_POST = _handle
            do_GET = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def script(self, *responses: Scripted) -> None:
        with self._lock:
            self.responses.extend(responses)

    def posts(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_proxy_for_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib (used by the SDK) honours *_proxy variables; the fake server is local.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    fake = FakeSendGrid()
    fake.start()
    yield fake
    fake.stop()


def _activities(sessions: SessionFactory, host: str, **sender_options: Any) -> EmailActivities:
    sender = SendGridEmailSender(
        api_key=API_KEY, from_email=FROM_EMAIL, host=host, **sender_options
    )
    return EmailActivities(sessions, sender, product_name=PRODUCT)


def _request(customer_id: str, template: EmailTemplate = EmailTemplate.WELCOME) -> SendEmailInput:
    return SendEmailInput(
        customer_id=customer_id,
        template=template,
        idempotency_key=f"{customer_id}:{template}:{uuid.uuid4().hex[:8]}",
        requested_at=datetime.now(UTC),
        data={"trial_days": 14, "trial_ends_at": "2030-01-15T00:00:00+00:00"},
    )


async def test_successful_send_posts_the_mail_and_marks_the_row_sent(
    sessions: SessionFactory, engine_config: EngineConfig, sendgrid: FakeSendGrid
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    sendgrid.script(Scripted(202, {"X-Message-Id": "msg-abc-123"}))
    activities = _activities(sessions, sendgrid.host)
    request = _request(customer.id)

    result = await activities.send_email(request)

    assert result.status == "sent"
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

    [row] = await outbox(sessions, customer.id)
    assert row.id == result.outbox_id
    assert row.status == "sent"
    assert row.provider == "sendgrid"
    assert row.provider_message_id == "msg-abc-123"
    assert row.sent_at is not None
    assert row.attempts == 1
    assert row.last_error is None


async def test_server_error_is_retried_and_the_email_goes_out_once(
    sessions: SessionFactory, engine_config: EngineConfig, sendgrid: FakeSendGrid
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    sendgrid.script(
        Scripted(500, body=b'{"errors":[{"message":"internal"}]}'),
        Scripted(202, {"X-Message-Id": "msg-retry-1"}),
    )
    activities = _activities(sessions, sendgrid.host)
    request = _request(customer.id, EmailTemplate.TRIAL_REMINDER)

    with pytest.raises(ApplicationError) as raised:
        await activities.send_email(request)
    assert raised.value.non_retryable is False
    assert raised.value.type == "EmailDeliveryError"
    assert "500" in str(raised.value)

    [row] = await outbox(sessions, customer.id)
    assert row.status == "pending"
    assert row.attempts == 1
    assert row.last_error is not None and "500" in row.last_error
    assert row.sent_at is None

    # Temporal's retry of the same activity input.
    result = await activities.send_email(request)
    assert result.status == "sent"
    assert len(sendgrid.posts()) == 2
    # Both attempts carried the same idempotency key to SendGrid.
    assert {p.body["custom_args"]["idempotency_key"] for p in sendgrid.posts()} == {
        request.idempotency_key
    }

    [row] = await outbox(sessions, customer.id)
    assert row.status == "sent"
    assert row.provider_message_id == "msg-retry-1"
    assert row.attempts == 2
    assert row.last_error is None
    assert row.sent_at is not None

    # A further retry (e.g. the worker died before reporting completion) sends nothing.
    again = await activities.send_email(request)
    assert again.status == "sent"
    assert again.outbox_id == row.id
    assert len(sendgrid.posts()) == 2
    assert len(await outbox(sessions, customer.id)) == 1


async def test_too_many_requests_is_retryable(
    sessions: SessionFactory, engine_config: EngineConfig, sendgrid: FakeSendGrid
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    sendgrid.script(Scripted(429, {"Retry-After": "1"}, b'{"errors":[]}'))
    activities = _activities(sessions, sendgrid.host)

    with pytest.raises(ApplicationError) as raised:
        await activities.send_email(_request(customer.id))
    assert raised.value.non_retryable is False

    [row] = await outbox(sessions, customer.id)
    assert row.status == "pending"
    assert row.attempts == 1


async def test_bad_request_is_final_and_never_resent(
    sessions: SessionFactory, engine_config: EngineConfig, sendgrid: FakeSendGrid
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    sendgrid.script(
        Scripted(400, body=b'{"errors":[{"message":"Does not contain a valid address."}]}')
    )
    activities = _activities(sessions, sendgrid.host)
    request = _request(customer.id, EmailTemplate.TRIAL_EXPIRED)

    with pytest.raises(ApplicationError) as raised:
        await activities.send_email(request)
    assert raised.value.non_retryable is True
    assert "400" in str(raised.value)

    [row] = await outbox(sessions, customer.id)
    assert row.status == "failed"
    assert row.attempts == 1
    assert row.last_error is not None
    assert "Does not contain a valid address." in row.last_error
    assert row.sent_at is None
    assert row.provider_message_id is None

    result = await activities.send_email(request)
    assert result.status == "failed"
    assert len(sendgrid.posts()) == 1
    [row] = await outbox(sessions, customer.id)
    assert row.status == "failed"
    assert row.attempts == 1


async def test_connection_refused_is_retryable(
    sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    # A bound socket that never listens: connecting to it is refused, and no other
    # process can take the port while the test runs.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{closed.getsockname()[1]}"
        activities = _activities(sessions, host)
        request = _request(customer.id)

        with pytest.raises(ApplicationError) as raised:
            await activities.send_email(request)

    assert raised.value.non_retryable is False
    assert raised.value.type == "EmailDeliveryError"
    [row] = await outbox(sessions, customer.id)
    assert row.status == "pending"
    assert row.attempts == 1
    assert row.last_error is not None and "unreachable" in row.last_error


async def test_unanswered_request_times_out_as_retryable(
    sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    # Listening but never accepting: the kernel completes the TCP handshake and the
    # request then waits for an answer that never comes. Without a client timeout the
    # SDK (urllib) would block this thread forever.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        activities = _activities(sessions, host, timeout=0.5)

        with pytest.raises(ApplicationError) as raised:
            await asyncio.wait_for(activities.send_email(_request(customer.id)), timeout=10)

    assert raised.value.non_retryable is False
    [row] = await outbox(sessions, customer.id)
    assert row.status == "pending"
    assert row.attempts == 1
    assert row.last_error is not None and "timed out" in row.last_error


async def test_truncated_response_is_retryable(
    sessions: SessionFactory, engine_config: EngineConfig, sendgrid: FakeSendGrid
) -> None:
    customer = await insert_customer(sessions, policy=make_policy(engine_config))
    sendgrid.script(Scripted(502, body=b"<html>bad gateway", truncated=True))
    activities = _activities(sessions, sendgrid.host)

    with pytest.raises(ApplicationError) as raised:
        await activities.send_email(_request(customer.id))

    assert raised.value.non_retryable is False
    assert raised.value.type == "EmailDeliveryError"
    [row] = await outbox(sessions, customer.id)
    assert row.status == "pending"
    assert row.attempts == 1
