"""The throw-away database: created with the bare baseline's tables (the engine's come from
``lifecycle migrate``), dropped at the end."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from .common import asyncpg_dsn

# The bare baseline's tables: one row per sign-up, and an outbox settled in a second
# transaction (like the engine's customers and email_outbox, unique keys included).
BENCH_TABLES = """
CREATE TABLE bench_bare_rows (
    id bigserial PRIMARY KEY,
    key text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);
CREATE TABLE bench_bare_outbox (
    id bigserial PRIMARY KEY,
    key text NOT NULL UNIQUE,
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    sent_at timestamptz
);
"""


async def create_database(admin_url: str) -> str:
    """An empty database with the bare baseline's tables; ``Stack.migrate`` adds the
    engine's."""
    name = f"lc_bench_lifecycle_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(BENCH_TABLES)
    finally:
        await connection.close()
    return url


async def drop_database(admin_url: str, url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        for attempt in range(20):
            try:
                await connection.execute(
                    f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'
                )
                return
            except asyncpg.InsufficientPrivilegeError:
                # An autovacuum worker (not ours to terminate) is still on it.
                if attempt == 19:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await connection.close()
