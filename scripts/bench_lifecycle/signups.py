"""Sign-ups through the engine's API and bare workflow starts, each counted until its outbox
row is sent (the database is polled for all pending keys at once)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Protocol

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from .bare import BARE_WORKFLOW
from .common import APP_KEY, BARE_TASK_QUEUE
from .http import HttpError, KeepAliveClient
from .stack import Stack

POLL_INTERVAL = 0.1
# Give up on a phase when nothing settles for this long.
STALL_TIMEOUT = 180.0

ENGINE_SETTLED = (
    "SELECT customer_id, sent_at FROM email_outbox"
    " WHERE template = 'welcome' AND status = 'sent' AND customer_id = ANY($1::text[])"
)
BARE_SETTLED = (
    "SELECT key, sent_at FROM bench_bare_outbox WHERE status = 'sent' AND key = ANY($1::text[])"
)


class SettleWatcher:
    """One query per POLL_INTERVAL for every pending key: when was its outbox row sent."""

    def __init__(self, dsn: str, query: str) -> None:
        self._dsn = dsn
        self._query = query
        self.pending: set[str] = set()
        self.settled: dict[str, float] = {}
        self._connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._futures: dict[str, asyncio.Future[float]] = {}
        self.last_progress = time.monotonic()

    async def __aenter__(self) -> SettleWatcher:
        self._connection = await asyncpg.connect(self._dsn)
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None:
            await self._connection.close()

    def add(self, key: str) -> asyncio.Future[float]:
        """Watch ``key``; the future resolves with the time its row was sent."""
        future = self._futures.get(key)
        if future is None:
            future = self._futures[key] = asyncio.get_running_loop().create_future()
            if key in self.settled:
                future.set_result(self.settled[key])
            else:
                self.pending.add(key)
        return future

    async def _poll(self) -> None:
        assert self._connection is not None
        while True:
            if self.pending:
                rows = await self._connection.fetch(self._query, list(self.pending))
                for key, sent_at in rows:
                    self.settled[key] = sent_at.timestamp()
                    self.pending.discard(key)
                    future = self._futures.get(key)
                    if future is not None and not future.done():
                        future.set_result(self.settled[key])
                if rows:
                    self.last_progress = time.monotonic()
            await asyncio.sleep(POLL_INTERVAL)

    async def wait(self, what: str) -> None:
        self.last_progress = time.monotonic()
        while self.pending:
            if time.monotonic() - self.last_progress > STALL_TIMEOUT:
                raise RuntimeError(
                    f"{what}: {len(self.pending)} outbox rows not sent after "
                    f"{STALL_TIMEOUT:.0f} s without progress"
                )
            await asyncio.sleep(POLL_INTERVAL)


class Submitter(Protocol):
    label: str

    async def submit(self, lane: int, index: int) -> str:
        """Start one sign-up; returns the key its outbox row is found by."""
        ...

    async def close(self) -> None: ...


class EngineSignups:
    """``POST /v1/customers``, one kept-alive connection per lane."""

    label = "engine"

    def __init__(self, api_url: str, prefix: str, lanes: int) -> None:
        self.prefix = prefix
        self.clients = [KeepAliveClient(api_url, APP_KEY) for _ in range(lanes)]
        self.retries = 0

    async def submit(self, lane: int, index: int) -> str:
        external_id = f"{self.prefix}-{index}"
        body = {
            "external_id": external_id,
            "email": f"{external_id}@example.com",
            "name": "Bench Customer",
        }
        for attempt in range(5):
            try:
                view = await self.clients[lane].request("POST", "/v1/customers", body)
                return str(view["id"])
            except HttpError as exc:
                # 503 = Temporal busy or unavailable; the request is idempotent.
                if exc.status != 503 or attempt == 4:
                    raise
                self.retries += 1
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


class BareStarts:
    """``client.start_workflow`` of the bare workflow, like the API starts a customer's."""

    label = "bare"

    def __init__(self, client: Client, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.retries = 0

    async def submit(self, lane: int, index: int) -> str:
        key = f"{self.prefix}-{index}"
        for attempt in range(5):
            try:
                await self.client.start_workflow(
                    BARE_WORKFLOW, key, id=f"bare-{key}", task_queue=BARE_TASK_QUEUE
                )
                return key
            except RPCError as exc:
                if exc.status is not RPCStatusCode.RESOURCE_EXHAUSTED or attempt == 4:
                    raise
                self.retries += 1
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def close(self) -> None:
        return None


@dataclass
class SignupRun:
    label: str
    count: int
    concurrency: int
    first_start: float
    last_accepted: float
    started: dict[str, float]
    settled: dict[str, float]
    retries: int = 0

    @property
    def keys(self) -> list[str]:
        return list(self.started)

    @property
    def last_settled(self) -> float:
        return max(self.settled.values())

    @property
    def seconds(self) -> float:
        """From the first request until the last outbox row was sent."""
        return self.last_settled - self.first_start

    @property
    def accept_seconds(self) -> float:
        return self.last_accepted - self.first_start

    @property
    def latencies(self) -> list[float]:
        return [self.settled[k] - self.started[k] for k in self.settled]


async def drive(
    submitter: Submitter,
    watcher: SettleWatcher,
    *,
    count: int,
    concurrency: int,
    what: str,
    closed_loop: bool,
) -> SignupRun:
    """``count`` sign-ups from ``concurrency`` lanes; waits until every outbox row is sent.

    ``closed_loop``: a lane starts its next sign-up once the previous one's row is sent
    (``concurrency`` sign-ups in flight end to end); otherwise once the request returned
    (``concurrency`` requests in flight, the backlog builds up behind them). Times are
    wall-clock seconds, comparable with the database's timestamps."""
    indexes = iter(range(count))
    started: dict[str, float] = {}
    last_accepted = 0.0

    async def lane(number: int) -> None:
        nonlocal last_accepted
        for index in indexes:
            at = time.time()
            key = await submitter.submit(number, index)
            last_accepted = max(last_accepted, time.time())
            started[key] = at
            sent = watcher.add(key)
            if closed_loop:
                try:
                    await asyncio.wait_for(sent, STALL_TIMEOUT)
                except TimeoutError:
                    raise RuntimeError(
                        f"{what}: {key}'s outbox row not sent after {STALL_TIMEOUT:.0f} s"
                    ) from None

    first_start = time.time()
    await asyncio.gather(*(lane(n) for n in range(concurrency)))
    await watcher.wait(what)
    return SignupRun(
        label=submitter.label,
        count=count,
        concurrency=concurrency,
        first_start=first_start,
        last_accepted=last_accepted,
        started=started,
        settled={k: watcher.settled[k] for k in started},
        retries=getattr(submitter, "retries", 0),
    )


async def run_engine(
    stack: Stack,
    dsn: str,
    prefix: str,
    *,
    count: int,
    concurrency: int,
    what: str,
    closed_loop: bool,
) -> SignupRun:
    submitter = EngineSignups(stack.api_url, prefix, concurrency)
    try:
        async with SettleWatcher(dsn, ENGINE_SETTLED) as watcher:
            return await drive(
                submitter,
                watcher,
                count=count,
                concurrency=concurrency,
                what=what,
                closed_loop=closed_loop,
            )
    finally:
        await submitter.close()


async def run_bare(
    client: Client,
    dsn: str,
    prefix: str,
    *,
    count: int,
    concurrency: int,
    what: str,
    closed_loop: bool,
) -> SignupRun:
    submitter = BareStarts(client, prefix)
    async with SettleWatcher(dsn, BARE_SETTLED) as watcher:
        return await drive(
            submitter,
            watcher,
            count=count,
            concurrency=concurrency,
            what=what,
            closed_loop=closed_loop,
        )
