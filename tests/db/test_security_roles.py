"""Segregation of duties (issue 16 part 1): migrated by the owner, the API and worker's role
may append to the ledger and run the engine's writes, but can neither rewrite the ledger
nor switch its protection off."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import make_url

from core.config import EngineConfig
from core.settings import REPO_ROOT
from db.api_keys import create_key, find_key
from db.engine import SessionFactory, create_engine, session_factory
from db.ledger import append_ledger, verify_chain
from db.migrate import migrate
from db.models import Customer, LimitOverride
from db.roles import RoleError
from db.security_events import append_security_event, purge_security_events
from tests.factories.customers import add_addon, make_customer
from tests.factories.databases import _asyncpg_dsn, drop_database
from tests.factories.usage import consume

PASSWORD = "app-secret"


@dataclass(frozen=True)
class Split:
    owner_url: str
    app_url: str
    role: str
    app_sessions: SessionFactory


async def _admin(pg_admin_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(_asyncpg_dsn(pg_admin_url))


@pytest.fixture
async def split(pg_admin_url: str) -> AsyncIterator[Split]:
    """A database migrated by the owner with a fresh app role granted its privileges."""
    role = f"lc_app_{uuid.uuid4().hex[:10]}"
    name = f"lc_roles_{uuid.uuid4().hex[:12]}"
    admin = await _admin(pg_admin_url)
    try:
        can = await admin.fetchval(
            "SELECT rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        assert can, (
            "the test cluster's role needs CREATEROLE to make an app role: run "
            "scripts/postgres.sh (it grants it)"
        )
        await admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{PASSWORD}'")
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    owner_url = make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    app_url = (
        make_url(owner_url)
        .set(username=role, password=PASSWORD)
        .render_as_string(hide_password=False)
    )
    await migrate(owner_url, app_role=role)
    engine = create_engine(app_url)
    try:
        yield Split(owner_url, app_url, role, session_factory(engine))
    finally:
        await engine.dispose()
        await drop_database(pg_admin_url, owner_url)
        admin = await _admin(pg_admin_url)
        try:
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await admin.close()


def _entry(key: str) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "event_key": key,
        "customer_id": None,
        "kind": "note",
        "actor": "test",
        "from_status": None,
        "to_status": None,
        "plan": None,
        "interval": None,
        "mrr_delta_cents": 0,
        "data": {},
        "occurred_at": now,
        "recorded_at": now,
    }


async def _as_app(split: Split) -> asyncpg.Connection:
    return await asyncpg.connect(_asyncpg_dsn(split.app_url))


async def test_the_app_role_appends_to_the_ledger(split: Split) -> None:
    async with split.app_sessions.begin() as session:
        assert await append_ledger(session, _entry("roles:first"))
        assert await append_ledger(session, _entry("roles:second"))
    async with split.app_sessions() as session:
        report = await verify_chain(session)
    assert report.rows == 2 and report.broken is None


ATTEMPTS = [
    "UPDATE ledger_events SET actor = 'mallory'",
    "DELETE FROM ledger_events",
    "TRUNCATE ledger_events",
    "ALTER TABLE ledger_events DISABLE TRIGGER ledger_events_append_only",
    "ALTER TABLE ledger_events DISABLE TRIGGER ALL",
    "DROP TRIGGER ledger_events_append_only ON ledger_events",
    "DROP TRIGGER ledger_events_no_truncate ON ledger_events",
    "DROP TABLE ledger_events",
    "ALTER TABLE ledger_events OWNER TO CURRENT_USER",
    "CREATE OR REPLACE FUNCTION ledger_events_append_only() RETURNS trigger AS "
    "$$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER sneaky BEFORE INSERT ON ledger_events FOR EACH ROW "
    "EXECUTE FUNCTION ledger_events_append_only()",
    "CREATE TABLE public.shadow_ledger (id int)",
    "UPDATE security_events SET kind = 'nothing'",
    "DELETE FROM security_events",
    "UPDATE alembic_version SET version_num = '0001'",
    "SET ROLE lifecycle",
]


async def test_the_app_role_cannot_rewrite_or_unprotect_the_ledger(split: Split) -> None:
    async with split.app_sessions.begin() as session:
        await append_ledger(session, _entry("roles:victim"))
    connection = await _as_app(split)
    allowed: list[str] = []
    try:
        for statement in ATTEMPTS:
            try:
                await connection.execute(statement)
            except asyncpg.InsufficientPrivilegeError as refused:
                # Refused for want of privilege, not by the trigger (an owner could drop it).
                assert "append-only" not in str(refused), statement
            else:
                allowed.append(statement)
        assert await connection.fetchval("SELECT count(*) FROM ledger_events") == 1
    finally:
        await connection.close()
    assert allowed == []


async def test_the_app_role_lets_the_security_log_age_out_but_never_erases_it_recently(
    split: Split,
) -> None:
    now = datetime.now(UTC)
    async with split.app_sessions.begin() as session:
        for age in (200, 40, 1):
            await append_security_event(
                session, kind="auth_failed", occurred_at=now - timedelta(days=age)
            )
    connection = await _as_app(split)
    try:
        for bound in ("now()", "now() - interval '29 days'", "NULL", "'infinity'"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="at least 30 days"):
                await connection.fetchval(f"SELECT purge_security_events({bound})")
        assert await connection.fetchval("SELECT count(*) FROM security_events") == 3
        # The retention's own call, through the engine's code as the app role.
        async with split.app_sessions.begin() as session:
            assert await purge_security_events(session, before=now - timedelta(days=100)) == 1
        assert await connection.fetchval("SELECT count(*) FROM security_events") == 2
    finally:
        await connection.close()


async def test_the_engines_writes_still_work_as_the_app_role(
    split: Split, engine_config: EngineConfig
) -> None:
    sessions = split.app_sessions
    cid = await make_customer(sessions, engine_config, status="active", plan="pro")
    await add_addon(sessions, cid, "message_pack", kind="one_off")
    async with sessions.begin() as session:
        session.add(
            LimitOverride(
                customer_id=cid, metric="tokens", value=7, actor="t", updated_at=datetime.now(UTC)
            )
        )
    async with sessions.begin() as session:
        await session.execute(
            update(LimitOverride).where(LimitOverride.customer_id == cid).values(value=8)
        )
        await session.execute(delete(LimitOverride).where(LimitOverride.customer_id == cid))
    outcome = await consume(sessions, cid, "roles-usage-1")
    assert outcome is not None
    async with sessions.begin() as session:
        created = await create_key(session, scope="app", name="roles")
    async with sessions() as session:
        assert await find_key(session, created.key) is not None
        status = await session.scalar(select(Customer.status).where(Customer.id == cid))
    assert status == "active"


async def test_migrating_again_regrants_and_takes_back_extra_privileges(
    split: Split, pg_admin_url: str
) -> None:
    owner = await asyncpg.connect(_asyncpg_dsn(split.owner_url))
    try:
        await owner.execute(f'GRANT UPDATE, DELETE ON ledger_events TO "{split.role}"')
    finally:
        await owner.close()
    await migrate(split.owner_url, app_role=split.role)
    connection = await _as_app(split)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("DELETE FROM ledger_events")
    finally:
        await connection.close()


async def test_an_unknown_app_role_is_refused(split: Split) -> None:
    with pytest.raises(RoleError, match="does not exist"):
        await migrate(split.owner_url, app_role="lc_no_such_role")
    with pytest.raises(RoleError, match="plain PostgreSQL role name"):
        await migrate(split.owner_url, app_role='x"; DROP TABLE customers; --')


def test_lifecycle_migrate_runs_as_the_owner_and_covers_new_tables(split: Split) -> None:
    """The interface compose and Helm use: the owner's URL for migrating, DATABASE_URL
    (the app's) left alone, grants re-applied to a table added since the last run."""

    async def add_table() -> None:
        owner = await asyncpg.connect(_asyncpg_dsn(split.owner_url))
        try:
            await owner.execute("CREATE TABLE later_table (id serial PRIMARY KEY, note text)")
        finally:
            await owner.close()

    asyncio.run(add_table())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFECYCLE_", "DATABASE"))}
    env |= {
        "DATABASE_URL": split.app_url,
        "LIFECYCLE_MIGRATE_DATABASE_URL": split.owner_url,
        "LIFECYCLE_DATABASE_APP_ROLE": split.role,
    }
    result = subprocess.run(
        [sys.executable, "-m", "lifecycle", "migrate"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert split.role in result.stdout

    async def app_inserts() -> object:
        connection = await asyncpg.connect(_asyncpg_dsn(split.app_url))
        try:
            await connection.execute("INSERT INTO later_table (note) VALUES ('ok')")
            return await connection.fetchval("SELECT count(*) FROM later_table")
        finally:
            await connection.close()

    assert asyncio.run(app_inserts()) == 1
