"""`lifecycle security`: the security event log and the webhook secrets' rotation state
(incident response, docs/incident-response.md)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from lifecycle.options import load_settings

security_app = typer.Typer(help="Security events and the webhook secrets.", no_args_is_help=True)


@security_app.command("events")
def security_events(
    kind: Annotated[
        str | None, typer.Option(help="auth_failed, webhook_forged, api_key_revoked, ...")
    ] = None,
    client_ip: Annotated[str | None, typer.Option(help="Only this address.")] = None,
    hours: Annotated[float, typer.Option(help="How far back.")] = 24.0,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document per line.")] = False,
) -> None:
    """The security log, newest first, with a count per kind and address at the end."""
    from db.engine import create_engine, session_factory
    from db.models import SecurityEvent
    from db.security_events import security_events as read_events

    settings = load_settings()
    since = datetime.now(UTC) - timedelta(hours=hours)

    async def main() -> list[SecurityEvent]:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                return await read_events(
                    session, kind=kind, client_ip=client_ip, since=since, limit=limit
                )
        finally:
            await engine.dispose()

    rows = asyncio.run(main())
    tally: dict[tuple[str, str], int] = {}
    for row in rows:
        record: dict[str, Any] = {
            "occurred_at": row.occurred_at.isoformat(),
            "kind": row.kind,
            "actor": row.actor,
            "key_prefix": row.key_prefix,
            "client_ip": row.client_ip,
            "detail": row.detail,
        }
        if as_json:
            typer.echo(json.dumps(record, sort_keys=True))
        else:
            who = row.actor or row.key_prefix or ""
            typer.echo(
                f"{record['occurred_at'][:19]} {row.kind:<28} {row.client_ip or '-':<16} "
                f"{who} {json.dumps(row.detail, sort_keys=True)}"
            )
        key = (row.kind, row.client_ip or "-")
        tally[key] = tally.get(key, 0) + 1
    if not as_json:
        typer.echo(f"{len(rows)} events in the last {hours:g} h")
        for (name, address), count in sorted(tally.items(), key=lambda item: -item[1]):
            typer.echo(f"  {count:>6}  {name:<28} {address}")


@security_app.command("webhook-secrets")
def webhook_secrets() -> None:
    """Which webhook secrets this configuration accepts (never the secrets): the current
    one, and the one being retired with the end of its overlap window. Exit 1 when a
    previous secret is configured without a window, or its window has ended (remove it)."""
    settings = load_settings()
    now = datetime.now(UTC)
    current = settings.stripe_webhook_secret
    typer.echo(f"current:  {'set' if current else 'NOT SET (webhooks answer 503)'}")
    previous = settings.stripe_webhook_secret_previous
    until = settings.stripe_webhook_secret_previous_until
    if not previous:
        typer.echo("previous: none (no rotation in progress)")
        return
    if until is None:
        typer.echo("previous: set but STRIPE_WEBHOOK_SECRET_PREVIOUS_UNTIL is not: never accepted")
        raise typer.Exit(1)
    if until <= now:
        typer.echo(f"previous: retired since {until.isoformat()}: refused; remove it")
        raise typer.Exit(1)
    typer.echo(f"previous: accepted until {until.isoformat()} ({until - now} left)")
