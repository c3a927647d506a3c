"""`lifecycle report reconciliation`: the engine's invoices, payments and subscriptions
against the payment provider's (the body of POST/GET /v1/admin/reports/reconciliation)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from lifecycle.options import ConfigOption, load_settings

if TYPE_CHECKING:
    from api.reports.reconciliation import ReconciliationView


def report_reconciliation(
    latest: Annotated[
        bool,
        typer.Option("--latest", help="Print the latest recorded run instead of running one."),
    ] = False,
    grace_minutes: Annotated[
        int,
        typer.Option(min=0, max=1440, help="Leave out objects younger than this."),
    ] = 15,
    check: Annotated[
        bool, typer.Option("--check", help="Exit with status 1 when there is a difference.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the JSON body of the API's reconciliation report."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Compare the engine's invoices and subscriptions with the payment provider's (Stripe
    with STRIPE_API_KEY, else the simulator in DATABASE_URL) and list every difference; the
    run is recorded like the daily Schedule's."""
    from api.reports.reconciliation import reconciliation_view
    from db.engine import create_engine, session_factory
    from services.reconciliation import ReconciliationReport, latest_report, reconcile_now
    from services.wiring import payment_gateway

    settings = load_settings(config)

    async def main() -> ReconciliationReport | None:
        engine = create_engine(settings.database_url)
        try:
            sessions = session_factory(engine)
            if latest:
                return await latest_report(sessions)
            gateway = payment_gateway(settings, sessions)
            return await reconcile_now(
                sessions, gateway, trigger="cli", grace=timedelta(minutes=grace_minutes)
            )
        finally:
            await engine.dispose()

    report = asyncio.run(main())
    if report is None:
        typer.echo("no reconciliation has run yet", err=True)
        raise typer.Exit(1)
    view = reconciliation_view(report)
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
    else:
        for line in reconciliation_lines(view):
            typer.echo(line)
    if check and view.difference_count:
        raise typer.Exit(1)


def reconciliation_lines(view: ReconciliationView) -> list[str]:
    lines = [
        f"Reconciliation with {view.provider} as of {view.as_of:%Y-%m-%d %H:%M:%S} UTC "
        f"({view.trigger}): {view.invoices_compared} invoice(s), "
        f"{view.subscriptions_compared} subscription(s) compared, "
        f"{view.difference_count} difference(s)",
    ]
    if not view.differences:
        return lines
    lines += [
        "",
        f"{'customer':<38}{'object':<14}{'id':<30}{'kind':<21}{'field':<22}engine -> provider",
    ]
    for d in view.differences:
        customer = d.customer_id or f"({d.provider_customer_id or '?'})"
        lines.append(
            f"{customer:<38}{d.object:<14}{d.object_id:<30}{d.kind:<21}{d.field or '':<22}"
            f"{d.engine} -> {d.provider}"
        )
    return lines
