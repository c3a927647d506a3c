"""Temporal Schedules in tests: a fixed id kept clean around a test, and one triggered run
waited for."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from temporalio.client import Client
from temporalio.service import RPCError

from tests.factories.polling import eventually

Result = TypeVar("Result")


@asynccontextmanager
async def clean_schedule(client: Client, schedule_id: str) -> AsyncIterator[Client]:
    """The schedule id is fixed: start and end without one, whatever ran before."""

    async def delete() -> None:
        with contextlib.suppress(RPCError):
            await client.get_schedule_handle(schedule_id).delete()

    await delete()
    try:
        yield client
    finally:
        await delete()


async def trigger_once(
    client: Client, schedule_id: str, result_type: type[Result], *, timeout: float = 60
) -> Result:
    """Trigger the schedule now and wait for that run's result (a worker must be polling)."""
    handle = client.get_schedule_handle(schedule_id)
    await handle.trigger()

    async def runs() -> list[str]:
        return [
            a.action.workflow_id
            for a in (await handle.describe()).info.recent_actions
            if hasattr(a.action, "workflow_id")
        ]

    started = await eventually(runs, lambda ids: len(ids) == 1)
    run = client.get_workflow_handle(started[0], result_type=result_type)
    try:
        return await asyncio.wait_for(run.result(), timeout=timeout)
    finally:
        with contextlib.suppress(RPCError):
            await run.terminate("test finished")
