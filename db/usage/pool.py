"""The hot paths' own asyncpg connections, and the deadlock retry of their statements."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# The hot paths' own asyncpg pool, per engine (same URL and options). Through the engine's
# pool each call paid SQLAlchemy's checkout and checkin (greenlet switches, a rollback on
# return) and, with more concurrent callers than pool_size, overflow connections were closed
# on checkin and reopened (TLS handshake, authentication): in a profile of 32 concurrent
# check-and-consume callers about one request in nine opened a connection. asyncpg's pool
# keeps its connections and queues callers instead.
# Small on purpose: the statements are short, so more connections only move the queue from
# this pool (cheap) into PostgreSQL, where busy backends preempt each other and, on one hot
# counter, a preempted lock holder stalls every waiter. 32 concurrent consumes at the store
# on 2 cores: 4 connections 1,050-1,460 calls/s, p99 73-89 ms; 10 connections 680-770
# calls/s, p99 195-220 ms.
_HOT_POOL_SIZE = 4
_hot_pools: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Task[asyncpg.Pool]] = (
    weakref.WeakKeyDictionary()
)


def connect_kwargs(engine: AsyncEngine) -> dict[str, Any]:
    """asyncpg's arguments for the engine's URL, as SQLAlchemy's dialect reads it (host,
    socket, ``ssl`` and the like), without the options only its adaptor knows."""
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    cache_size = kwargs.pop("prepared_statement_cache_size", None)
    if cache_size is not None:
        kwargs["statement_cache_size"] = cache_size
    kwargs.pop("prepared_statement_name_func", None)
    return dict(kwargs)


async def _keep_session(_connection: asyncpg.Connection) -> None:
    return None


# The hot paths' sessions:
# - no JIT: compiling a statement (PostgreSQL's default for costly plans, which asyncpg's
#   type introspection is) takes longer than running it;
# - generic plans: a prepared statement is otherwise planned again on every run while its
#   custom plans look cheaper, and the usage contexts' read (``= ANY($1)`` over an array)
#   always did: ~0.17 ms of planning for ~0.1 ms of execution, a third of each consume
#   flush's read on this machine. The hot statements are key lookups and array unnests
#   whose generic plans are the same index scans (ingestion measured no difference).
HOT_SERVER_SETTINGS = {"jit": "off", "plan_cache_mode": "force_generic_plan"}

# The hot paths' statements, prepared on every new connection of the pool (see below).
_HOT_STATEMENTS: list[str] = []


def hot_statement(sql: str) -> str:
    """Declare a statement of the hot paths (prepared when a connection opens)."""
    _HOT_STATEMENTS.append(sql)
    return sql


async def _prepare_hot_statements(connection: asyncpg.Connection) -> None:
    # A connection's first use of a statement pays for planning it and for asyncpg's
    # introspection of its types, tens of milliseconds: paid here, at connect time, not
    # by the request that happens to get a fresh connection (whose whole batch of calls
    # stalled 100+ ms in the benchmark).
    for sql in _HOT_STATEMENTS:
        await connection.prepare(sql)


async def _create_hot_pool(engine: AsyncEngine) -> asyncpg.Pool:
    kwargs = connect_kwargs(engine)
    pool = await asyncpg.create_pool(
        # All open from the start, so no request waits for one to open under load.
        min_size=_HOT_POOL_SIZE,
        max_size=_HOT_POOL_SIZE,
        # Idle connections go, as the engine's are recycled (see db.engine).
        max_inactive_connection_lifetime=300,
        # The hot paths leave no session state (no SET, LISTEN or advisory lock), so the
        # default reset (a round trip per release) has nothing to undo; an open
        # transaction is still rolled back by asyncpg before this runs.
        reset=_keep_session,
        init=_prepare_hot_statements,
        server_settings={**kwargs.pop("server_settings", {}), **HOT_SERVER_SETTINGS},
        **kwargs,
    )

    def dispose(_engine: Any) -> None:
        # The engine is being disposed (shutdown, tests): its pool goes with it.
        _hot_pools.pop(engine, None)
        pool.terminate()

    event.listen(engine.sync_engine, "engine_disposed", dispose)
    return pool


async def hot_connection_pool(engine: AsyncEngine) -> asyncpg.Pool:
    """The engine's hot-path pool, created on first use (one creation even when many
    requests arrive at once)."""
    task = _hot_pools.get(engine)
    if task is None or (task.done() and task.exception() is not None):
        task = _hot_pools[engine] = asyncio.ensure_future(_create_hot_pool(engine))
    return await asyncio.shield(task)


_releasing: set[asyncio.Task[None]] = set()


@asynccontextmanager
async def hot_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the engine's hot-path pool, given back without making the caller
    wait: asyncpg returns a connection in a task of its own (shielded from cancellation),
    which costs the awaiting request a few turns of the event loop, about 0.13 ms of a
    batch of 100 events on this machine. The hot paths end with their statement's
    transaction closed, so nothing is left for the caller to wait for; if one fails
    half-way, the release still rolls back before the connection is reused."""
    pool = await hot_connection_pool(engine)
    connection = await pool.acquire()
    try:
        yield connection
    finally:
        task = asyncio.ensure_future(pool.release(connection))
        _releasing.add(task)
        task.add_done_callback(_released)


def _released(task: asyncio.Task[None]) -> None:
    _releasing.discard(task)
    # A pool closed meanwhile (shutdown) has let its connections go already.
    if not task.cancelled():
        task.exception()


async def retry_deadlock(run: Callable[..., Any], *arguments: Any) -> Any:
    """Run a hot-path statement, again if PostgreSQL chose it to break a deadlock: each is
    its own transaction, rolled back whole, so running it again is exactly safe. (Both hot
    writes take rows in the package's lock order, but two of them carrying the same keys
    in different orders (a client's retry racing its first attempt) can still meet.)"""
    for attempt in range(3):
        try:
            return await run(*arguments)
        except asyncpg.DeadlockDetectedError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
