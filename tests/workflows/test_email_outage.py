"""An email provider outage never holds up the lifecycle: the trial expires on time, and each
email goes out once when the provider answers again.

Before: the workflow awaited each email's delivery (retried without limit), so during an
outage no timer existed after the welcome, trials stayed open past their end, and a
customer whose welcome never went out got no reminders, expiry or win-backs at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from temporalio.testing import WorkflowEnvironment

from adapters.email.sendgrid_sender import SendGridEmailSender
from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import EmailOutbox
from services.email_dispatch import EmailDispatcher
from tests.factories.policies import days, make_policy
from tests.factories.polling import eventually
from tests.factories.records import ledger, outbox
from tests.factories.sendgrid import FakeSendGrid, Scripted
from tests.factories.workers import make_worker
from tests.factories.workflows import start_customer


@pytest.fixture
def sendgrid(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSendGrid]:
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    fake = FakeSendGrid()
    fake.start()
    yield fake
    fake.stop()


async def test_a_trial_expires_on_time_while_sendgrid_is_down(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
    sendgrid: FakeSendGrid,
) -> None:
    env = time_skipping_env
    async with sessions.begin() as session:  # no other test's rows in this dispatch
        await session.execute(
            update(EmailOutbox)
            .where(EmailOutbox.status.in_(("pending", "sending", "accepted")))
            .values(status="skipped")
        )
    sender = SendGridEmailSender(api_key="SG.test", from_email="a@b.example", host=sendgrid.host)
    policy = make_policy(engine_config)  # 14 days, reminders at 7/3/1 days left
    sendgrid.script(*[Scripted(503, body=b'{"errors":[]}')] * 50)  # down for the whole trial
    dispatcher = EmailDispatcher(sessions, sender)
    async with make_worker(
        env.client,
        task_queue=task_queue,
        sessions=sessions,
        config=engine_config,
        policy=policy,
        sender=sender,
    ):
        started = await start_customer(env, sessions, engine_config, task_queue, policy=policy)
        cid = started.customer.id
        await dispatcher.dispatch_once()  # the welcome: refused
        await env.sleep(days(14) + timedelta(hours=1))
        await eventually(started.snapshot, lambda s: s.state.status == "trial_expired")
    rows = await ledger(sessions, cid)
    expired = next(r for r in rows if r.kind == "trial_expired")
    assert abs(expired.occurred_at - (started.signed_up_at + days(14))) < timedelta(minutes=1)
    emails = await outbox(sessions, cid)
    assert [e.template for e in emails] == [
        "welcome",
        "trial_reminder",
        "trial_reminder",
        "trial_reminder",
        "trial_expired",
    ]
    assert {e.status for e in emails} == {"pending"}

    # SendGrid is back: each email goes out once, whatever the number of passes.
    sendgrid.responses.clear()
    for row in emails:
        async with sessions.begin() as session:
            await session.execute(
                update(EmailOutbox).where(EmailOutbox.id == row.id).values(next_attempt_at=None)
            )
    for _ in range(3):
        await dispatcher.dispatch_once()
    assert {e.status for e in await outbox(sessions, cid)} == {"sent"}
    delivered = [
        r.body["custom_args"]["idempotency_key"]
        for r in sendgrid.delivered()
        if r.body["custom_args"]["customer_id"] == cid
    ]
    assert sorted(delivered) == sorted(e.idempotency_key for e in emails)
