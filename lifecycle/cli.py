"""The `lifecycle` command line: dev, api, worker, migrate and operator helpers."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from lifecycle.settings import Settings

app = typer.Typer(
    help="Subscription lifecycle engine.", no_args_is_help=True, pretty_exceptions_enable=False
)
temporal_app = typer.Typer(help="Temporal operator helpers.", no_args_is_help=True)
app.add_typer(temporal_app, name="temporal")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="TOML catalog and policy file (default: LIFECYCLE_CONFIG)."),
]


def _settings(config: Path | None = None, **overrides: object) -> Settings:
    from lifecycle.config import ConfigError
    from lifecycle.settings import Settings

    values = {k: v for k, v in overrides.items() if v is not None}
    if config is not None:
        values["lifecycle_config"] = config
    settings = Settings.model_validate(values)
    try:
        settings.engine_config  # noqa: B018 - fail fast on a broken config file
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config / LIFECYCLE_CONFIG") from None
    return settings


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Keep the banner readable: the SDK's and SQLAlchemy's chatter is for debugging.
    logging.getLogger("temporalio").setLevel(logging.WARNING)


@app.command()
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

    _logging()
    settings = _settings(config, database_url=database_url)
    options = DevOptions(host=host, port=port, temporal_port=temporal_port, ui_port=ui_port)
    asyncio.run(run_dev(settings, options))


@app.command()
def api(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Uvicorn worker processes.")] = 1,
) -> None:
    """Serve the HTTP API (needs LIFECYCLE_APP_API_KEYS and/or LIFECYCLE_ADMIN_API_KEYS)."""
    import uvicorn

    from api.app import MissingApiKeys, create_app

    _logging()
    settings = _settings(config)
    try:
        create_app(settings)
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


@app.command()
def worker(config: ConfigOption = None) -> None:
    """Run a Temporal worker for every workflow and activity of the engine."""
    from workers.worker import run_worker

    _logging()
    settings = _settings(config)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop=stop)

    asyncio.run(main())


@app.command()
def migrate(
    database_url: Annotated[str | None, typer.Option(help="Default: DATABASE_URL.")] = None,
) -> None:
    """Apply database migrations (PostgreSQL or SQLite)."""
    from db.migrate import migrate as run_migrations

    _logging()
    settings = _settings(database_url=database_url)
    asyncio.run(run_migrations(settings.database_url))
    typer.echo("database is at the latest migration")


@temporal_app.command("setup")
def temporal_setup() -> None:
    """Register the engine's search attributes on TEMPORAL_ADDRESS (safe to run twice)."""
    from lifecycle.temporal import connect, ensure_search_attributes

    settings = _settings()

    async def main() -> list[str]:
        client = await connect(settings.temporal_target, settings.temporal_namespace)
        return await ensure_search_attributes(client, settings.temporal_namespace)

    added = asyncio.run(main())
    typer.echo(
        f"search attributes added: {', '.join(added)}"
        if added
        else "search attributes already registered"
    )


# -- stripe -----------------------------------------------------------------------------

stripe_app = typer.Typer(help="Stripe operator helpers.", no_args_is_help=True)
app.add_typer(stripe_app, name="stripe")


@stripe_app.command("sync-catalog")
def stripe_sync_catalog(config: ConfigOption = None) -> None:
    """Create or update Stripe products and prices from the catalog (safe to run twice).

    Needs STRIPE_API_KEY; STRIPE_API_BASE points it elsewhere (stripe-mock, a proxy).
    """
    from adapters.payments.base import CatalogSyncReport, PaymentError
    from adapters.payments.stripe_catalog import sync_catalog
    from adapters.payments.stripe_gateway import StripeGateway

    settings = _settings(config)
    if not settings.stripe_api_key:
        typer.echo(
            "error: STRIPE_API_KEY is not set (a secret key, sk_test_... or sk_live_...)",
            err=True,
        )
        raise typer.Exit(2)
    api_key = settings.stripe_api_key

    async def main() -> CatalogSyncReport:
        gateway = StripeGateway(api_key, api_base=settings.stripe_api_base)
        try:
            return await sync_catalog(gateway.client, settings.engine_config.catalog)
        finally:
            await gateway.aclose()

    try:
        report = asyncio.run(main())
    except PaymentError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for title, names in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
    ):
        typer.echo(f"{title}: {len(names)}")
        for name in names:
            typer.echo(f"  {name}")
    for conflict in report.conflicts:
        typer.echo(f"warning: {conflict}", err=True)
