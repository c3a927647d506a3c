"""`lifecycle audit verify | export | anchor | anchor-key`: the hash-chained audit ledger
and its signed anchors."""

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
def audit_verify(
    anchors: Annotated[
        Path | None,
        typer.Option(
            help="Also check each signed anchor in this directory: its signature "
            "(LIFECYCLE_ANCHOR_PUBLIC_KEY or the signing key) and that the chain still has "
            "its head at its position.",
        ),
    ] = None,
) -> None:
    """Walk the ledger's hash chain; report the first broken link (exit 1)."""
    from db.engine import create_engine, session_factory
    from db.ledger import verify_chain
    from services.anchors import AnchorCheck, check_anchors, verifying_key

    settings = load_settings()
    key = None
    if anchors is not None:
        key = verifying_key(settings)
        if key is None:
            raise typer.BadParameter(
                "set LIFECYCLE_ANCHOR_PUBLIC_KEY (or the signing key) to check anchors",
                param_hint="--anchors",
            )
        if not anchors.is_dir():
            raise typer.BadParameter(f"{anchors} is not a directory", param_hint="--anchors")

    async def main() -> tuple[Any, list[AnchorCheck]]:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        try:
            async with sessions() as session:
                report = await verify_chain(session)
            checks = await check_anchors(sessions, anchors, key) if anchors and key else []
            return report, checks
        finally:
            await engine.dispose()

    report, checks = asyncio.run(main())
    failed = report.broken is not None
    if report.broken is None:
        typer.echo(f"ok: {report.rows} rows, chain intact")
    else:
        typer.echo(
            f"BROKEN at row {report.broken.id} ({report.broken.event_key}): {report.broken.problem}"
        )
    for check in checks:
        if check.problem is None:
            typer.echo(f"ok: anchor {check.path.name} (head row {check.head_id})")
        else:
            failed = True
            typer.echo(f"FAILED: anchor {check.path.name}: {check.problem}")
    if anchors is not None:
        typer.echo(f"{len(checks)} anchors checked")
        if not checks:
            typer.echo("no anchors found: nothing proves the chain was not rewritten")
            failed = True
    if failed:
        raise typer.Exit(1)


@audit_app.command("anchor")
def audit_anchor() -> None:
    """Sign the ledger's chain head now and write it to LIFECYCLE_ANCHOR_DIR (the daily
    Schedule does the same)."""
    from activities.anchors import anchor_target, write_anchor
    from core.clock import utcnow
    from db.engine import create_engine, session_factory

    settings = load_settings()
    target = anchor_target(settings)
    if target is None:
        typer.echo("set LIFECYCLE_ANCHOR_DIR and LIFECYCLE_ANCHOR_SIGNING_KEY", err=True)
        raise typer.Exit(2)

    async def main() -> Path | None:
        engine = create_engine(settings.database_url)
        try:
            return await write_anchor(session_factory(engine), target, utcnow())
        finally:
            await engine.dispose()

    path = asyncio.run(main())
    typer.echo(f"wrote {path}" if path else "the ledger is empty: nothing to anchor")


@audit_app.command("anchor-key")
def audit_anchor_key() -> None:
    """Make an Ed25519 key pair for anchors: the private key goes to the signer's
    LIFECYCLE_ANCHOR_SIGNING_KEY (a secret), the public key to whoever verifies."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from domain.anchors import private_text, public_text

    key = Ed25519PrivateKey.generate()
    typer.echo(f"LIFECYCLE_ANCHOR_SIGNING_KEY={private_text(key)}")
    typer.echo(f"LIFECYCLE_ANCHOR_PUBLIC_KEY={public_text(key.public_key())}")


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
