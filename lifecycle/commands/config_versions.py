"""`lifecycle config versions`: the catalog and policy configs the API and the workers
loaded (GET /v1/admin/config-versions), with who deployed each and its diff."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from lifecycle.options import ConfigOption, load_settings

if TYPE_CHECKING:
    from services.config_versions import ConfigVersion

config_app = typer.Typer(
    help="Change management: the config versions the engine loaded.", no_args_is_help=True
)


@config_app.command("versions")
def versions(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
    diff: Annotated[bool, typer.Option("--diff", help="Print each version's diff.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Every config version loaded (DATABASE_URL), newest first: its hash, when it was first
    and last loaded, who deployed it, how many customers a worker on it synced last."""
    from db.engine import create_engine, session_factory
    from services.config_versions import config_versions

    settings = load_settings(config)

    async def main() -> list[ConfigVersion]:
        engine = create_engine(settings.database_url)
        try:
            return await config_versions(session_factory(engine), limit=limit)
        finally:
            await engine.dispose()

    found = asyncio.run(main())
    if as_json:
        typer.echo(json.dumps([asdict(v) for v in found], indent=2, default=str))
        return
    if not found:
        typer.echo("no config version recorded yet (the API and the worker record theirs)")
        return
    typer.echo(f"{'version':<14}{'loaded':<22}{'last loaded':<22}{'customers':>10}  deployed by")
    for v in found:
        mark = "*" if v.current else " "
        typer.echo(
            f"{mark}{v.hash[:12]:<13}{v.loaded_at:%Y-%m-%d %H:%M:%S}   "
            f"{v.last_loaded_at:%Y-%m-%d %H:%M:%S}   {v.customers:>10}  {v.deployed_by or '-'}"
        )
        if diff and v.diff:
            typer.echo(v.diff)
