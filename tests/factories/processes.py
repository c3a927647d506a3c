"""The engine as OS processes: the ``lifecycle`` CLI run to completion, and ``lifecycle
worker`` kept running so a test can kill it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.settings import REPO_ROOT


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


async def lifecycle_cli(database_url: str, *args: str, timeout: float = 90.0) -> CliResult:
    """``python -m lifecycle <args>`` as its own process, against ``database_url``."""
    env = {**os.environ, "DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lifecycle",
        *args,
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return CliResult(process.returncode, out.decode(), err.decode())


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`lifecycle worker` as its own OS process, so the test can SIGKILL it."""
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "lifecycle", "worker"],
            env=env,
            cwd=REPO_ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
