"""`lifecycle keys`: API keys stored in the database (only their hash is kept): create,
review (the access review), revoke one, revoke every key of a scope."""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from lifecycle.options import load_settings

if TYPE_CHECKING:
    from db.engine import SessionFactory

T = TypeVar("T")

keys_app = typer.Typer(help="API keys stored in the database (only their hash is kept).")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _with_sessions(work: Callable[[SessionFactory], Awaitable[T]]) -> T:
    from db.engine import create_engine, session_factory

    settings = load_settings()

    async def main() -> T:
        engine = create_engine(settings.database_url)
        try:
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _scope(scope: str, hint: str) -> str:
    from db.api_keys import SCOPES

    if scope not in SCOPES:
        raise typer.BadParameter(f"must be one of {', '.join(SCOPES)}", param_hint=hint)
    return scope


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help="app (the app backend) or admin (staff).")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, help="Refused after this many days (default: never).")
    ] = None,
) -> None:
    """Create a key and print it once; the database keeps only its hash."""
    from core.clock import utcnow
    from services.access_review import create_api_key

    _scope(scope, "--scope")
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    created = _with_sessions(
        lambda sessions: create_api_key(
            sessions, scope=scope, name=name, actor=_actor(), expires_at=expires_at
        )
    )
    typer.echo(f"id:    {created.id}")
    typer.echo(f"scope: {created.scope}")
    typer.echo(f"key:   {created.key}")
    if created.expires_at is not None:
        typer.echo(f"expires: {created.expires_at.isoformat()}")
    typer.echo("Store the key now: it is not shown again.", err=True)


@keys_app.command("review")
def keys_review(
    unused_days: Annotated[
        int | None,
        typer.Option(min=1, help="Flag live keys unused this long (LIFECYCLE_KEY_UNUSED_DAYS)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """The access review: every key's scope, creator, age, last use, expiry, revocation;
    unused keys flagged. Exits 1 when a live key is flagged unused (for a cron job)."""
    from api.auth import key_fingerprint
    from core.clock import utcnow
    from services.access_review import access_review

    settings = load_settings()
    days = unused_days or settings.lifecycle_key_unused_days
    environment = {key_fingerprint(k): "app" for k in settings.app_api_keys}
    environment |= {key_fingerprint(k): "admin" for k in settings.admin_api_keys}
    now = utcnow()
    reviewed = _with_sessions(
        lambda sessions: access_review(
            sessions, now, unused_days=days, environment_keys=environment
        )
    )
    rows: list[dict[str, Any]] = [
        {
            "id": r.facts.id,
            "name": r.facts.name,
            "scope": r.facts.scope,
            "source": r.facts.source,
            "created_by": r.facts.created_by,
            "created_at": _iso(r.facts.created_at),
            "last_used_at": _iso(r.facts.last_used_at),
            "age_days": r.age_days,
            "expires_at": _iso(r.facts.expires_at),
            "revoked_at": _iso(r.facts.revoked_at),
            "status": r.status,
            "unused": r.unused,
            "flags": list(r.flags),
        }
        for r in reviewed
    ]
    if as_json:
        document = {"generated_at": now.isoformat(), "unused_days": days, "keys": rows}
        typer.echo(json.dumps(document, indent=2))
    else:
        typer.echo(f"{'id':<22} {'scope':<6} {'status':<8} {'age':>5} {'last used':<20} flags")
        for row in rows:
            age = "" if row["age_days"] is None else str(row["age_days"])
            used = (row["last_used_at"] or "never")[:19]
            flags = "; ".join(row["flags"])
            typer.echo(
                f"{row['id']:<22} {row['scope']:<6} {row['status']:<8} {age:>5} {used:<20} {flags}"
            )
        typer.echo(f"{len(rows)} keys; unused: {sum(1 for r in rows if r['unused'])}")
    if any(r.unused for r in reviewed):
        raise typer.Exit(1)


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from create or review).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the ledger).")] = "revoked",
) -> None:
    """Revoke one stored key: its next request gets 401."""
    from services.access_review import revoke_api_keys

    revoked = _with_sessions(
        lambda sessions: revoke_api_keys(sessions, actor=_actor(), reason=reason, key_id=key_id)
    )
    if not revoked:
        typer.echo(f"no live stored key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@keys_app.command("revoke-scope")
def keys_revoke_scope(
    scope: Annotated[str, typer.Argument(help="app or admin: every live stored key of it.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the ledger).")] = "incident",
) -> None:
    """Revoke every live stored key of a scope (a suspected leak). Keys set in the
    environment (LIFECYCLE_*_API_KEYS) are not stored: replace them and redeploy."""
    from services.access_review import revoke_api_keys

    _scope(scope, "scope")
    revoked = _with_sessions(
        lambda sessions: revoke_api_keys(sessions, actor=_actor(), reason=reason, scope=scope)
    )
    for key in revoked:
        typer.echo(f"revoked {key.id} ({key.name})")
    typer.echo(f"{len(revoked)} {scope} keys revoked")
