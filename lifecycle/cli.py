"""The `lifecycle` command line: dev, api, worker, migrate and operator helpers."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    """Serve the HTTP API (needs API keys: LIFECYCLE_APP_API_KEYS / LIFECYCLE_ADMIN_API_KEYS,
    or keys made with `lifecycle keys create`)."""
    import uvicorn

    from api.app import MissingApiKeys, require_api_keys
    from db.engine import create_engine, session_factory

    _logging()
    settings = _settings(config)

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
    """Register the engine's search attributes and its retention Schedule on
    TEMPORAL_ADDRESS (safe to run twice)."""
    from lifecycle.temporal import connect, ensure_retention_schedule, ensure_search_attributes

    settings = _settings()

    async def main() -> tuple[list[str], str]:
        client = await connect(settings.temporal_target, settings.temporal_namespace)
        added = await ensure_search_attributes(client, settings.temporal_namespace)
        schedule = await ensure_retention_schedule(
            client,
            task_queue=settings.temporal_task_queue,
            every=settings.engine_config.policy.retention.every,
        )
        return added, schedule

    added, schedule = asyncio.run(main())
    typer.echo(
        f"search attributes added: {', '.join(added)}"
        if added
        else "search attributes already registered"
    )
    typer.echo(f"retention schedule {schedule}")


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


keys_app = typer.Typer(help="API keys stored in the database (only their hash is kept).")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help="app (the app backend) or admin (staff).")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
) -> None:
    """Create a key and print it once; the database keeps only its hash."""
    from db.api_keys import SCOPES, create_key
    from db.engine import create_engine, session_factory
    from db.ledger import append_ledger

    if scope not in SCOPES:
        raise typer.BadParameter(f"must be one of {', '.join(SCOPES)}", param_hint="--scope")
    settings = _settings()

    async def main() -> Any:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine).begin() as session:
                created = await create_key(session, scope=scope, name=name)
                now = datetime.now(UTC)
                await append_ledger(
                    session,
                    {
                        "event_key": f"api_key_created:{created.id}",
                        "customer_id": None,
                        "kind": "api_key_created",
                        "actor": f"cli:{getpass.getuser()}",
                        "from_status": None,
                        "to_status": None,
                        "plan": None,
                        "interval": None,
                        "mrr_delta_cents": 0,
                        "data": {"key_id": created.id, "scope": scope, "name": name},
                        "occurred_at": now,
                        "recorded_at": now,
                    },
                )
            return created
        finally:
            await engine.dispose()

    created = asyncio.run(main())
    typer.echo(f"id:    {created.id}")
    typer.echo(f"scope: {created.scope}")
    typer.echo(f"key:   {created.key}")
    typer.echo("Store the key now: it is not shown again.", err=True)


audit_app = typer.Typer(help="The hash-chained audit ledger.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the ledger's hash chain; report the first broken link (exit 1)."""
    from db.engine import create_engine, session_factory
    from db.ledger import verify_chain

    settings = _settings()

    async def main() -> Any:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                return await verify_chain(session)
        finally:
            await engine.dispose()

    report = asyncio.run(main())
    if report.broken is None:
        typer.echo(f"ok: {report.rows} rows, chain intact")
        return
    typer.echo(
        f"BROKEN at row {report.broken.id} ({report.broken.event_key}): {report.broken.problem}"
    )
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    output: Annotated[Path, typer.Option(help="CSV file to write ('-' for stdout).")],
    customer_id: Annotated[str | None, typer.Option(help="Only this customer.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Only rows at or after (UTC).")] = None,
) -> None:
    """Write the ledger (or a customer's part of it) as CSV."""
    from db.engine import create_engine, session_factory
    from db.ledger import write_csv

    settings = _settings()
    start = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since

    async def main() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                if str(output) == "-":
                    return await write_csv(
                        session, sys.stdout, customer_id=customer_id, since=start
                    )
                with output.open("w", newline="") as handle:
                    return await write_csv(session, handle, customer_id=customer_id, since=start)
        finally:
            await engine.dispose()

    rows = asyncio.run(main())
    typer.echo(f"{rows} rows written", err=True)
