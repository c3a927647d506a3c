"""The processes under test: the Temporal dev server, the engine's API and worker, and the
bare worker; each an OS process of its own, logging to a file, its RSS sampled."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.client import Client

from .common import (
    ADMIN_KEY,
    APP_KEY,
    BARE_TASK_QUEUE,
    ENGINE_TASK_QUEUE,
    LIFECYCLE_CLI,
    NAMESPACE,
    REPO_ROOT,
    VENV_PYTHON,
    asyncpg_dsn,
    free_port,
    log,
    write_config,
)

# -- processes --------------------------------------------------------------------------


def read_rss_kib(pid: int) -> int | None:
    """VmRSS of a live process, in KiB (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int = signal.SIGINT

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self, since: int = 0) -> str:
        with self.log_path.open("rb") as handle:
            handle.seek(since)
            return handle.read().decode(errors="replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout: float = 30) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(self.stop_signal)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop within {timeout:.0f} s: killing it")
                self.popen.kill()
                self.popen.wait()


def spawn(
    name: str,
    command: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path,
    stop_signal: int = signal.SIGINT,
) -> Process:
    handle = log_path.open("ab")
    try:
        # A session of its own: a Ctrl-C reaches the benchmark only, which then stops
        # everything in order (API, workers, then the Temporal server).
        popen = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        handle.close()
    return Process(name, popen, log_path, stop_signal)


def read_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a live process has used, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # utime and stime are the 14th and 15th fields; 11th and 12th after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class RssSeries:
    samples: list[tuple[float, int]] = field(default_factory=list)
    # (time, CPU seconds used so far)
    cpu: list[tuple[float, float]] = field(default_factory=list)

    def window(self, since: float) -> list[int]:
        return [kib for at, kib in self.samples if at >= since]

    def cpu_between(self, start: float, end: float) -> float | None:
        inside = [used for at, used in self.cpu if start <= at <= end]
        return inside[-1] - inside[0] if len(inside) >= 2 else None


class RssSampler:
    """VmRSS of each tracked process, every second, for the whole run."""

    def __init__(self) -> None:
        self.series: dict[str, RssSeries] = {}
        self._processes: dict[str, Process] = {}
        self._task: asyncio.Task[None] | None = None

    def track(self, process: Process) -> None:
        self._processes[process.name] = process
        self.series.setdefault(process.name, RssSeries())

    def sample_now(self) -> None:
        now = time.time()
        for name, process in self._processes.items():
            kib = read_rss_kib(process.pid)
            if kib is not None:
                self.series[name].samples.append((now, kib))
            used = read_cpu_seconds(process.pid)
            if used is not None:
                self.series[name].cpu.append((now, used))

    def cpu(self, name: str, start: float, end: float) -> float | None:
        """CPU seconds the process used between ``start`` and ``end`` (sampled each second)."""
        return self.series.get(name, RssSeries()).cpu_between(start, end)

    async def _run(self) -> None:
        while True:
            self.sample_now()
            await asyncio.sleep(1.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def stats(self, name: str, since: float) -> tuple[int, int, int] | None:
        """(first, max, last) RSS in KiB since ``since``."""
        values = self.series.get(name, RssSeries()).window(since)
        if not values:
            return None
        return values[0], max(values), values[-1]


class Stack:
    """Everything the benchmark starts; ``stop`` ends it all (safe to call twice)."""

    def __init__(self, *, workdir: Path, database_url: str, engine_root: Path) -> None:
        self.workdir = workdir
        self.engine_root = engine_root
        self.database_url = database_url
        self.temporal_port = free_port()
        self.temporal_target = f"127.0.0.1:{self.temporal_port}"
        self.processes: dict[str, Process] = {}
        self.sampler = RssSampler()
        self.client: Client | None = None
        self.api_url = ""
        self.temporal_version = "?"
        self.notes: list[str] = []

    # environment of the engine's processes: no Stripe, no SendGrid, our keys and database
    def engine_env(self, config: Path) -> dict[str, str]:
        """No Stripe, no SendGrid, this run's database, server and keys; worker tuning
        (``LIFECYCLE_WORKER_*``) passes through, so variants can be compared."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k.startswith("LIFECYCLE_WORKER_")
            or (
                not k.startswith(("STRIPE_", "SENDGRID_", "LIFECYCLE_", "TEMPORAL_"))
                and k not in ("DATABASE_URL", "PYTHONPATH")
            )
        }
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "TEMPORAL_ADDRESS": self.temporal_target,
                "TEMPORAL_NAMESPACE": NAMESPACE,
                "TEMPORAL_TASK_QUEUE": ENGINE_TASK_QUEUE,
                "LIFECYCLE_APP_API_KEYS": APP_KEY,
                "LIFECYCLE_ADMIN_API_KEYS": ADMIN_KEY,
                "LIFECYCLE_CONFIG": str(config),
                "PYTHONPATH": str(self.engine_root),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def config(self, name: str, **sections: Mapping[str, object]) -> Path:
        return write_config(self.engine_root / "lifecycle.toml", self.workdir / name, **sections)

    async def _engine_command(self, config: Path, *args: str, done_when: str | None = None) -> str:
        """Run a command of the engine; ``done_when``: output that proves the work done even
        if the process then exits non-zero (noted, not fatal)."""
        proc = await asyncio.create_subprocess_exec(
            *args,
            cwd=self.engine_root,
            env=self.engine_env(config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        text = out.decode().strip()
        command = " ".join(Path(args[0]).name if i == 0 else a for i, a in enumerate(args))
        if proc.returncode != 0:
            if done_when is None or done_when not in text:
                raise RuntimeError(f"{command} failed ({proc.returncode}):\n{text}")
            first = next(
                (line for line in text.splitlines() if "Fatal" in line or "Error" in line),
                text.splitlines()[-1],
            )
            self.notes.append(
                f"note: `{command}` did its work but exited with {proc.returncode}: {first}"
            )
            log(self.notes[-1])
        return text

    async def migrate(self, config: Path) -> None:
        """``lifecycle migrate`` (``db.migrate.migrate``) of the engine under test."""
        await self._engine_command(config, str(LIFECYCLE_CLI), "migrate")

    async def search_attribute_flags(self, config: Path) -> list[str]:
        """``--search-attribute`` flags as ``lifecycle dev`` passes them to the dev server
        (``workflows.search_attributes.cli_flags`` of the engine under test)."""
        out = await self._engine_command(
            config,
            str(VENV_PYTHON),
            "-c",
            "from workflows.search_attributes import cli_flags; print(*cli_flags(), sep='\\n')",
        )
        return out.splitlines()

    def _register(self, process: Process) -> Process:
        self.processes[process.name] = process
        self.sampler.track(process)
        return process

    def _check_alive(self, process: Process) -> None:
        if not process.alive():
            raise RuntimeError(
                f"{process.name} exited with {process.popen.returncode}; "
                f"last lines of {process.log_path}:\n{process.tail()}"
            )

    async def start_temporal(self, cli: Path, search_attributes: Sequence[str]) -> Client:
        try:
            version = await asyncio.create_subprocess_exec(
                str(cli), "--version", stdout=asyncio.subprocess.PIPE
            )
        except FileNotFoundError:
            raise RuntimeError(
                f"Temporal CLI not found at {cli}; run `scripts/tools.sh temporal`"
            ) from None
        out, _ = await version.communicate()
        self.temporal_version = out.decode().strip().removeprefix("temporal version ")
        command = [
            str(cli),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.temporal_port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--namespace",
            NAMESPACE,
            "--db-filename",
            str(self.workdir / "temporal.db"),
            "--log-level",
            "warn",
            # As `lifecycle dev` starts it.
            "--dynamic-config-value",
            "frontend.enableExecuteMultiOperation=true",
            *search_attributes,
        ]
        process = self._register(
            spawn(
                "temporal",
                command,
                log_path=self.workdir / "temporal.log",
                env=os.environ,
                cwd=self.workdir,
                stop_signal=signal.SIGTERM,
            )
        )
        for _ in range(240):
            self._check_alive(process)
            try:
                self.client = await Client.connect(self.temporal_target, namespace=NAMESPACE)
                break
            except RuntimeError:
                await asyncio.sleep(0.25)
        else:
            raise RuntimeError(f"Temporal did not answer at {self.temporal_target} in 60 s")
        return self.client

    async def temporal_setup(self, config: Path) -> str:
        """``lifecycle temporal setup``, as a deployment runs it (search attributes, the
        retention Schedule)."""
        out = await self._engine_command(
            config, str(LIFECYCLE_CLI), "temporal", "setup", done_when="retention schedule"
        )
        return "\n".join(
            line
            for line in out.splitlines()
            if "search attributes" in line or "retention schedule" in line
        )

    async def start_api(self, config: Path, *, label: str = "api") -> None:
        old = self.processes.get("api")
        if old is not None:
            old.stop()
        port = free_port()
        process = self._register(
            spawn(
                "api",
                [
                    str(LIFECYCLE_CLI),
                    "api",
                    "--config",
                    str(config),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                log_path=self.workdir / f"{label}.log",
                env={**self.engine_env(config), "LIFECYCLE_PUBLIC_URL": f"http://127.0.0.1:{port}"},
                cwd=self.engine_root,
            )
        )
        self.api_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=self.api_url, timeout=5) as http:
            for _ in range(600):
                self._check_alive(process)
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the API did not become ready; see {process.log_path}")

    async def _wait_log(self, process: Process, marker: str, within: float = 90) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self._check_alive(process)
            if marker in process.log_text():
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{process.name} did not log {marker!r}; see {process.log_path}")

    async def start_worker(self, config: Path) -> None:
        process = self._register(
            spawn(
                "worker",
                [str(LIFECYCLE_CLI), "worker", "--config", str(config)],
                log_path=self.workdir / "worker.log",
                env=self.engine_env(config),
                cwd=self.engine_root,
            )
        )
        await self._wait_log(process, "worker polling task queue")

    async def start_bare_worker(self, pool_size: int) -> None:
        env = {
            **os.environ,
            "BENCH_DATABASE_DSN": asyncpg_dsn(self.database_url),
            "BENCH_TEMPORAL_ADDRESS": self.temporal_target,
            "BENCH_TASK_QUEUE": BARE_TASK_QUEUE,
            "BENCH_POOL_SIZE": str(pool_size),
            "PYTHONUNBUFFERED": "1",
        }
        process = self._register(
            spawn(
                "bare-worker",
                [str(VENV_PYTHON), "-m", "scripts.bench_lifecycle.bare_worker"],
                log_path=self.workdir / "bare-worker.log",
                env=env,
                cwd=REPO_ROOT,
            )
        )
        await self._wait_log(process, "bare worker polling")

    def stop(self) -> None:
        # The API first (no new work), then the workers, then the server they talk to.
        for name in ("api", "worker", "bare-worker", "temporal"):
            process = self.processes.get(name)
            if process is not None and process.alive():
                process.stop()

    def scan_log(self, name: str, since: int, patterns: Sequence[str]) -> list[str]:
        """Lines of a process's log written after byte ``since`` that match a pattern."""
        process = self.processes.get(name)
        if process is None:
            return []
        wanted = re.compile("|".join(patterns), re.IGNORECASE)
        return [line for line in process.log_text(since).splitlines() if wanted.search(line)]
