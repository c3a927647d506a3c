"""Serving: `dev` (everything in one process), `api`, `worker`, `migrate`, `temporal setup`."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from lifecycle.exiting import ends_process
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
    database_url: Annotated[
        str | None,
        typer.Option(help="Default: LIFECYCLE_MIGRATE_DATABASE_URL, else DATABASE_URL."),
    ] = None,
) -> None:
    """Apply database migrations (PostgreSQL or SQLite); with LIFECYCLE_DATABASE_APP_ROLE,
    grant that role the app's privileges (PostgreSQL only)."""
    from db.migrate import migrate as run_migrations

    configure_logging()
    settings = load_settings()
    url = database_url or settings.lifecycle_migrate_database_url or settings.database_url
    role = settings.lifecycle_database_app_role
    asyncio.run(run_migrations(url, app_role=role))
    typer.echo("database is at the latest migration")
    if role and url.startswith("postgresql"):
        typer.echo(f"granted the app role {role!r} its privileges")


@temporal_app.command("setup")
@ends_process
def temporal_setup() -> None:
    """Register the engine's search attributes and its Schedules (data retention, the
    daily churn model, the daily reconciliation, the daily ledger anchor) on the configured
    Temporal (TEMPORAL_ADDRESS, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE...; safe
    to run twice)."""
    from core.temporal import connect_with
    from services.temporal_setup import (
        ensure_anchor_schedule,
        ensure_churn_schedule,
        ensure_reconciliation_schedule,
        ensure_retention_schedule,
        ensure_search_attributes,
    )

    settings = load_settings()

    async def main() -> tuple[list[str], str, str, str, str]:
        client = await connect_with(settings)
        added = await ensure_search_attributes(client, client.namespace)
        schedule = await ensure_retention_schedule(
            client,
            task_queue=settings.temporal_task_queue,
            every=settings.engine_config.policy.retention.every,
        )
        churn = await ensure_churn_schedule(client, task_queue=settings.temporal_task_queue)
        reconciliation = await ensure_reconciliation_schedule(
            client, task_queue=settings.temporal_task_queue
        )
        anchor = await ensure_anchor_schedule(client, task_queue=settings.temporal_task_queue)
        return added, schedule, churn, reconciliation, anchor

    added, schedule, churn, reconciliation, anchor = asyncio.run(main())
    typer.echo(
        f"search attributes added: {', '.join(added)}"
        if added
        else "search attributes already registered"
    )
    typer.echo(f"retention schedule {schedule}")
    typer.echo(f"churn model schedule {churn}")
    typer.echo(f"reconciliation schedule {reconciliation}")
    typer.echo(f"ledger anchor schedule {anchor}")
