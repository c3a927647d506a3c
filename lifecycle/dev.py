"""`lifecycle dev`: the whole engine on embedded defaults in one process tree.

Temporal CLI dev server (SQLite, Web UI) as a child process, then the worker and the API in
this process's event loop, against a SQLite app database, the payment simulator and the
email outbox. Ctrl-C stops the API, then the worker, then the dev server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from temporalio.client import Client

from api.app import create_app
from core.settings import Settings
from core.temporal import connect_with, load_profile
from db.migrate import migrate
from services.temporal_setup import (
    ensure_anchor_schedule,
    ensure_churn_schedule,
    ensure_reconciliation_schedule,
    ensure_retention_schedule,
    ensure_search_attributes,
)
from workers.worker import run_worker
from workflows import search_attributes

logger = logging.getLogger("lifecycle.dev")

STATE_DIR = Path(".lifecycle")


@dataclass(frozen=True)
class DevOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    temporal_port: int = 7233
    ui_port: int = 8233


class _EmbeddedServer(uvicorn.Server):
    """Uvicorn without its own signal handling: `lifecycle dev` owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def with_dev_keys(settings: Settings) -> tuple[Settings, bool]:
    """Use the API keys from the environment, or generate a pair for this session."""
    if settings.has_api_keys:
        return settings, False
    generated = settings.model_copy(
        update={
            "lifecycle_app_api_keys": "dev_app_" + secrets.token_urlsafe(18),
            "lifecycle_admin_api_keys": "dev_admin_" + secrets.token_urlsafe(18),
        }
    )
    return generated, True


def start_dev_server(settings: Settings, options: DevOptions) -> subprocess.Popen[bytes]:
    cli = settings.temporal_cli
    if not cli.exists():
        raise SystemExit(f"Temporal CLI not found at {cli}; run `scripts/tools.sh temporal`")
    STATE_DIR.mkdir(exist_ok=True)
    command = [
        str(cli),
        "server",
        "start-dev",
        "--ip",
        options.host,
        "--port",
        str(options.temporal_port),
        "--ui-port",
        str(options.ui_port),
        "--namespace",
        settings.temporal_namespace,
        "--db-filename",
        str(STATE_DIR / "temporal.db"),
        "--log-level",
        "warn",
        "--dynamic-config-value",
        "frontend.enableExecuteMultiOperation=true",
        *search_attributes.cli_flags(),
    ]
    log = (STATE_DIR / "temporal.log").open("ab")
    # A session of its own: Ctrl-C reaches this process only, which stops the server last.
    return subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)


async def wait_for_temporal(settings: Settings, process: subprocess.Popen[bytes] | None) -> Client:
    for _ in range(240):
        if process is not None and process.poll() is not None:
            raise SystemExit(
                f"the Temporal dev server exited with {process.returncode}; "
                f"see {STATE_DIR / 'temporal.log'}"
            )
        try:
            return await connect_with(settings)
        except RuntimeError:
            await asyncio.sleep(0.25)
    raise SystemExit(f"Temporal did not answer at {settings.temporal_target} within 60 s")


def bind_listener(host: str, port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise SystemExit(f"cannot listen on {host}:{port} ({exc.strerror}); try --port") from None
    listener.listen(2048)
    return listener


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def banner(
    settings: Settings, options: DevOptions, *, generated_keys: bool, ui: str | None, client: Client
) -> str:
    api = f"http://{options.host}:{options.port}"
    first_key = (settings.app_api_keys or ("<key>",))[0]
    lines = [
        "",
        "Subscription lifecycle engine is running (embedded defaults)",
        f"  API docs          {api}/docs",
        f"  Temporal Web UI   {ui or 'served by your Temporal deployment'}",
        f"  Temporal server   {client.service_client.config.target_host}"
        f" (namespace {client.namespace},"
        f" task queue {settings.temporal_task_queue})",
        f"  App database      {settings.database_url}",
        "  Payments          embedded simulator"
        if not settings.stripe_api_key
        else "  Payments          Stripe",
        "  Email             outbox + log"
        if not settings.sendgrid_api_key
        else "  Email             SendGrid",
        f"  App API key       {', '.join(settings.app_api_keys) or '-'}"
        + ("  (generated for this session)" if generated_keys else ""),
        f"  Admin API key     {', '.join(settings.admin_api_keys) or '-'}"
        + ("  (generated for this session)" if generated_keys else ""),
        "",
        f"  try: curl -H 'Authorization: Bearer {first_key}' {api}/v1/plans",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


async def run_dev(settings: Settings, options: DevOptions) -> None:
    settings, generated_keys = with_dev_keys(settings)
    process: subprocess.Popen[bytes] | None = None
    ui: str | None = None
    # Embedded unless an address is configured: the engine's setting or a Temporal profile.
    if settings.temporal_address is None and "target_host" not in load_profile():
        process = start_dev_server(settings, options)
        settings = settings.model_copy(
            update={"temporal_address": f"{options.host}:{options.temporal_port}"}
        )
        ui = f"http://{options.host}:{options.ui_port}"
    try:
        client = await wait_for_temporal(settings, process)
        await ensure_search_attributes(client, client.namespace)
        await ensure_retention_schedule(
            client,
            task_queue=settings.temporal_task_queue,
            every=settings.engine_config.policy.retention.every,
        )
        await ensure_churn_schedule(client, task_queue=settings.temporal_task_queue)
        await ensure_reconciliation_schedule(client, task_queue=settings.temporal_task_queue)
        await ensure_anchor_schedule(client, task_queue=settings.temporal_task_queue)
        await migrate(settings.database_url)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        server = _EmbeddedServer(
            uvicorn.Config(
                create_app(settings, temporal=client),
                host=options.host,
                port=options.port,
                log_level="info",
                lifespan="on",
            )
        )
        # Bind here rather than in uvicorn, which would sys.exit() from inside the event loop.
        listener = bind_listener(options.host, options.port)
        worker = asyncio.create_task(run_worker(settings, stop=stop))
        api = asyncio.create_task(server.serve(sockets=[listener]))
        # uvicorn exposes readiness as a flag only.
        while not server.started and not api.done() and not worker.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        print(
            banner(settings, options, generated_keys=generated_keys, ui=ui, client=client),
            flush=True,
        )

        stopping = asyncio.create_task(stop.wait())
        # Ctrl-C, or the API or worker dying on its own, ends the session.
        await asyncio.wait({stopping, api, worker}, return_when=asyncio.FIRST_COMPLETED)
        logger.info("stopping: API, then worker, then Temporal")
        stop.set()
        server.should_exit = True
        await api
        await worker
    finally:
        if process is not None:
            stop_process(process)
