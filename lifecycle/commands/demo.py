"""`lifecycle demo seed`: demo data made by the real engine."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from lifecycle.options import ConfigOption, configure_logging, load_settings

if TYPE_CHECKING:
    pass


demo_app = typer.Typer(help="Demo data made by the real engine.", no_args_is_help=True)


DEMO_SEED_HELP = (
    "Seed a realistic history: customers sign up over the months and convert (within the "
    "trial, after expiry, after a win-back email) or let the trial expire; upgrade, "
    "downgrade, buy add-ons and message packs, pause, cancel, fail renewals and go through "
    "dunning (recovering or not), restart."
    "\n\n"
    "Everything goes through the real customer workflows, worker and activities and the "
    "embedded payment simulator (never Stripe; emails go to the outbox, never SendGrid), on a "
    "private Temporal time-skipping server started for the run: 1,000 customers over 12 "
    "months take minutes. The history ends about two hours before now (the range is "
    "printed: ask the metrics and the dashboard for it); with --ahead it starts now instead."
    "\n\n"
    "The time-skipping server, and the seeded workflows with it, end with the command. The "
    "database keeps the history (customers, ledger, invoices, emails, notifications, the "
    "simulator's state), but the seeded customers have no running workflow afterwards, so "
    "lifecycle commands on them are refused: seed a database of its own for demos."
)


@demo_app.command("seed", help=DEMO_SEED_HELP)
def demo_seed(
    customers: Annotated[int, typer.Option(min=1, help="How many customers sign up.")] = 100,
    months: Annotated[int, typer.Option(min=1, max=60, help="How many months of history.")] = 3,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed plays out the same history.")
    ] = 0,
    database_url: Annotated[
        str | None,
        typer.Option(help="App database (default: DATABASE_URL, else SQLite under .lifecycle/)."),
    ] = None,
    config: ConfigOption = None,
    ahead: Annotated[
        bool,
        typer.Option(
            "--ahead",
            help="Start the history now, so it lies ahead of the real time, instead of "
            "ending it now.",
        ),
    ] = False,
) -> None:
    """Seed a realistic history through the real engine (see DEMO_SEED_HELP)."""
    from devtools.demo import seed as seed_history
    from devtools.demo.server import ServerUnavailable

    configure_logging()
    settings = load_settings(config, database_url=database_url)
    try:
        asyncio.run(
            seed_history(
                settings,
                customers=customers,
                months=months,
                seed=seed,
                progress=typer.echo,
                ahead=ahead,
            )
        )
    except (ValueError, ServerUnavailable) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
