"""``python -m scripts.bench_lifecycle [options]`` (what `make bench-lifecycle` runs)."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import sys
import tempfile
import traceback
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import asyncpg
import temporalio

from . import __doc__ as OVERVIEW
from .burst import burst
from .common import DEFAULT_ADMIN_URL, REPO_ROOT, asyncpg_dsn, log
from .database import create_database, drop_database
from .report import Results, render
from .stack import Stack
from .throughput import throughput
from .trialing import TrialingResult, plan_trial, trialing
from .year import simulated_year

PHASES = ("throughput", "burst", "customers", "year")
T = TypeVar("T")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench_lifecycle",
        description=(OVERVIEW or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--signups",
        type=int,
        default=500,
        help="sign-ups per side in the throughput phase (split over the rounds)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="sign-ups in flight end to end, throughput phase",
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds, throughput")
    parser.add_argument("--burst", type=int, default=2000, help="sign-ups in the burst")
    parser.add_argument(
        "--burst-concurrency", type=int, default=64, help="requests in flight, burst"
    )
    parser.add_argument(
        "--customers", type=int, default=10_000, help="live trialing customers (the population)"
    )
    parser.add_argument(
        "--customers-concurrency", type=int, default=32, help="in flight, creating customers"
    )
    parser.add_argument(
        "--probes", type=int, default=600, help="customers whose reminder falls due in the run"
    )
    parser.add_argument(
        "--probe-rate",
        type=float,
        default=5.0,
        help="probe sign-ups per second, so their reminders fall due at this rate",
    )
    parser.add_argument("--renewals", type=int, default=12, help="renewals of the year phase")
    parser.add_argument(
        "--skip", action="append", choices=PHASES, default=[], help="skip a phase (repeatable)"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="after the table, keep the processes and the database up for inspection until Ctrl-C",
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("LIFECYCLE_TEST_PG_ADMIN_URL", DEFAULT_ADMIN_URL),
        help="PostgreSQL URL of a role that may create databases",
    )
    parser.add_argument(
        "--temporal-cli",
        type=Path,
        default=Path(
            os.environ.get("LIFECYCLE_TOOLS_CACHE", Path.home() / ".cache" / "lifecycle-engine")
        )
        / "bin"
        / "temporal",
        help="the Temporal CLI that runs the dev server",
    )
    parser.add_argument(
        "--engine-root",
        type=Path,
        default=REPO_ROOT,
        help="run the engine from this checkout's code (with this clone's environment)",
    )
    args = parser.parse_args(argv)
    args.engine_root = args.engine_root.resolve()
    for name in ("signups", "concurrency", "rounds", "burst", "burst_concurrency", "customers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.signups < args.rounds:
        parser.error("--signups must be at least --rounds")
    return args


async def _phase(results: Results, name: str, work: Awaitable[T]) -> T | None:
    try:
        return await work
    except Exception as exc:
        traceback.print_exc()
        results.errors[name] = f"{type(exc).__name__}: {exc}"
        return None


async def run(args: argparse.Namespace) -> int:
    tag = f"b{uuid.uuid4().hex[:6]}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-lifecycle-"))
    log(f"database and processes starting; logs in {workdir}")
    url = await create_database(args.admin_url)
    dsn = asyncpg_dsn(url)
    stack = Stack(workdir=workdir, database_url=url, engine_root=args.engine_root)
    results = Results()
    ok = False
    # Before the processes start: the code they load is the code measured.
    code = await _describe_code(args.engine_root)
    tuning = [
        f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("LIFECYCLE_WORKER_")
    ]
    try:
        config = stack.config("lifecycle.toml")
        await stack.migrate(config)
        await stack.start_temporal(args.temporal_cli, await stack.search_attribute_flags(config))
        stack.sampler.start()
        for line in (await stack.temporal_setup(config)).splitlines():
            log(f"lifecycle temporal setup: {line}")
        await stack.start_worker(config)
        await stack.start_bare_worker(pool_size=20)
        await stack.start_api(config)
        connection = await asyncpg.connect(dsn)
        pg_version = await connection.fetchval("SHOW server_version")
        await connection.close()
        log(
            f"up: Temporal {stack.temporal_target}, API {stack.api_url}, "
            f"worker pid {stack.processes['worker'].pid}"
        )
        assert stack.client is not None

        if "throughput" not in args.skip:
            results.throughput = await _phase(
                results,
                "throughput",
                throughput(
                    stack,
                    dsn,
                    tag,
                    signups=args.signups,
                    concurrency=args.concurrency,
                    rounds=args.rounds,
                ),
            )
        if "burst" not in args.skip:
            results.burst = await _phase(
                results,
                "burst",
                burst(stack, dsn, tag, size=args.burst, concurrency=args.burst_concurrency),
            )
        if "year" not in args.skip:
            results.year = await _phase(
                results, "year", simulated_year(stack, tag, renewals=args.renewals)
            )
        if "customers" not in args.skip:
            results.trialing = await _phase(
                results, "customers", _customers(stack, dsn, tag, results, args)
            )

        results.header = [
            f"Lifecycle benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs "
            f"({platform.machine()}), Python {platform.python_version()}, "
            f"temporalio {temporalio.__version__}, Temporal CLI {stack.temporal_version}, "
            f"PostgreSQL {pg_version}",
            "engine = `lifecycle api` (1 uvicorn process) + `lifecycle worker` (1 process), "
            "payment simulator, email outbox; bare = 1 worker process with the SDK's defaults "
            "(asyncpg pool of 20); one Temporal dev server (SQLite) and one PostgreSQL for both",
            f"engine code: {code}"
            + (f"; worker tuning from the environment: {', '.join(tuning)}" if tuning else ""),
        ]
        results.notes += stack.notes
        print("\n" + render(results) + "\n", flush=True)
        ok = not results.errors
        if args.keep:
            print(
                f"--keep: Temporal at {stack.temporal_target} (namespace default), API at "
                f"{stack.api_url} (app key bench-app-key, admin key bench-admin-key), "
                f"database {url}, logs in {workdir}.\nPress Ctrl-C to stop them and drop "
                "the database.",
                flush=True,
            )
            await asyncio.Event().wait()
    finally:
        log("stopping: API, workers, Temporal; dropping the database")
        await stack.sampler.stop()
        stack.stop()
        await drop_database(args.admin_url, url)
        (workdir / "temporal.db").unlink(missing_ok=True)
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"logs kept in {workdir}")
    return 0 if ok else 1


async def _customers(
    stack: Stack, dsn: str, tag: str, results: Results, args: argparse.Namespace
) -> TrialingResult:
    plan = plan_trial(args.customers, args.probes, args.probe_rate)
    return await trialing(stack, dsn, tag, plan=plan, concurrency=args.customers_concurrency)


async def _describe_code(root: Path) -> str:
    """Which code was measured: the checkout, its commit and whether it had local changes."""

    async def git(*command: str) -> str | None:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            str(root),
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate()
        return out.decode().strip() if proc.returncode == 0 else None

    commit = await git("log", "-1", "--format=%h %s")
    if commit is None:
        return f"{root} (not a git checkout)"
    changed = await git("status", "--porcelain", "--untracked-files=normal")
    count = len(changed.splitlines()) if changed else 0
    state = f"{count} paths changed or untracked, as on disk" if count else "clean"
    if len(commit) > 60:
        commit = commit[:59] + "…"
    return f"{root} at {commit} ({state})"


def main() -> int:
    args = parse_args()

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await run(args)

    try:
        return asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
