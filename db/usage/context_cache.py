"""Usage contexts kept in memory for ingestion, checked by the statement that uses them.

Reading the contexts of a batch's customers was a round trip of its own before every
ingestion statement (about a fifth of a batch of 100 events: subqueries and JSON for
each customer, then parsing them here), for data that changes a few times a month per
customer. A context kept here carries the ``customers.usage_version`` it was read at; the
ingestion statement compares that with the row's and writes nothing when one moved on
(migration 0011 moves it, in the same transaction, with anything a context is read
from). The batch is then planned again on freshly read contexts. So a kept context saves
the read and can never record usage against limits or a period that changed, whichever
process changed them.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from itertools import islice

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from db.usage.context import UsageContext, fetch_contexts

# Customers kept per process: the live customers of a large tenant of one API process
# (a context without counters is about a kilobyte); past it the oldest read goes first.
MAX_CONTEXTS = 20_000


class ContextCache:
    def __init__(self, size: int = MAX_CONTEXTS) -> None:
        self._size = size
        self._contexts: dict[str, UsageContext] = {}

    def __len__(self) -> int:
        return len(self._contexts)

    def kept(self, customer_ids: Iterable[str]) -> dict[str, UsageContext]:
        """The contexts kept for these customers (the others are to be read)."""
        contexts = self._contexts
        return {cid: contexts[cid] for cid in customer_ids if cid in contexts}

    async def read(
        self, driver: asyncpg.Connection, customer_ids: list[str]
    ) -> dict[str, UsageContext]:
        """Read these customers' contexts (the ones that exist) and keep them."""
        for cid in customer_ids:
            self._contexts.pop(cid, None)
        contexts = await fetch_contexts(driver, customer_ids, with_counters=False)
        self._contexts.update(contexts)
        overflow = len(self._contexts) - self._size
        if overflow > 0:
            for cid in list(islice(self._contexts, overflow)):
                del self._contexts[cid]
        return contexts


_caches: weakref.WeakKeyDictionary[AsyncEngine, ContextCache] = weakref.WeakKeyDictionary()


def context_cache(engine: AsyncEngine) -> ContextCache:
    """The engine's cache (one per database, per process)."""
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = ContextCache()
    return cache
