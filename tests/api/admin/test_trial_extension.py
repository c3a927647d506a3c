"""Admin trial extension: the workflow Update (and its Web UI signal) on the time-skipping
server with real durations and exact emails, then the endpoint over HTTP on the dev server.

Design under test (``domain/trial.py``, ``CustomerWorkflow._extend_trial``): a running
trial grows from its end, an expired one reopens from the moment of the extension; the
reminders are planned afresh from the new end, leaving out those that would fall before
the extension moment (their keys carry the trial end, so a reminder for the new end is a
new email even if one with the same offset went out for the old end).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.auth import Principal, Scope, key_fingerprint
from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import Customer, EmailOutbox
from domain.lifecycle import BillingInterval
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.histories import record_history
from tests.factories.policies import days, make_policy
from tests.factories.polling import eventually
from tests.factories.records import ledger, outbox
from tests.factories.responses import assert_problem, fields, ok
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth, make_settings
from tests.factories.workers import make_worker
from tests.factories.workflows import Started
from workflows.customer import TRANSITION_REFUSED, CustomerWorkflow
from workflows.messages import (
    CancelSubscription,
    ChangeSubscription,
    CommandResult,
    ExtendTrial,
)

# What the API records for an action taken with the environment's admin key.
ADMIN_ACTOR = Principal(scope=Scope.ADMIN, key_id=key_fingerprint(ADMIN_KEY)).actor
REASON = "support ticket #4711: onboarding call moved"
TOLERANCE = timedelta(seconds=5)


@pytest.fixture
async def worker(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> AsyncIterator[Worker]:
    # The repository's policy: 14 days, reminders 7/3/1 days before, win-backs 3/7 after.
    policy = make_policy(engine_config)
    assert policy.trial.length == days(14)
    assert policy.trial.reminders == (days(7), days(3), days(1))
    assert policy.trial.winback == (days(3), days(7))
    async with make_worker(
        time_skipping_env.client,
        task_queue=task_queue,
        sessions=sessions,
        config=engine_config,
        policy=policy,
    ) as running:
        yield running


async def _extend(started: Started, days_: int, reason: str = REASON) -> CommandResult:
    return await started.update(
        CustomerWorkflow.extend_trial,
        ExtendTrial(days=days_, reason=reason, actor=ADMIN_ACTOR),
    )


async def _refused(started: Started, command: ExtendTrial) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await started.update(CustomerWorkflow.extend_trial, command)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError), cause
    assert cause.type == TRANSITION_REFUSED
    return cause


async def _emails_when(sessions: SessionFactory, customer_id: str, count: int) -> list[EmailOutbox]:
    return await eventually(
        lambda: outbox(sessions, customer_id),
        lambda rows: len(rows) >= count and all(r.status == "sent" for r in rows),
    )


def _assert_emails(
    emails: list[EmailOutbox],
    start: datetime,
    expected: list[tuple[str, timedelta, dict[str, Any]]],
) -> None:
    """Exactly these emails, in this order, each at its time (from ``start``) with its data."""
    assert [e.template for e in emails] == [t for t, _, _ in expected], [
        (e.template, e.created_at - start) for e in emails
    ]
    for email, (template, offset, data) in zip(emails, expected, strict=True):
        assert abs((email.created_at - start) - offset) < TOLERANCE, (
            template,
            email.created_at - start,
            offset,
        )
        for key, value in data.items():
            assert email.data[key] == value, (template, key, email.data)
    assert len({e.idempotency_key for e in emails}) == len(emails), "an email went out twice"


async def _row(sessions: SessionFactory, customer_id: str) -> Customer:
    async with sessions() as session:
        found = await session.get(Customer, customer_id)
        assert found is not None
        return found


def _iso(value: datetime) -> str:
    return value.isoformat()


# -- from trialing ---------------------------------------------------------------------------


async def test_extension_from_trialing_replans_reminders_from_the_new_end(
    time_skipping_env: WorkflowEnvironment, sessions: SessionFactory, started: Started
) -> None:
    """Day 5 of 14, extend by 7: the end moves to day 21; reminders come 7/3/1 days before
    the new end (days 14, 18, 20), expiry at 21, win-backs at 24 and 28. Nothing for the
    old end (days 7, 11, 13, 14) is sent."""
    env, cid, start = time_skipping_env, started.customer.id, started.signed_up_at
    await env.sleep(days(5))

    snapshot = await _extend(started, 7)
    new_end = start + days(21)
    assert snapshot.state.status == "trialing"
    assert snapshot.state.trial_ends_at == new_end
    assert snapshot.next_action is not None
    assert snapshot.next_action.key == f"trial_reminder:{7 * 86400}:{_iso(new_end)}"
    assert snapshot.next_action.at == start + days(14)
    # The read model follows at once (the update answers after it is written).
    row = await _row(sessions, cid)
    assert (row.status, row.trial_ends_at) == ("trialing", new_end)

    await env.sleep(days(24))
    emails = await _emails_when(sessions, cid, 8)
    _assert_emails(
        emails,
        start,
        [
            ("welcome", days(0), {"trial_days": 14}),
            ("trial_extended", days(5), {"days": 7, "trial_ends_at": _iso(new_end)}),
            ("trial_reminder", days(14), {"days_left": 7, "trial_ends_at": _iso(new_end)}),
            ("trial_reminder", days(18), {"days_left": 3, "trial_ends_at": _iso(new_end)}),
            ("trial_reminder", days(20), {"days_left": 1, "trial_ends_at": _iso(new_end)}),
            ("trial_expired", days(21), {"trial_ends_at": _iso(new_end)}),
            ("trial_winback", days(24), {"days_since_expiry": 3}),
            ("trial_winback", days(28), {"days_since_expiry": 7}),
        ],
    )
    final = await started.snapshot()
    assert final.state.status == "trial_expired"
    assert final.next_action is None

    rows = await ledger(sessions, cid)
    assert [(e.kind, e.from_status, e.to_status) for e in rows] == [
        ("trial_started", None, "trialing"),
        ("trial_extended", "trialing", "trialing"),
        ("trial_expired", "trialing", "trial_expired"),
    ]
    extended = rows[1]
    assert extended.actor == ADMIN_ACTOR
    assert extended.data == {
        "days": 7,
        "reason": REASON,
        "previous_trial_ends_at": _iso(start + days(14)),
        "trial_ends_at": _iso(new_end),
    }
    assert abs(extended.occurred_at - (start + days(5))) < TOLERANCE
    assert abs(rows[2].occurred_at - new_end) < TOLERANCE
    await record_history(started.handle, "trial_extended")


async def test_reminders_before_the_extension_moment_are_not_repeated(
    time_skipping_env: WorkflowEnvironment, sessions: SessionFactory, started: Started
) -> None:
    """Day 12 (the 7- and 3-day reminders went out on days 7 and 11), extend by 2: the end
    moves to day 16. The 7-day reminder for the new end would be day 9, before the
    extension: left out. The 3-day one (day 13) and the 1-day one (day 15) are ahead of
    it: sent, for the new end."""
    env, cid, start = time_skipping_env, started.customer.id, started.signed_up_at
    await env.sleep(days(12))
    await _emails_when(sessions, cid, 3)

    snapshot = await _extend(started, 2)
    new_end = start + days(16)
    assert snapshot.state.trial_ends_at == new_end
    planned_from = (await started.snapshot()).state.trial_planned_from
    assert planned_from is not None
    assert abs(planned_from - (start + days(12))) < TOLERANCE

    await env.sleep(days(4) + timedelta(hours=1))
    await eventually(started.snapshot, lambda s: s.state.status == "trial_expired")
    emails = await _emails_when(sessions, cid, 7)
    old_end, new = _iso(start + days(14)), _iso(new_end)
    _assert_emails(
        emails,
        start,
        [
            ("welcome", days(0), {}),
            ("trial_reminder", days(7), {"days_left": 7, "trial_ends_at": old_end}),
            ("trial_reminder", days(11), {"days_left": 3, "trial_ends_at": old_end}),
            ("trial_extended", days(12), {"days": 2, "trial_ends_at": new}),
            ("trial_reminder", days(13), {"days_left": 3, "trial_ends_at": new}),
            ("trial_reminder", days(15), {"days_left": 1, "trial_ends_at": new}),
            ("trial_expired", days(16), {"trial_ends_at": new}),
        ],
    )


# -- from trial_expired ----------------------------------------------------------------------


async def test_extension_reopens_an_expired_trial_then_it_expires_again(
    time_skipping_env: WorkflowEnvironment, sessions: SessionFactory, started: Started
) -> None:
    """Expired on day 14; on day 15 (before the first win-back) extend by 5: trialing again
    until day 15 + 5, reminders re-planned from that end (the 7-day one would precede the
    extension), no win-back for the old expiry, then expiry and win-backs again."""
    env, cid, start = time_skipping_env, started.customer.id, started.signed_up_at
    await env.sleep(days(15))
    await eventually(started.snapshot, lambda s: s.state.status == "trial_expired")
    await _emails_when(sessions, cid, 5)

    snapshot = await _extend(started, 5)
    extended_at = (await started.snapshot()).state.trial_planned_from
    assert extended_at is not None
    assert abs(extended_at - (start + days(15))) < TOLERANCE
    new_end = snapshot.state.trial_ends_at
    assert new_end == extended_at + days(5), "an expired trial reopens from the extension"
    assert snapshot.state.status == "trialing"
    assert snapshot.next_action is not None
    assert snapshot.next_action.key.startswith(f"trial_reminder:{3 * 86400}:")
    row = await _row(sessions, cid)
    assert (row.status, row.trial_ends_at) == ("trialing", new_end)

    await env.sleep(days(13))
    emails = await _emails_when(sessions, cid, 11)
    old, new = _iso(start + days(14)), _iso(new_end)
    at = extended_at - start
    _assert_emails(
        emails,
        start,
        [
            ("welcome", days(0), {}),
            ("trial_reminder", days(7), {"days_left": 7, "trial_ends_at": old}),
            ("trial_reminder", days(11), {"days_left": 3, "trial_ends_at": old}),
            ("trial_reminder", days(13), {"days_left": 1, "trial_ends_at": old}),
            ("trial_expired", days(14), {"trial_ends_at": old}),
            ("trial_extended", at, {"days": 5, "trial_ends_at": new}),
            ("trial_reminder", at + days(2), {"days_left": 3, "trial_ends_at": new}),
            ("trial_reminder", at + days(4), {"days_left": 1, "trial_ends_at": new}),
            ("trial_expired", at + days(5), {"trial_ends_at": new}),
            ("trial_winback", at + days(8), {"days_since_expiry": 3, "trial_ends_at": new}),
            ("trial_winback", at + days(12), {"days_since_expiry": 7, "trial_ends_at": new}),
        ],
    )
    rows = await ledger(sessions, cid)
    assert [(e.kind, e.from_status, e.to_status, e.actor) for e in rows] == [
        ("trial_started", None, "trialing", "system"),
        ("trial_expired", "trialing", "trial_expired", "system"),
        ("trial_extended", "trial_expired", "trialing", ADMIN_ACTOR),
        ("trial_expired", "trialing", "trial_expired", "system"),
    ]
    assert rows[2].data["reason"] == REASON
    assert rows[2].data["previous_trial_ends_at"] == old
    assert (await started.snapshot()).state.status == "trial_expired"
    await record_history(started.handle, "expired_trial_reopened")


# -- refusals --------------------------------------------------------------------------------


async def test_bad_extensions_are_refused_and_change_nothing(
    sessions: SessionFactory, started: Started
) -> None:
    cid = started.customer.id
    before = (await started.snapshot()).state.trial_ends_at
    assert before is not None
    for command, message in [
        (ExtendTrial(days=0, reason=REASON, actor=ADMIN_ACTOR), "between 1 and 90"),
        (ExtendTrial(days=91, reason=REASON, actor=ADMIN_ACTOR), "between 1 and 90"),
        (ExtendTrial(days=-3, reason=REASON, actor=ADMIN_ACTOR), "between 1 and 90"),
        (ExtendTrial(days=7, reason="", actor=ADMIN_ACTOR), "reason"),
        (ExtendTrial(days=7, reason="   ", actor=ADMIN_ACTOR), "reason"),
    ]:
        refusal = await _refused(started, command)
        assert message in refusal.message, (command, refusal.message)
    after = await started.snapshot()
    assert after.state.trial_ends_at == before
    assert [e.kind for e in await ledger(sessions, cid)] == ["trial_started"]
    assert [e.template for e in await outbox(sessions, cid)] == ["welcome"]

    # The bounds themselves are fine.
    assert (await _extend(started, 1)).state.trial_ends_at == before + days(1)
    assert (await _extend(started, 90)).state.trial_ends_at == before + days(91)


async def test_extension_is_refused_for_paying_and_canceled_customers(
    sessions: SessionFactory, started: Started
) -> None:
    cid = started.customer.id
    converted = await started.update(
        CustomerWorkflow.change_subscription,
        ChangeSubscription(
            plan="starter",
            interval=BillingInterval.MONTH,
            actor="app:test",
            payment_method="pm_card_visa",
        ),
    )
    assert converted.state.status == "active"
    refusal = await _refused(started, ExtendTrial(days=7, reason=REASON, actor=ADMIN_ACTOR))
    assert "active" in refusal.message

    canceled = await started.update(
        CustomerWorkflow.cancel, CancelSubscription(actor="app:test", at_period_end=False)
    )
    assert canceled.state.status == "canceled"
    refusal = await _refused(started, ExtendTrial(days=7, reason=REASON, actor=ADMIN_ACTOR))
    assert "canceled" in refusal.message

    assert "trial_extended" not in [e.kind for e in await ledger(sessions, cid)]
    assert "trial_extended" not in [e.template for e in await outbox(sessions, cid)]
    assert (await _row(sessions, cid)).status == "canceled"


# -- the signal (Temporal Web UI) ----------------------------------------------------------


async def test_signal_from_the_web_ui_extends_a_trial(
    sessions: SessionFactory, started: Started
) -> None:
    """What an operator sends from the Web UI: signal ``extend_trial`` with plain JSON
    input and no actor; the default actor names the UI."""
    cid, start = started.customer.id, started.signed_up_at
    await started.handle.signal("extend_trial", {"days": 4, "reason": "web ui goodwill"})
    snapshot = await eventually(
        started.snapshot, lambda s: s.state.trial_ends_at == start + days(18)
    )
    assert snapshot.state.status == "trialing"
    rows = await eventually(
        lambda: ledger(sessions, cid), lambda r: [e.kind for e in r][-1:] == ["trial_extended"]
    )
    assert rows[-1].actor == "admin:temporal-ui"
    assert rows[-1].data["reason"] == "web ui goodwill"
    assert rows[-1].data["days"] == 4
    emails = await _emails_when(sessions, cid, 2)
    assert [e.template for e in emails] == ["welcome", "trial_extended"]
    assert (await _row(sessions, cid)).trial_ends_at == start + days(18)

    # The typed signal does the same, with the actor it is given.
    await started.handle.signal(
        CustomerWorkflow.extend_trial_signal,
        ExtendTrial(days=1, reason="typed", actor=ADMIN_ACTOR),
    )
    await eventually(started.snapshot, lambda s: s.state.trial_ends_at == start + days(19))
    rows = await eventually(lambda: ledger(sessions, cid), lambda r: len(r) == 3)
    assert (rows[-1].kind, rows[-1].actor) == ("trial_extended", ADMIN_ACTOR)
    await record_history(started.handle, "trial_extended_by_signal")


async def test_signal_refused_from_active_is_recorded_not_applied(
    sessions: SessionFactory, started: Started
) -> None:
    cid = started.customer.id
    converted = await started.update(
        CustomerWorkflow.change_subscription,
        ChangeSubscription(
            plan="pro",
            interval=BillingInterval.MONTH,
            actor="app:test",
            payment_method="pm_card_visa",
        ),
    )
    trial_end = converted.state.trial_ends_at
    await started.handle.signal(
        CustomerWorkflow.extend_trial_signal,
        ExtendTrial(days=7, reason="from the UI", actor="admin:temporal-ui"),
    )
    rows = await eventually(
        lambda: ledger(sessions, cid),
        lambda r: "admin_command_refused" in [e.kind for e in r],
    )
    refused = rows[-1]
    assert refused.kind == "admin_command_refused"
    assert refused.actor == "admin:temporal-ui"
    assert refused.data["command"] == "extend_trial"
    assert "active" in refused.data["error"]
    assert (refused.from_status, refused.to_status) == ("active", "active")
    snapshot = await started.snapshot()
    assert (snapshot.state.status, snapshot.state.trial_ends_at) == ("active", trial_end)
    assert "trial_extended" not in [e.kind for e in rows]
    assert "trial_extended" not in [e.template for e in await outbox(sessions, cid)]
    await record_history(started.handle, "extension_signal_refused")


async def test_signal_with_bad_days_is_recorded_as_refused(
    sessions: SessionFactory, started: Started
) -> None:
    cid, start = started.customer.id, started.signed_up_at
    await started.handle.signal("extend_trial", {"days": 91, "reason": "too generous"})
    rows = await eventually(
        lambda: ledger(sessions, cid),
        lambda r: "admin_command_refused" in [e.kind for e in r],
    )
    assert rows[-1].data["command"] == "extend_trial"
    assert "between 1 and 90" in rows[-1].data["error"]
    assert (await started.snapshot()).state.trial_ends_at == start + days(14)


# -- over HTTP (dev server) ------------------------------------------------------------------


@pytest.fixture
async def http(
    dev_server_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=database_url, task_queue=task_queue, stripe_api_key=None)
    async with (
        make_worker(
            dev_server_env.client, task_queue=task_queue, sessions=sessions, config=engine_config
        ),
        api_client(settings, dev_server_env.client) as client,
    ):
        yield client


async def _sign_up(http: httpx.AsyncClient) -> dict[str, Any]:
    return ok(
        await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email("ext")},
            headers=auth(),
        ),
        201,
    )


async def test_trial_extension_endpoint(http: httpx.AsyncClient, sessions: SessionFactory) -> None:
    customer = await _sign_up(http)
    cid = customer["id"]
    trial_end = datetime.fromisoformat(customer["trial_ends_at"])
    await eventually(lambda: ledger(sessions, cid), lambda rows: len(rows) == 1)
    url = f"/v1/admin/customers/{cid}/trial-extension"

    extended = ok(
        await http.post(url, json={"days": 10, "reason": REASON}, headers=auth(ADMIN_KEY))
    )
    assert extended["id"] == cid
    assert extended["status"] == "trialing"
    assert datetime.fromisoformat(extended["trial_ends_at"]) == trial_end + days(10)
    rows = await ledger(sessions, cid)
    assert [e.kind for e in rows] == ["trial_started", "trial_extended"]
    assert rows[-1].actor == ADMIN_ACTOR
    assert rows[-1].data["reason"] == REASON
    assert rows[-1].data["days"] == 10
    await eventually(
        lambda: outbox(sessions, cid), lambda r: "trial_extended" in [e.template for e in r]
    )

    # Bad input names the field; an app key is not enough; an unknown customer is 404.
    for body, field in [
        ({"days": 91, "reason": REASON}, "days"),
        ({"days": 0, "reason": REASON}, "days"),
        ({"days": 5, "reason": "  "}, "reason"),
        ({"days": 5}, "reason"),
    ]:
        problem = assert_problem(await http.post(url, json=body, headers=auth(ADMIN_KEY)), 422)
        assert field in fields(problem), problem
    assert_problem(
        await http.post(url, json={"days": 5, "reason": REASON}, headers=auth(APP_KEY)),
        403,
        "forbidden",
    )
    assert_problem(
        await http.post(
            f"/v1/admin/customers/{uuid.uuid4()}/trial-extension",
            json={"days": 5, "reason": REASON},
            headers=auth(ADMIN_KEY),
        ),
        404,
    )

    # A paying customer: 409 with the reason, nothing recorded.
    converted = ok(
        await http.post(
            f"/v1/customers/{cid}/subscription",
            json={"plan": "starter", "interval": "month", "payment_method": "pm_card_visa"},
            headers=auth(),
        )
    )
    assert converted["status"] == "active"
    problem = assert_problem(
        await http.post(url, json={"days": 5, "reason": REASON}, headers=auth(ADMIN_KEY)),
        409,
        "transition-not-allowed",
    )
    assert "active" in problem["detail"]
    assert [e.kind for e in await ledger(sessions, cid)].count("trial_extended") == 1
