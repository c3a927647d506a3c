"""Databases of their own: fresh migrated PostgreSQL databases, and a search of every table
of one for a string."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from db.engine import SessionFactory
from db.migrate import migrate

DEFAULT_PG_ADMIN_URL = "postgresql+asyncpg://lifecycle:lifecycle@127.0.0.1:5432/postgres"


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(admin_url: str, prefix: str = "lc_test") -> str:
    """A fresh, migrated PostgreSQL database; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    await migrate(url)
    return url


async def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        for attempt in range(20):
            try:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.InsufficientPrivilegeError:
                # An autovacuum worker (not ours to terminate) is still on it: it ends
                # within moments.
                if attempt == 19:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await connection.close()


@dataclass(frozen=True)
class Database:
    """A database of one test's own (the ``own_database`` fixture)."""

    url: str
    sessions: SessionFactory


async def public_tables(sessions: SessionFactory) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
                "ORDER BY table_name"
            )
        )
        return [str(name) for (name,) in rows.all()]


async def tables_containing(sessions: SessionFactory, needle: str) -> dict[str, int]:
    """Every table of the public schema whose rows, cast to text, contain ``needle``
    (case-insensitive), with how many rows do."""
    found: dict[str, int] = {}
    tables = await public_tables(sessions)
    assert tables, "no tables found: the search would prove nothing"
    async with sessions() as session:
        for table in tables:
            count = await session.scalar(
                text(
                    f'SELECT count(*) FROM "{table}" AS t '
                    "WHERE strpos(lower(t::text), lower(:needle)) > 0"
                ),
                {"needle": needle},
            )
            if count:
                found[table] = int(count)
    return found
