"""The bare worker process: ``python -m scripts.bench_lifecycle.bare_worker``.

The bare workflow and two asyncpg activities on their own task queue, with the SDK's
defaults (sandboxed workflow runner, default slots and cache). Configured by environment:
BENCH_DATABASE_DSN, BENCH_TEMPORAL_ADDRESS, BENCH_TASK_QUEUE, BENCH_POOL_SIZE.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from .bare import INSERT_ROW, SEND_THROUGH_OUTBOX, BareSignup


class BareActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name=INSERT_ROW)
    async def insert_row(self, key: str) -> None:
        async with self._pool.acquire() as connection:
            await connection.execute(
                "INSERT INTO bench_bare_rows (key, created_at) VALUES ($1, $2)"
                " ON CONFLICT (key) DO NOTHING",
                key,
                datetime.now(UTC),
            )

    @activity.defn(name=SEND_THROUGH_OUTBOX)
    async def send_through_outbox(self, key: str) -> None:
        # Like the embedded email provider: the row first (pending), then committing it as
        # sent is the delivery, in a second transaction.
        async with self._pool.acquire() as connection:
            await connection.execute(
                "INSERT INTO bench_bare_outbox (key, status, created_at)"
                " VALUES ($1, 'pending', $2) ON CONFLICT (key) DO NOTHING",
                key,
                datetime.now(UTC),
            )
            await connection.execute(
                "UPDATE bench_bare_outbox SET status = 'sent', sent_at = $2"
                " WHERE key = $1 AND status = 'pending'",
                key,
                datetime.now(UTC),
            )


async def main() -> None:
    pool_size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
    pool = await asyncpg.create_pool(
        os.environ["BENCH_DATABASE_DSN"], min_size=1, max_size=pool_size
    )
    client = await Client.connect(os.environ["BENCH_TEMPORAL_ADDRESS"], namespace="default")
    activities = BareActivities(pool)
    worker = Worker(
        client,
        task_queue=os.environ["BENCH_TASK_QUEUE"],
        workflows=[BareSignup],
        activities=[activities.insert_row, activities.send_through_outbox],
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with worker:
            print(f"bare worker polling {os.environ['BENCH_TASK_QUEUE']!r}", flush=True)
            await stop.wait()
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
