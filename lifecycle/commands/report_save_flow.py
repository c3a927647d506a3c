"""`lifecycle report save-flow`: churn prevention from the ledger (the figures of
GET /v1/admin/reports/save-flow)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from lifecycle.commands.report import FromOption, ToOption, percent
from lifecycle.options import ConfigOption, load_settings

if TYPE_CHECKING:
    from api.reports.save_flow import SaveFlowView


def report_save_flow(
    start: FromOption = None,
    end: ToOption = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the JSON body of GET /v1/admin/reports/save-flow."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """The cancellation save flow by exit reason (saved, canceled, undecided), each offer
    kind's take-up and whether its takers stayed 30 days, and the offers campaigns and the
    churn run sent (DATABASE_URL)."""
    from api.errors import Problem
    from api.reports.save_flow import save_flow_view
    from api.reports.service import report_range
    from db.engine import create_engine, session_factory
    from db.retention import retention_events
    from domain.growth.save_flow import SaveFlowReport, save_flow_report

    settings = load_settings(config)
    try:
        first, last = report_range(start, end)
    except Problem as exc:
        raise typer.BadParameter(exc.detail) from None

    async def main() -> SaveFlowReport:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                events = await retention_events(session, first)
        finally:
            await engine.dispose()
        return save_flow_report(events, first, last, datetime.now(UTC))

    view = save_flow_view(asyncio.run(main()))
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
        return
    for line in save_flow_lines(view):
        typer.echo(line)


def save_flow_lines(view: SaveFlowView) -> list[str]:
    lines = [
        f"Save flow {view.start:%Y-%m-%d} .. {view.end:%Y-%m-%d}: {view.requests} request(s), "
        f"{view.saved} saved ({percent(view.save_rate)})",
        "",
        f"{'exit reason':<26}{'requests':>9}{'saved':>7}{'canceled':>10}{'undecided':>11}"
        f"{'save rate':>11}",
    ]
    for r in view.reasons:
        lines.append(
            f"{r.reason:<26}{r.requests:>9}{r.saved:>7}{r.canceled:>10}{r.undecided:>11}"
            f"{percent(r.save_rate):>11}"
        )
    lines += [
        "",
        f"{'offer':<14}{'shown':>7}{'taken':>7}{'take rate':>11}{'stayed 30d':>12}{'pending':>9}"
        f"{'stay rate':>11}",
    ]
    for o in view.offers:
        lines.append(
            f"{o.kind:<14}{o.shown:>7}{o.accepted:>7}{percent(o.acceptance_rate):>11}"
            f"{o.stayed:>12}{o.pending:>9}{percent(o.stayed_rate):>11}"
        )
    lines += ["", f"{'offers sent by':<18}{'sent':>6}{'not sent':>10}{'taken':>7}{'take rate':>11}"]
    for s in view.sent:
        lines.append(
            f"{s.source:<18}{s.sent:>6}{s.not_sent:>10}{s.accepted:>7}"
            f"{percent(s.acceptance_rate):>11}"
        )
    return lines
