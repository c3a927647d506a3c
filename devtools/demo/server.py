"""The private time-skipping Temporal server a seeding run uses, optionally set in the past.

The time-skipping test server's clock starts at the real time and only moves forward, so a
history it produces would lie ahead of today. ``TimeTravelTestServer.java`` starts the same
pinned test server (its classpath from the tools cache) with the clock set to a chosen
moment, so a seeded history can end now. When that cannot start (no JDK compiler for
``java``'s source-file mode, say), the stock binary runs instead and the history starts
now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import stat
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from core.temporal import DATA_CONVERTER
from services.temporal_setup import ensure_search_attributes

logger = logging.getLogger("lifecycle.demo")

LAUNCHER = Path(__file__).with_name("TimeTravelTestServer.java")
# A JVM (and a Java compile, for the launcher) on a busy 2-core machine starts slowly.
STARTUP_TIMEOUT = timedelta(seconds=180)
CHECK_TIMEOUT = timedelta(seconds=90)


class ServerUnavailable(RuntimeError):
    """The time-skipping test server is not installed or could not start."""


@dataclass
class SeedServer:
    env: WorkflowEnvironment
    # False: the stock server ran, its clock started at the real time.
    time_travel: bool


def test_server_binary(tools_cache: Path) -> Path:
    binary = tools_cache / "bin" / "temporal-test-server"
    if not binary.exists():
        raise ServerUnavailable(
            f"the Temporal time-skipping test server is not installed at {binary}; "
            "run `scripts/tools.sh test-server` (or `make tools`)"
        )
    return binary


def _wrapper(directory: Path, lib: Path, log: Path) -> Path:
    """An executable the SDK can start with its own arguments (``<port> ...``)."""
    script = directory / "temporal-test-server-time-travel"
    classpath = shlex.quote(str(lib)) + "/'*'"
    script.write_text(
        "#!/bin/sh\n"
        f"exec java -XX:+UseSerialGC -Xshare:auto -cp {classpath} "
        f'{shlex.quote(str(LAUNCHER))} "$@" 2>>{shlex.quote(str(log))}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


async def _can_start(wrapper: Path) -> bool:
    """Whether ``java`` can compile and load the launcher (the SDK would otherwise wait its
    whole startup timeout for a server that exited at once)."""
    process = await asyncio.create_subprocess_exec(
        str(wrapper),
        "--check",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        return await asyncio.wait_for(process.wait(), CHECK_TIMEOUT.total_seconds()) == 0
    except TimeoutError:
        process.kill()
        await process.wait()
        return False


async def _start(path: Path, extra_args: list[str]) -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=str(path),
        test_server_extra_args=extra_args,
        test_server_startup_timeout=STARTUP_TIMEOUT,
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
    except BaseException:
        await env.shutdown()
        raise
    return env


@contextlib.asynccontextmanager
async def seed_server(tools_cache: Path, *, start_at: datetime | None) -> AsyncIterator[SeedServer]:
    """A time-skipping server whose clock starts at ``start_at`` (``None``: now)."""
    binary = test_server_binary(tools_cache)
    with tempfile.TemporaryDirectory(prefix="lifecycle-demo-") as tmp:
        env: WorkflowEnvironment | None = None
        time_travel = False
        if start_at is not None:
            log = Path(tmp) / "test-server.log"
            wrapper = _wrapper(Path(tmp), binary.resolve().parent / "lib", log)
            millis = int(start_at.timestamp() * 1000)
            try:
                if not await _can_start(wrapper):
                    raise ServerUnavailable(f"`{wrapper} --check` failed")
                env = await _start(wrapper, ["--start-millis", str(millis)])
                time_travel = True
            except Exception as exc:
                detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                logger.warning(
                    "could not start the test server in the past (%s); the seeded history "
                    "will start now instead. %s",
                    exc,
                    detail,
                )
        if env is None:
            env = await _start(binary, [])
        try:
            yield SeedServer(env=env, time_travel=time_travel)
        finally:
            await env.shutdown()
