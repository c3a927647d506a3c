"""Ledger anchoring (issue 16 part 4): a signed checkpoint of the chain head proves a
whole-chain rewrite (hashes recomputed by someone who can disable the trigger) and refuses
a forged anchor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text, update
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.anchors import AnchorActivities, AnchorTarget, write_anchor
from core.settings import REPO_ROOT
from db.engine import SessionFactory
from db.ledger import HASHED_FIELDS, append_ledger, row_hash, verify_chain
from db.models import LedgerEvent
from domain.anchors import private_text, public_text
from services.anchors import check_anchors
from services.temporal_setup import ensure_anchor_schedule
from tests.factories.databases import Database
from workflows.anchor import LedgerAnchorWorkflow

KEY = Ed25519PrivateKey.generate()


def _entry(n: int) -> dict[str, object]:
    now = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=n)
    return {
        "event_key": f"anchor-test:{n}",
        "customer_id": None,
        "kind": "charge_refunded",
        "actor": "system",
        "from_status": None,
        "to_status": None,
        "plan": None,
        "interval": None,
        "mrr_delta_cents": 0,
        "data": {"amount_refunded_cents": 1000 + n},
        "occurred_at": now,
        "recorded_at": now,
    }


async def _append(sessions: SessionFactory, first: int, count: int) -> None:
    async with sessions.begin() as session:
        for n in range(first, first + count):
            await append_ledger(session, _entry(n))


def _cli(database: Database, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_ANCHOR")}
    return subprocess.run(
        [sys.executable, "-m", "lifecycle", *args],
        cwd=REPO_ROOT,
        env={**base, "DATABASE_URL": database.url, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _rewrite_from(sessions: SessionFactory, row_id: int, amount: int) -> None:
    """What a superuser could do: switch the guard off, edit an old row, recompute every
    hash from it on so that the chain verifies again, switch the guard back on."""
    async with sessions.begin() as session:
        await session.execute(text("ALTER TABLE ledger_events DISABLE TRIGGER USER"))
        rows = list(
            await session.scalars(
                select(LedgerEvent).where(LedgerEvent.id >= row_id).order_by(LedgerEvent.id)
            )
        )
        prev = rows[0].prev_hash
        for row in rows:
            fields = {name: getattr(row, name) for name in HASHED_FIELDS}
            if row.id == row_id:
                fields["data"] = {"amount_refunded_cents": amount}
            digest = row_hash(prev, fields)
            await session.execute(
                update(LedgerEvent)
                .where(LedgerEvent.id == row.id)
                .values(data=fields["data"], prev_hash=prev, hash=digest)
            )
            prev = digest
        await session.execute(text("ALTER TABLE ledger_events ENABLE TRIGGER USER"))


async def test_an_anchor_catches_a_recomputed_chain(own_database: Database, tmp_path: Path) -> None:
    sessions = own_database.sessions
    await _append(sessions, 0, 5)
    anchors = tmp_path / "anchors"
    written = await write_anchor(sessions, AnchorTarget(anchors, KEY), datetime.now(UTC))
    assert written is not None and written.parent == anchors
    await _append(sessions, 5, 3)  # the chain goes on after the anchor
    checks = await check_anchors(sessions, anchors, KEY.public_key())
    assert [c.problem for c in checks] == [None]

    async with sessions() as session:
        second = await session.scalar(select(LedgerEvent.id).order_by(LedgerEvent.id).offset(1))
    assert second is not None
    await _rewrite_from(sessions, second, amount=1)
    async with sessions() as session:
        assert (await verify_chain(session)).broken is None  # the chain alone looks fine
    checks = await check_anchors(sessions, anchors, KEY.public_key())
    assert checks[0].problem is not None and "rewritten" in checks[0].problem

    env = {"LIFECYCLE_ANCHOR_PUBLIC_KEY": public_text(KEY.public_key())}
    result = _cli(own_database, "audit", "verify", "--anchors", str(anchors), **env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "chain intact" in result.stdout and "FAILED: anchor" in result.stdout


async def test_a_forged_anchor_fails(own_database: Database, tmp_path: Path) -> None:
    sessions = own_database.sessions
    await _append(sessions, 100, 3)
    anchors = tmp_path / "anchors"
    env = {
        "LIFECYCLE_ANCHOR_DIR": str(anchors),
        "LIFECYCLE_ANCHOR_SIGNING_KEY": private_text(KEY),
    }
    made = _cli(own_database, "audit", "anchor", **env)
    assert made.returncode == 0, made.stderr
    path = Path(made.stdout.split()[-1])
    good = _cli(own_database, "audit", "verify", "--anchors", str(anchors), **env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "ok: anchor" in good.stdout

    # Someone rewrote the chain and forges an anchor to match: the signature gives it away.
    document = json.loads(path.read_text())
    document["head_hash"] = "f" * 64
    path.write_text(json.dumps(document))
    forged = await check_anchors(sessions, anchors, KEY.public_key())
    assert forged[0].problem is not None and "signature" in forged[0].problem
    # Or signs one with a key of their own.
    other = Ed25519PrivateKey.generate()
    await write_anchor(sessions, AnchorTarget(anchors, other), datetime.now(UTC))
    problems = [c.problem for c in await check_anchors(sessions, anchors, KEY.public_key())]
    assert any(p and "another key" in p for p in problems)
    result = _cli(own_database, "audit", "verify", "--anchors", str(anchors), **env)
    assert result.returncode == 1
    assert result.stdout.count("FAILED: anchor") == 2
    # No anchors at all proves nothing: that fails too.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _cli(own_database, "audit", "verify", "--anchors", str(empty), **env).returncode == 1


async def test_the_daily_schedule_writes_an_anchor(
    time_skipping_env: WorkflowEnvironment,
    own_database: Database,
    tmp_path: Path,
) -> None:
    await _append(own_database.sessions, 200, 2)
    queue = f"anchor-{uuid.uuid4()}"
    activities = AnchorActivities(own_database.sessions, AnchorTarget(tmp_path, KEY))
    client: Client = time_skipping_env.client
    async with Worker(
        client,
        task_queue=queue,
        workflows=[LedgerAnchorWorkflow],
        activities=[activities.write_ledger_anchor],
    ):
        path = await client.execute_workflow(
            LedgerAnchorWorkflow.run, id=f"anchor-{uuid.uuid4()}", task_queue=queue
        )
    assert path is not None and Path(path).exists()
    checks = await check_anchors(own_database.sessions, tmp_path, KEY.public_key())
    assert [c.problem for c in checks] == [None]


async def test_the_anchor_schedule_is_registered(dev_server_env: WorkflowEnvironment) -> None:
    queue = f"anchor-{uuid.uuid4()}"
    assert await ensure_anchor_schedule(dev_server_env.client, task_queue=queue) in {
        "created",
        "updated",
    }
    assert await ensure_anchor_schedule(dev_server_env.client, task_queue=queue) == "updated"
    handle = dev_server_env.client.get_schedule_handle("lifecycle-ledger-anchor")
    described = await handle.describe()
    assert described.schedule.spec.intervals[0].every == timedelta(days=1)


@pytest.mark.parametrize("key", ["not base64!", "AAAA"])
def test_an_unreadable_key_is_refused(key: str) -> None:
    from domain.anchors import AnchorKeyError, load_private_key

    with pytest.raises(AnchorKeyError):
        load_private_key(key)
