"""Engine and session factories.

Callers own their transactions: ``async with sessions.begin() as session``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SessionFactory = async_sessionmaker[AsyncSession]


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def dialect_of(session: AsyncSession) -> str:
    """``postgresql`` or ``sqlite``: the one place code asks which database it runs on."""
    return session.get_bind().dialect.name


async def end_read_phase(session: AsyncSession) -> None:
    """Before a read-then-write's first write. SQLite: end the read transaction, so the
    write waits for the lock (busy timeout) instead of failing on a stale snapshot.
    PostgreSQL keeps going."""
    if dialect_of(session) == "sqlite":
        await session.commit()


def insert_for(session: AsyncSession) -> Any:
    """The dialect's ``insert`` (both have ``on_conflict_do_nothing`` / ``_do_update``)."""
    return postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if is_sqlite(url):
        # One file shared by the API and the worker of `lifecycle dev`: wait for locks
        # instead of failing.
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    # No pre-ping (three round trips per checkout on asyncpg): connections are recycled
    # before servers or proxies drop them, and one broken by a restart is discarded on its
    # first error.
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=900)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the driver, starts transactions (see _begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    """Every SQLite transaction takes the single write lock when it begins, so writers queue
    on the busy timeout in order. Deferred transactions can fail to upgrade a read lock to
    a write lock under concurrency, and would let two appenders read the same ledger tail."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)
