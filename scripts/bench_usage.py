"""Usage metering benchmark: `make bench-usage`.

Against the local PostgreSQL, in a throw-away database, in one run:

- events/s through ``POST /v1/usage`` (the real API: uvicorn in a subprocess, one worker
  process, over HTTP/1.1 on a local port; the client is a bare kept-alive connection, so
  the figure is the API's and not an HTTP library's) in batches of 100 and 1,000;
- the floor the database allows: the same events written by a minimal asyncpg loop running
  the API's own upsert statement (``db.usage.PG_INGEST``: events insert with ON CONFLICT DO
  NOTHING, counter and daily upserts, threshold crossings), one statement per batch;
- the ratio API / raw (target: at least 0.5 for batch ingestion);
- check-and-consume calls/s and p50/p99 latency with 1 and 32 concurrent clients; the
  32-client run hammers one customer whose limit is reached mid-run, and reports the
  overshoot past the rule (must be 0).

Rounds alternate raw / API so table growth and noise hit both alike. The customers have
unlimited limits (or their threshold notices recorded already), so no workflow signal is
due and no Temporal server is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from db.engine import create_engine, session_factory  # noqa: E402
from db.migrate import migrate  # noqa: E402
from db.models import Customer, LimitOverride, UsageThresholdCrossing  # noqa: E402
from db.usage import PG_INGEST, EventBatch, LimitRow, pg_ingest_arguments  # noqa: E402
from domain.limits import THRESHOLDS, ceiling  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql+asyncpg://lifecycle:lifecycle@127.0.0.1:5432/postgres"
APP_KEY = "bench-app-key"
COUNTER_METRICS = ("messages", "tokens", "api_calls")
CONSUME_LIMIT = 2000


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(admin_url: str) -> str:
    name = f"lc_bench_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    await migrate(url)
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


# -- setup ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchCustomer:
    id: str
    period_start: datetime
    period_end: datetime


async def insert_customers(
    url: str, count: int, *, overrides: dict[str, int | None], notified: bool = False
) -> list[BenchCustomer]:
    """Active Pro customers in a 30-day period; ``notified``: their 80 % / 100 % notices of
    the period are recorded already (so crossing them signals nothing)."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    start, end = now - timedelta(days=10), now + timedelta(days=20)
    customers = []
    async with sessions.begin() as session:
        for _ in range(count):
            cid = str(uuid.uuid4())
            session.add(
                Customer(
                    id=cid,
                    external_id=f"bench-{cid}",
                    email=None,
                    name=None,
                    status="active",
                    plan="pro",
                    interval="month",
                    trial_started_at=start - timedelta(days=14),
                    trial_ends_at=start,
                    current_period_start=start,
                    current_period_end=end,
                    cancel_at_period_end=False,
                    state_version=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            for metric, value in overrides.items():
                session.add(
                    LimitOverride(
                        customer_id=cid, metric=metric, value=value, actor="bench", updated_at=now
                    )
                )
                if notified and value is not None:
                    for threshold in THRESHOLDS:
                        session.add(
                            UsageThresholdCrossing(
                                customer_id=cid,
                                metric=metric,
                                period_start=start,
                                threshold=threshold,
                                used=0,
                                limit=value,
                                crossed_at=now,
                                signalled_at=now,
                            )
                        )
            customers.append(BenchCustomer(cid, start, end))
    await engine.dispose()
    return customers


def make_batches(
    customers: Sequence[BenchCustomer], batch_size: int, batches: int, rng: random.Random
) -> list[list[dict[str, Any]]]:
    return [
        [
            {
                "customer_id": rng.choice(customers).id,
                "metric": rng.choice(COUNTER_METRICS),
                "quantity": rng.randint(1, 50),
                "idempotency_key": uuid.uuid4().hex,
            }
            for _ in range(batch_size)
        ]
        for _ in range(batches)
    ]


# -- the API in a subprocess ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiServer:
    def __init__(self, database_url: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "LIFECYCLE_APP_API_KEYS": APP_KEY,
            "LIFECYCLE_ADMIN_API_KEYS": "bench-admin-key",
            # Nothing listens there: the benchmark must not need Temporal.
            "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.app:app_from_environment",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--proxy-headers",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            for _ in range(300):
                if self.process.poll() is not None:
                    assert self.process.stderr is not None
                    raise RuntimeError(f"API exited: {self.process.stderr.read().decode()}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("API did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


# -- ingestion --------------------------------------------------------------------------


async def raw_ingest(
    connection: asyncpg.Connection,
    batches: Sequence[Sequence[dict[str, Any]]],
    periods: dict[str, BenchCustomer],
) -> float:
    """The floor: build the arrays and run the API's statement (one implicit transaction
    per batch, like the API)."""
    ends = {(c.id, c.period_start): c.period_end for c in periods.values()}
    started = time.perf_counter()
    for batch in batches:
        now = datetime.now(UTC)
        events = EventBatch(
            customer_ids=[e["customer_id"] for e in batch],
            metrics=[e["metric"] for e in batch],
            quantities=[e["quantity"] for e in batch],
            keys=[e["idempotency_key"] for e in batch],
            occurred=[now] * len(batch),
            period_starts=[periods[e["customer_id"]].period_start for e in batch],
            period_ends=ends,
        )
        # The same limits the API compares with: the overrides leave only chatbots limited.
        limits = [
            LimitRow(cid, "chatbots", 15, periods[cid].period_start)
            for cid in set(events.customer_ids)
        ]
        await connection.fetch(PG_INGEST, *pg_ingest_arguments(events, limits, now))
    return time.perf_counter() - started


class KeepAliveClient:
    """A bare HTTP/1.1 client on one kept-alive connection. httpx spends about a millisecond
    of Python per request; this measures the API, not the client (the raw loop has none)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self._host, self._port = host, port
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\n{self._headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        status_line = await self._reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()


async def api_ingest(client: KeepAliveClient, bodies: Sequence[bytes]) -> float:
    started = time.perf_counter()
    for body in bodies:
        status, payload = await client.post("/v1/usage", body)
        if status != 200:
            raise RuntimeError(f"POST /v1/usage: {status} {payload[:300]!r}")
        result = json.loads(payload)
        if result["rejected"] or result["duplicates"]:
            raise RuntimeError(f"unexpected rejections/duplicates: {str(result)[:300]}")
    return time.perf_counter() - started


@dataclass
class IngestResult:
    batch_size: int
    events: int
    api_seconds: float
    raw_seconds: float

    @property
    def api_rate(self) -> float:
        return self.events / self.api_seconds

    @property
    def raw_rate(self) -> float:
        return self.events / self.raw_seconds


async def bench_ingest(
    url: str,
    client: KeepAliveClient,
    batch_size: int,
    events_per_round: int,
    rounds: int,
    rng: random.Random,
) -> IngestResult:
    unlimited: dict[str, int | None] = dict.fromkeys(COUNTER_METRICS, None)
    api_customers = await insert_customers(url, 100, overrides=unlimited)
    raw_customers = await insert_customers(url, 100, overrides=unlimited)
    periods = {c.id: c for c in raw_customers}
    batches_per_round = max(events_per_round // batch_size, 1)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        # Warm up both paths (prepared statements, pools, caches).
        await raw_ingest(connection, make_batches(raw_customers, batch_size, 3, rng), periods)
        warm = make_batches(api_customers, batch_size, 3, rng)
        await api_ingest(client, [json.dumps({"events": b}).encode() for b in warm])
        api_seconds = raw_seconds = 0.0
        for _ in range(rounds):
            raw_batches = make_batches(raw_customers, batch_size, batches_per_round, rng)
            raw_seconds += await raw_ingest(connection, raw_batches, periods)
            api_batches = make_batches(api_customers, batch_size, batches_per_round, rng)
            bodies = [json.dumps({"events": b}).encode() for b in api_batches]
            api_seconds += await api_ingest(client, bodies)
    finally:
        await connection.close()
    return IngestResult(
        batch_size=batch_size,
        events=batch_size * batches_per_round * rounds,
        api_seconds=api_seconds,
        raw_seconds=raw_seconds,
    )


# -- check and consume ------------------------------------------------------------------


@dataclass
class ConsumeResult:
    clients: int
    calls: int
    seconds: float
    latencies: list[float]
    allowed: int
    refused: int
    overshoot: int | None

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(int(len(ordered) * p), len(ordered) - 1)] * 1000


async def bench_consume(
    url: str, client: httpx.AsyncClient, clients: int, calls_per_client: int, *, limit: int | None
) -> ConsumeResult:
    overrides: dict[str, int | None] = {"messages": limit}
    [customer] = await insert_customers(url, 1, overrides=overrides, notified=True)
    path = f"/v1/customers/{customer.id}/entitlements/check"
    latencies: list[float] = []
    outcomes = {"allowed": 0, "refused": 0}

    async def one_client(n: int) -> None:
        for i in range(calls_per_client):
            body = {"metric": "messages", "consume": True, "idempotency_key": f"{n}-{i}"}
            started = time.perf_counter()
            response = await client.post(path, json=body)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"check: {response.status_code} {response.text[:300]}")
            outcomes["allowed" if response.json()["allowed"] else "refused"] += 1

    # Warm-up on another customer so the run starts with hot pools.
    [warm] = await insert_customers(url, 1, overrides={"messages": None})
    for i in range(20):
        await client.post(
            f"/v1/customers/{warm.id}/entitlements/check",
            json={"metric": "messages", "consume": True, "idempotency_key": f"w{i}"},
        )
    started = time.perf_counter()
    await asyncio.gather(*(one_client(n) for n in range(clients)))
    seconds = time.perf_counter() - started

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        used = await connection.fetchval(
            "SELECT used FROM usage_counters WHERE customer_id = $1 AND metric = 'messages'",
            customer.id,
        )
    finally:
        await connection.close()
    overshoot = None
    if limit is not None:
        overshoot = max(int(used) - ceiling("messages", limit), 0)
        if int(used) != outcomes["allowed"]:
            raise RuntimeError(f"counter {used} != allowed calls {outcomes['allowed']}")
    return ConsumeResult(
        clients=clients,
        calls=clients * calls_per_client,
        seconds=seconds,
        latencies=latencies,
        allowed=outcomes["allowed"],
        refused=outcomes["refused"],
        overshoot=overshoot,
    )


# -- report -----------------------------------------------------------------------------


def report(
    ingest: Sequence[IngestResult], consume: Sequence[ConsumeResult], server_version: str
) -> bool:
    """Print the table; False when a correctness check failed (an overshoot). A missed
    throughput target is reported, not failed on: a shared machine's noise is not a bug."""
    lines = [
        f"usage benchmark: PostgreSQL {server_version}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; API = uvicorn (1 process) over local HTTP",
        "",
        f"{'measure':<46} {'result':>14}  notes",
        "-" * 100,
    ]
    ok = True
    for r in ingest:
        ratio = r.api_rate / r.raw_rate
        lines += [
            f"{f'POST /v1/usage, batches of {r.batch_size:,}':<46} "
            f"{r.api_rate:>10,.0f} ev/s  {r.events:,} events",
            f"{f'raw asyncpg, same upserts, batches of {r.batch_size:,}':<46} "
            f"{r.raw_rate:>10,.0f} ev/s  the floor",
            f"{f'ratio API / raw, batches of {r.batch_size:,}':<46} "
            f"{ratio:>14.2f}  target >= 0.50: {'met' if ratio >= 0.5 else 'MISSED'}",
        ]
    for c in consume:
        notes = f"p50 {c.percentile(0.50):.2f} ms, p99 {c.percentile(0.99):.2f} ms"
        if c.overshoot is not None:
            ok = ok and c.overshoot == 0
            notes += (
                f"; one customer: {c.allowed:,} allowed / {c.refused:,} refused at limit"
                f" {CONSUME_LIMIT:,}"
                f" (ceiling {ceiling('messages', CONSUME_LIMIT):,}); overshoot {c.overshoot}"
            )
        label = f"check-and-consume, {c.clients} client{'s' if c.clients > 1 else ''}"
        lines.append(f"{label:<46} {c.rate:>8,.0f} calls/s  {notes}")
    print("\n".join(lines))
    return ok


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("LIFECYCLE_TEST_PG_ADMIN_URL", DEFAULT_ADMIN_URL),
        help="PostgreSQL URL of a role that may create databases",
    )
    parser.add_argument("--events", type=int, default=10_000, help="events per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--consume-calls", type=int, default=2_000)
    args = parser.parse_args()

    rng = random.Random(42)
    url = await create_database(args.admin_url)
    server = ApiServer(url)
    try:
        await server.wait_ready()
        connection = await asyncpg.connect(asyncpg_dsn(url))
        version = await connection.fetchval("SHOW server_version")
        await connection.close()
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {APP_KEY}"},
            limits=limits,
            timeout=60,
        ) as client:
            raw_http = KeepAliveClient(
                "127.0.0.1", server.port, {"Authorization": f"Bearer {APP_KEY}"}
            )
            try:
                ingest = [
                    await bench_ingest(url, raw_http, size, args.events, args.rounds, rng)
                    for size in (100, 1000)
                ]
            finally:
                await raw_http.close()
            consume = [
                await bench_consume(url, client, 1, args.consume_calls, limit=None),
                await bench_consume(
                    url, client, 32, max(args.consume_calls // 32, 1) * 2, limit=CONSUME_LIMIT
                ),
            ]
        ok = report(ingest, consume, str(version))
    finally:
        server.stop()
        await drop_database(args.admin_url, url)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
