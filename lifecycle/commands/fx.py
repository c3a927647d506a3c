"""`lifecycle fx`: dated exchange rates for reporting in one currency (never to charge)."""

from __future__ import annotations

import asyncio
import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from lifecycle.options import load_settings

fx_app = typer.Typer(help="Exchange rates for reports across currencies (never to charge).")


@fx_app.command("load")
def fx_load(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="A CSV: date,currency,rate[,base][,source], in the ECB's quotation (one "
            "`base` buys `rate` `currency`; base defaults to eur). Default: the offline "
            "table shipped with the engine."
        ),
    ] = None,
) -> None:
    """Store the rates of FILE; a rate already stored for its date, currency and base is
    replaced."""
    from db.engine import create_engine, session_factory
    from services.fx import DEFAULT_RATES, RatesFileError, parse_rates
    from services.fx_admin import store_rates_recorded

    path = file or DEFAULT_RATES
    try:
        text = path.read_text()
    except OSError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from None
    try:
        rates = parse_rates(text, source=path.stem)
    except RatesFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from None
    settings = load_settings()

    async def main() -> int:
        engine = create_engine(settings.database_url)
        try:
            return await store_rates_recorded(
                session_factory(engine),
                rates,
                actor=f"cli:{getpass.getuser()}",
                source=str(path),
                now=datetime.now(UTC),
            )
        finally:
            await engine.dispose()

    stored = asyncio.run(main())
    typer.echo(f"stored {stored} rate(s) from {path}")
