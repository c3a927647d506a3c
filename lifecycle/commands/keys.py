"""`lifecycle keys create`: API keys stored in the database (only their hash is kept)."""

from __future__ import annotations

import asyncio
import getpass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lifecycle.options import load_settings

if TYPE_CHECKING:
    pass


keys_app = typer.Typer(help="API keys stored in the database (only their hash is kept).")


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
    settings = load_settings()

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
