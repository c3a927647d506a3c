"""`lifecycle freeze on|off|status`: the money-movement kill switch (services/freeze.py)."""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer

from lifecycle.options import load_settings

freeze_app = typer.Typer(
    help="Freeze money movements in an incident (commands answer 503, timed charges wait).",
    no_args_is_help=True,
)

ReasonOption = Annotated[str, typer.Option(help="Why (kept in the ledger and security log).")]


def _throw(active: bool, reason: str) -> None:
    from db.engine import create_engine, session_factory
    from services.freeze import set_freeze

    settings = load_settings()

    async def main() -> None:
        engine = create_engine(settings.database_url)
        try:
            await set_freeze(
                session_factory(engine),
                active=active,
                reason=reason,
                actor=f"cli:{getpass.getuser()}",
            )
        finally:
            await engine.dispose()

    asyncio.run(main())


@freeze_app.command("on")
def freeze_on(reason: ReasonOption) -> None:
    """Stop money movements: money-moving API commands answer 503; the worker's charges
    (dunning retries, conversions, add-ons) fail retryably and wait."""
    _throw(True, reason)
    typer.echo("money movements are FROZEN")


@freeze_app.command("off")
def freeze_off(reason: ReasonOption) -> None:
    """Let money move again: waiting charges go through on their next retry, once each."""
    _throw(False, reason)
    typer.echo("money movements are running")


@freeze_app.command("status")
def freeze_status() -> None:
    """Whether money movements are frozen (exit 1 when they are)."""
    from db.engine import create_engine, session_factory
    from services.freeze import FreezeState, freeze_state

    settings = load_settings()

    async def main() -> FreezeState:
        engine = create_engine(settings.database_url)
        try:
            return await freeze_state(session_factory(engine))
        finally:
            await engine.dispose()

    state = asyncio.run(main())
    if not state.active:
        typer.echo("money movements are running")
        return
    since = state.changed_at.isoformat() if state.changed_at else "?"
    typer.echo(f"money movements are FROZEN since {since} by {state.actor}: {state.reason}")
    raise typer.Exit(1)
