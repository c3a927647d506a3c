"""Serving: `dev` (everything in one process), `api`, `worker`, `migrate`, `temporal setup`."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from lifecycle.options import ConfigOption, configure_logging, load_settings

if TYPE_CHECKING:
    pass

temporal_app = typer.Typer(help="Temporal operator helpers.", no_args_is_help=True)


def dev(
    config: ConfigOption = None,
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
    temporal_port: Annotated[int, typer.Option(help="Temporal dev server gRPC port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port.")] = 8233,
    database_url: Annotated[
        str | None, typer.Option(help="App database (default: SQLite under .lifecycle/).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Run the whole engine on embedded defaults (what `make run` runs)."""
    from lifecycle.dev import DevOptions, run_dev

    configure_logging()
    settings = load_settings(config, database_url=database_url)
    options = DevOptions(host=host, port=port, temporal_port=temporal_port, ui_port=ui_port)
    asyncio.run(run_dev(settings, options))


def api(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Uvicorn worker processes.")] = 1,
) -> None:
    """Serve the HTTP API (needs API keys: LIFECYCLE_APP_API_KEYS / LIFECYCLE_ADMIN_API_KEYS,
    or keys made with `lifecycle keys create`)."""
    import uvicorn

    from api.app import MissingApiKeys, require_api_keys
    from db.engine import create_engine, session_factory

    configure_logging()
    settings = load_settings(config)

    async def check() -> None:
        engine = create_engine(settings.database_url)
        try:
            await require_api_keys(settings, session_factory(engine))
        finally:
            await engine.dispose()

    try:
        asyncio.run(check())
    except MissingApiKeys as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if config is not None:
        # Worker processes build their settings from the environment.
        os.environ["LIFECYCLE_CONFIG"] = str(config)
    uvicorn.run(
        "api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
    )


def worker(config: ConfigOption = None) -> None:
    """Run a Temporal worker for every workflow and activity of the engine."""
    from workers.worker import run_worker

    configure_logging()
    settings = load_settings(config)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop=stop)

    asyncio.run(main())


def migrate(
    database_url: Annotated[str | None, typer.Option(help="Default: DATABASE_URL.")] = None,
) -> None:
    """Apply database migrations (PostgreSQL or SQLite)."""
    from db.migrate import migrate as run_migrations

    configure_logging()
    settings = load_settings(database_url=database_url)
    asyncio.run(run_migrations(settings.database_url))
    typer.echo("database is at the latest migration")


@temporal_app.command("setup")
def temporal_setup() -> None:
    """Register the engine's search attributes and its Schedules (data retention, the
    daily churn model) on TEMPORAL_ADDRESS (safe to run twice)."""
    from core.temporal import connect
    from services.temporal_setup import (
        ensure_churn_schedule,
        ensure_retention_schedule,
        ensure_search_attributes,
    )

    settings = load_settings()

    async def main() -> tuple[list[str], str, str]:
        client = await connect(settings.temporal_target, settings.temporal_namespace)
        added = await ensure_search_attributes(client, settings.temporal_namespace)
        schedule = await ensure_retention_schedule(
            client,
            task_queue=settings.temporal_task_queue,
            every=settings.engine_config.policy.retention.every,
        )
        churn = await ensure_churn_schedule(client, task_queue=settings.temporal_task_queue)
        return added, schedule, churn

    added, schedule, churn = asyncio.run(main())
    typer.echo(
        f"search attributes added: {', '.join(added)}"
        if added
        else "search attributes already registered"
    )
    typer.echo(f"retention schedule {schedule}")
    typer.echo(f"churn model schedule {churn}")
