"""The access review (issue 16 part 6): keys with expiry and revocation refused, last use
recorded off the request path (at most once a minute per key), unused keys flagged, by the
admin API and `lifecycle keys review`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from temporalio.testing import WorkflowEnvironment

from core.clock import utcnow
from db.engine import SessionFactory
from db.models import ApiKey, ApiKeyDetail, LedgerEvent, SecurityEvent
from services.access_review import create_api_key
from services.key_usage import KeyUseRecorder
from tests.factories.apps import api_client
from tests.factories.processes import lifecycle_cli
from tests.factories.responses import assert_problem, ok
from tests.factories.settings import ADMIN_KEY, auth, make_settings

Json = dict[str, Any]


@pytest.fixture
async def client(
    database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url=database_url, task_queue=task_queue, lifecycle_key_unused_days=30
    )
    async with api_client(settings, dev_server_env.client) as http:
        yield http


async def _key(sessions: SessionFactory, **kwargs: object) -> tuple[str, str]:
    created = await create_api_key(
        sessions,
        scope=str(kwargs.pop("scope", "app")),
        name="review",
        actor="test:review",
        **kwargs,  # type: ignore[arg-type]
    )
    return created.id, created.key


async def _review(client: httpx.AsyncClient, **params: int) -> dict[str, Json]:
    body = ok(await client.get("/v1/admin/security/keys", params=params, headers=auth(ADMIN_KEY)))
    return {k["id"]: k for k in body["keys"]}


async def test_revoked_and_expired_keys_get_401(
    client: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    _, live = await _key(sessions, expires_at=utcnow() + timedelta(days=1))
    revoked_id, revoked = await _key(sessions)
    expired_id, expired = await _key(sessions, expires_at=utcnow() - timedelta(seconds=1))
    ok(await client.get("/v1/plans", headers=auth(live)))
    ok(await client.get("/v1/plans", headers=auth(revoked)))
    ok(await client.post(f"/v1/admin/security/keys/{revoked_id}/revoke", headers=auth(ADMIN_KEY)))
    for key in (revoked, expired):
        problem = assert_problem(
            await client.get("/v1/plans", headers=auth(key)), 401, "unauthorized"
        )
        assert "revoked or expired" in problem["detail"]
    # Revoking twice is a 404: nothing live by that id.
    assert_problem(
        await client.post(f"/v1/admin/security/keys/{revoked_id}/revoke", headers=auth(ADMIN_KEY)),
        404,
    )
    review = await _review(client)
    assert review[revoked_id]["status"] == "revoked"
    assert review[expired_id]["status"] == "expired"
    async with sessions() as session:
        audit = await session.scalar(
            select(LedgerEvent).where(LedgerEvent.event_key == f"api_key_revoked:{revoked_id}")
        )
        logged = list(
            await session.scalars(
                select(SecurityEvent).where(SecurityEvent.kind == "api_key_revoked")
            )
        )
    assert audit is not None and audit.actor.startswith("admin:key_")
    assert any(e.detail.get("key_id") == revoked_id for e in logged)


async def test_the_review_reports_and_flags_unused_keys(
    client: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    fresh_id, _ = await _key(sessions)
    stale_id, _ = await _key(sessions)
    used_id, used = await _key(sessions, expires_at=utcnow() + timedelta(days=90))
    async with sessions.begin() as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id.in_([stale_id, used_id]))
            .values(created_at=utcnow() - timedelta(days=40))
        )
    ok(await client.get("/v1/plans", headers=auth(used)))
    # Nothing written on the request's path: the recorder's loop writes later.
    async with sessions() as session:
        detail = await session.get(ApiKeyDetail, used_id)
    assert detail is not None and detail.last_used_at is None
    await client._transport.app.state.context.keys.used.flush(sessions)  # type: ignore[attr-defined]

    review = await _review(client)
    assert review[fresh_id]["unused"] is False  # younger than the window
    assert review[stale_id]["unused"] is True
    assert any("never used" in f for f in review[stale_id]["flags"])
    assert review[used_id]["unused"] is False
    assert review[used_id]["last_used_at"] is not None
    assert review[used_id]["age_days"] == 40
    assert review[used_id]["created_by"] == "test:review"
    assert review[used_id]["expires_at"] is not None
    assert "no expiry" in review[stale_id]["flags"]
    # The environment's keys are listed by fingerprint.
    assert any(k["source"] == "environment" for k in review.values())

    # A key used long ago is flagged again; a shorter window flags the fresh one too.
    async with sessions.begin() as session:
        await session.execute(
            update(ApiKeyDetail)
            .where(ApiKeyDetail.key_id == used_id)
            .values(last_used_at=utcnow() - timedelta(days=31))
        )
    review = await _review(client)
    assert review[used_id]["unused"] is True
    assert (await _review(client, unused_days=1))[stale_id]["unused"] is True
    assert_problem(
        await client.get(
            "/v1/admin/security/keys", params={"unused_days": 0}, headers=auth(ADMIN_KEY)
        ),
        422,
    )


def test_a_key_is_written_at_most_once_a_minute() -> None:
    clock = [1000.0]
    recorder = KeyUseRecorder(interval=60.0, clock=lambda: clock[0])
    now = utcnow()
    for _ in range(1000):
        recorder.touch("key_a", now)
    recorder.touch("key_b", now)
    assert set(recorder.pending) == {"key_a", "key_b"}
    recorder._pending.clear()
    clock[0] += 59
    recorder.touch("key_a", now + timedelta(seconds=59))
    assert recorder.pending == {}
    clock[0] += 2
    recorder.touch("key_a", now + timedelta(seconds=61))
    assert recorder.pending == {"key_a": now + timedelta(seconds=61)}


async def test_the_recorder_writes_last_use_in_one_batch(sessions: SessionFactory) -> None:
    first, _ = await _key(sessions)
    second, _ = await _key(sessions)
    recorder = KeyUseRecorder()
    now = utcnow()
    recorder.touch(first, now)
    recorder.touch(second, now)
    recorder.touch("key_gone", now)  # a key deleted meanwhile is skipped
    assert await recorder.flush(sessions) == 3
    assert await recorder.flush(sessions) == 0
    async with sessions() as session:
        rows = {
            d.key_id: d.last_used_at
            for d in await session.scalars(
                select(ApiKeyDetail).where(ApiKeyDetail.key_id.in_([first, second]))
            )
        }
    assert rows == {first: now, second: now}


async def test_lifecycle_keys_review_create_and_revoke(
    database_url: str, sessions: SessionFactory
) -> None:
    created = await lifecycle_cli(
        database_url, "keys", "create", "--scope", "app", "--name", "cli", "--expires-in-days", "7"
    )
    assert created.code == 0, created
    key_id = created.stdout.split()[1]
    assert "expires:" in created.stdout
    result = await lifecycle_cli(database_url, "keys", "review", "--json", "--unused-days", "3650")
    assert result.code == 0, result
    keys = {k["id"]: k for k in json.loads(result.stdout)["keys"]}
    assert keys[key_id]["status"] == "active"
    assert keys[key_id]["created_by"].startswith("cli:")
    assert keys[key_id]["expires_at"] is not None

    revoked = await lifecycle_cli(database_url, "keys", "revoke", key_id, "--reason", "test")
    assert revoked.code == 0, revoked
    again = await lifecycle_cli(database_url, "keys", "revoke", key_id)
    assert again.code == 1
    table = await lifecycle_cli(database_url, "keys", "review", "--unused-days", "3650")
    assert table.code == 0, table
    line = next(line for line in table.stdout.splitlines() if line.startswith(key_id))
    assert "revoked" in line
