"""`lifecycle audit verify | export`: the hash-chained audit ledger."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lifecycle.options import load_settings

if TYPE_CHECKING:
    pass


audit_app = typer.Typer(help="The hash-chained audit ledger.")


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the ledger's hash chain; report the first broken link (exit 1)."""
    from db.engine import create_engine, session_factory
    from db.ledger import verify_chain

    settings = load_settings()

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

    settings = load_settings()
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
