"""A burst of sign-ups as fast as the API accepts them, then the workflow histories read for
workflow-task timeouts and failures."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client

from .common import CUSTOMER_WORKFLOW_PREFIX, log
from .signups import SignupRun, run_bare, run_engine
from .stack import Stack


@dataclass
class HistoryStats:
    workflows: int = 0
    events: int = 0
    task_timeouts: int = 0
    task_failures: int = 0
    # TIMEOUT_TYPE_START_TO_CLOSE: a task the worker did not complete in time (or whose
    # completion the server did not take); TIMEOUT_TYPE_SCHEDULE_TO_START: a task left on the
    # worker's sticky queue too long (the server moves it to the normal queue).
    timeouts_by_type: dict[str, int] = field(default_factory=dict)
    # Workflow / activity task schedule-to-start, seconds.
    wft_waits: list[float] = field(default_factory=list)
    activity_waits: list[float] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


async def history_stats(
    client: Client, workflow_ids: Sequence[str], parallel: int = 16
) -> HistoryStats:
    stats = HistoryStats()
    queue = iter(workflow_ids)

    async def one() -> None:
        for workflow_id in queue:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            scheduled: dict[int, float] = {}
            stats.workflows += 1
            for event in history.events:
                stats.events += 1
                at = event.event_time.ToDatetime().timestamp()
                kind = event.event_type
                if kind in (
                    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
                    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
                ):
                    scheduled[event.event_id] = at
                elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                    sid = event.workflow_task_started_event_attributes.scheduled_event_id
                    if sid in scheduled:
                        stats.wft_waits.append(at - scheduled[sid])
                elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                    sid = event.activity_task_started_event_attributes.scheduled_event_id
                    if sid in scheduled:
                        stats.activity_waits.append(at - scheduled[sid])
                elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                    stats.task_timeouts += 1
                    timed_out = event.workflow_task_timed_out_event_attributes
                    kind_name = TimeoutType.Name(timed_out.timeout_type)
                    kind_name = kind_name.removeprefix("TIMEOUT_TYPE_").lower()
                    stats.timeouts_by_type[kind_name] = stats.timeouts_by_type.get(kind_name, 0) + 1
                    if len(stats.examples) < 4:
                        stats.examples.append(
                            f"{workflow_id}: workflow task timed out ({kind_name}) at "
                            f"{event.event_time.ToDatetime():%H:%M:%S}"
                        )
                elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    stats.task_failures += 1
                    if len(stats.examples) < 3:
                        failed = event.workflow_task_failed_event_attributes
                        stats.examples.append(
                            f"{workflow_id}: workflow task failed "
                            f"(cause {failed.cause}: {failed.failure.message[:200]})"
                        )

    await asyncio.gather(*(one() for _ in range(parallel)))
    return stats


WORKER_LOG_PATTERNS = (
    "workflow task not found",
    "timed out",
    "timeout",
    "failed activation",
    "failed completing",
    "deadlock",
)


API_LOG_PATTERNS = (r'HTTP/1\.[01]" 5\d\d', r"\bERROR\b", r"\bWARNING\b", "Traceback")
# The dev server logs at warn level: persistence timeouts, failed task processing.
SERVER_LOG_PATTERNS = ("level=ERROR", "level=WARN")


def server_messages(lines: Sequence[str]) -> dict[tuple[str, str, str], int]:
    """Server log lines counted by (level, error, message)."""
    counts: dict[tuple[str, str, str], int] = {}
    for line in lines:
        level = re.search(r"level=(\w+)", line)
        message = re.search(r'msg="([^"]*)"', line)
        error = re.search(r'error="([^"]*)"', line)
        key = (
            level.group(1) if level else "?",
            error.group(1)[:36] if error else "",
            message.group(1) if message else line[:80],
        )
        counts[key] = counts.get(key, 0) + 1
    return counts


@dataclass
class BurstResult:
    size: int
    concurrency: int
    engine: SignupRun
    bare: SignupRun
    engine_history: HistoryStats
    bare_history: HistoryStats
    worker_log_lines: list[str]
    api_log_lines: list[str]
    # Dev server log lines (warn and error) during each side's burst.
    engine_server_log: list[str]
    bare_server_log: list[str]
    # Process -> CPU seconds used during each side's burst (first request to last send).
    engine_cpu: dict[str, float] = field(default_factory=dict)
    bare_cpu: dict[str, float] = field(default_factory=dict)


async def burst(stack: Stack, dsn: str, tag: str, *, size: int, concurrency: int) -> BurstResult:
    assert stack.client is not None
    log(f"burst: {size} bare workflow starts, {concurrency} in flight")
    server_mark = stack.processes["temporal"].log_size()
    bare = await run_bare(
        stack.client,
        dsn,
        f"{tag}-bb",
        count=size,
        concurrency=concurrency,
        what="bare burst",
        closed_loop=False,
    )
    log(f"burst: bare done in {bare.seconds:.1f} s; now {size} sign-ups through the API")
    bare_server_log = stack.scan_log("temporal", server_mark, SERVER_LOG_PATTERNS)
    server_mark = stack.processes["temporal"].log_size()
    worker_mark = stack.processes["worker"].log_size()
    api_mark = stack.processes["api"].log_size()
    engine = await run_engine(
        stack,
        dsn,
        f"{tag}-eb",
        count=size,
        concurrency=concurrency,
        what="engine burst",
        closed_loop=False,
    )
    log(
        f"burst: engine accepted {size} in {engine.accept_seconds:.1f} s, every welcome sent "
        f"after {engine.seconds:.1f} s; reading {2 * size} histories"
    )
    engine_server_log = stack.scan_log("temporal", server_mark, SERVER_LOG_PATTERNS)
    worker_lines = stack.scan_log("worker", worker_mark, WORKER_LOG_PATTERNS)
    api_lines = stack.scan_log("api", api_mark, API_LOG_PATTERNS)
    engine_history = await history_stats(
        stack.client, [CUSTOMER_WORKFLOW_PREFIX + cid for cid in engine.keys]
    )
    bare_history = await history_stats(stack.client, [f"bare-{key}" for key in bare.keys])
    return BurstResult(
        size,
        concurrency,
        engine,
        bare,
        engine_history,
        bare_history,
        worker_lines,
        api_lines,
        engine_server_log,
        bare_server_log,
        engine_cpu=_cpu(stack, engine),
        bare_cpu=_cpu(stack, bare),
    )


def _cpu(stack: Stack, run: SignupRun) -> dict[str, float]:
    used = {
        name: stack.sampler.cpu(name, run.first_start, run.last_settled) for name in stack.processes
    }
    return {name: seconds for name, seconds in used.items() if seconds is not None}
