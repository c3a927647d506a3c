"""The hot paths' own asyncpg connections, and the deadlock retry of their statements."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
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


async def _create_hot_pool(engine: AsyncEngine) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        min_size=1,
        max_size=_HOT_POOL_SIZE,
        # Idle connections go, as the engine's are recycled (see db.engine).
        max_inactive_connection_lifetime=300,
        # The hot paths leave no session state (no SET, LISTEN or advisory lock), so the
        # default reset (a round trip per release) has nothing to undo; an open
        # transaction is still rolled back by asyncpg before this runs.
        reset=_keep_session,
        **connect_kwargs(engine),
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
