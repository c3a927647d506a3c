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
    """Create or update Stripe products, prices and the Customer Portal configuration from
    the catalog (safe to run twice).

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


# -- reports ----------------------------------------------------------------------------

report_app = typer.Typer(
    help="Revenue reports from the ledger (the figures of GET /v1/admin/metrics).",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")

_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]


def _money(cents: int | None, currency: str, *, sign: bool = False) -> str:
    if cents is None:
        return "n/a"
    prefix = "-" if cents < 0 else "+" if sign and cents > 0 else ""
    amount = f"{abs(cents) // 100:,}.{abs(cents) % 100:02d}"
    if currency.lower() == "usd":
        return f"{prefix}${amount}"
    return f"{prefix}{amount} {currency.upper()}"


def _percent(rate: Any) -> str:
    return "n/a" if rate is None else f"{rate * 100:.2f}%"


@report_app.command("mrr")
def report_mrr(
    start: Annotated[
        datetime | None,
        typer.Option(
            "--from",
            formats=_DATE_FORMATS,
            help="Range start, inclusive (UTC). Default: --to - 12 months.",
        ),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option(
            "--to", formats=_DATE_FORMATS, help="Range end, exclusive (UTC). Default: now."
        ),
    ] = None,
    plan: Annotated[
        str | None, typer.Option(help="Only customers on this plan at the time.")
    ] = None,
    interval: Annotated[
        str | None, typer.Option(help="Only customers billed monthly (month) or yearly (year).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the JSON body of GET /v1/admin/metrics.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """MRR, ARR, movements, customers, churn, ARPU and LTV for a range (DATABASE_URL)."""
    from api.reporting_schemas import metrics_view
    from db.engine import create_engine, session_factory
    from db.reporting import load_reporting_data
    from domain.months import add_months
    from domain.reporting.ledger import MOVEMENT_TYPES, STATUSES
    from domain.reporting.periods import utc
    from domain.reporting.report import Report, compute_report

    settings = _settings(config)
    catalog = settings.engine_config.catalog
    until = utc(end) if end is not None else datetime.now(UTC)
    since = utc(start) if start is not None else add_months(until, -12)
    if since >= until:
        raise typer.BadParameter("must be before --to", param_hint="--from")
    if plan is not None and plan not in catalog.plans:
        raise typer.BadParameter(
            f"unknown plan {plan!r} (plans: {', '.join(sorted(catalog.plans))})",
            param_hint="--plan",
        )
    if interval is not None and interval not in ("month", "year"):
        raise typer.BadParameter("must be month or year", param_hint="--interval")

    async def main() -> Report:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                data = await load_reporting_data(session, end=until)
        finally:
            await engine.dispose()
        return compute_report(
            data.ledger, data.invoices, start=since, end=until, plan=plan, interval=interval
        )

    report = asyncio.run(main())
    currency = catalog.currency
    if as_json:
        typer.echo(metrics_view(report, currency=currency).model_dump_json(by_alias=True, indent=2))
        return

    def money(cents: int | None, *, sign: bool = False) -> str:
        return _money(cents, currency, sign=sign)

    out = typer.echo
    moves = report.movements
    funnel = report.funnel.counts
    churn = report.churn
    out(
        f"MRR report {since:%Y-%m-%d %H:%M} .. {until:%Y-%m-%d %H:%M} UTC (to exclusive)"
        f"   plan: {plan or 'all'}   interval: {interval or 'all'}"
    )
    out("")
    out(
        f"  {'MRR':<14}{money(report.mrr_cents):>16}   recurring "
        f"{money(report.recurring_mrr_cents)} + overage {money(report.overage_mrr_cents)}"
    )
    out(f"  {'ARR':<14}{money(report.arr_cents):>16}")
    out(
        f"  {'ARPU':<14}{money(report.arpu_cents):>16}   {report.paying_customers} paying customers"
    )
    out(f"  {'LTV':<14}{money(report.ltv_cents):>16}   ARPU / monthly revenue churn")
    out("")
    out("Customers at the end of the range")
    out("  " + "   ".join(f"{s} {report.status_counts.get(s, 0)}" for s in STATUSES))
    out("")
    out(f"MRR movements {'':<12}{'amount':>16}  customers")
    out(f"  {'starting MRR':<24}{money(moves.starting_mrr_cents):>16}")
    for kind in MOVEMENT_TYPES:
        total = moves.totals[kind]
        out(f"  {kind.value:<24}{money(total.cents, sign=True):>16}  {len(total.customers):>9}")
    out(f"  {'net':<24}{money(moves.net_cents, sign=True):>16}")
    if moves.transfer_in_cents or moves.transfer_out_cents:
        out(f"  {'moved into the segment':<24}{money(moves.transfer_in_cents, sign=True):>16}")
        out(f"  {'moved out of the segment':<24}{money(-moves.transfer_out_cents, sign=True):>16}")
    out(f"  {'ending MRR':<24}{money(moves.ending_mrr_cents):>16}")
    out("")
    out("Trial funnel (trials started in the range)")
    out(
        f"  started {funnel.started}   converted {funnel.converted} (within the trial "
        f"{funnel.converted_within_trial}, after expiry {funnel.converted_after_expiry}, "
        f"via win-back {funnel.converted_via_winback})   expired {funnel.expired}   "
        f"still trialing {funnel.in_trial}"
    )
    days = funnel.median_days_to_convert
    out(
        f"  conversion {_percent(funnel.conversion_rate)}   median days to convert "
        f"{'n/a' if days is None else days}"
    )
    out("")
    out("Churn (monthly)")
    out(
        f"  logo {_percent(churn.logo_churn_rate)}   revenue "
        f"{_percent(churn.revenue_churn_rate)}   voluntary {churn.voluntary_churned_customers} "
        f"({money(churn.voluntary_churned_mrr_cents)})   involuntary "
        f"{churn.involuntary_churned_customers} ({money(churn.involuntary_churned_mrr_cents)})"
        f"   dunning recovery {_percent(churn.dunning_recovery_rate)}"
    )
    out("")
    header = ["month", "MRR", *(t.value for t in MOVEMENT_TYPES), "logo churn", "rev churn"]
    widths = [7, 14, 13, 13, 13, 13, 13, 10, 10]
    out("  " + " ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for point, month in zip(report.mrr_series, churn.months, strict=True):
        cells = [
            point.month,
            money(point.mrr_cents),
            *(money(point.movements[t], sign=True) for t in MOVEMENT_TYPES),
            _percent(month.logo_churn_rate),
            _percent(month.revenue_churn_rate),
        ]
        out("  " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))


# -- demo -------------------------------------------------------------------------------

demo_app = typer.Typer(help="Demo data made by the real engine.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")


DEMO_SEED_HELP = (
    "Seed a realistic history: customers sign up over the months and convert (within the "
    "trial, after expiry, after a win-back email) or let the trial expire; upgrade, "
    "downgrade, buy add-ons and message packs, pause, cancel, fail renewals and go through "
    "dunning (recovering or not), restart."
    "\n\n"
    "Everything goes through the real customer workflows, worker and activities and the "
    "embedded payment simulator (never Stripe; emails go to the outbox, never SendGrid), on a "
    "private Temporal time-skipping server started for the run: 1,000 customers over 12 "
    "months take minutes. The history ends about two hours before now (the range is "
    "printed: ask the metrics and the dashboard for it); with --ahead it starts now instead."
    "\n\n"
    "The time-skipping server, and the seeded workflows with it, end with the command. The "
    "database keeps the history (customers, ledger, invoices, emails, notifications, the "
    "simulator's state), but the seeded customers have no running workflow afterwards, so "
    "lifecycle commands on them are refused: seed a database of its own for demos."
)


@demo_app.command("seed", help=DEMO_SEED_HELP)
def demo_seed(
    customers: Annotated[int, typer.Option(min=1, help="How many customers sign up.")] = 100,
    months: Annotated[int, typer.Option(min=1, max=60, help="How many months of history.")] = 3,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed plays out the same history.")
    ] = 0,
    database_url: Annotated[
        str | None,
        typer.Option(help="App database (default: DATABASE_URL, else SQLite under .lifecycle/)."),
    ] = None,
    config: ConfigOption = None,
    ahead: Annotated[
        bool,
        typer.Option(
            "--ahead",
            help="Start the history now, so it lies ahead of the real time, instead of "
            "ending it now.",
        ),
    ] = False,
) -> None:
    """Seed a realistic history through the real engine (see DEMO_SEED_HELP)."""
    from lifecycle.demo import seed as seed_history
    from lifecycle.demo.server import ServerUnavailable

    _logging()
    settings = _settings(config, database_url=database_url)
    try:
        asyncio.run(
            seed_history(
                settings,
                customers=customers,
                months=months,
                seed=seed,
                progress=typer.echo,
                ahead=ahead,
            )
        )
    except (ValueError, ServerUnavailable) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
