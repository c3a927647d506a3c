"""`lifecycle stripe sync-catalog`: the catalog's products and prices in Stripe."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer

from lifecycle.options import ConfigOption, load_settings

if TYPE_CHECKING:
    pass


stripe_app = typer.Typer(help="Stripe operator helpers.", no_args_is_help=True)


@stripe_app.command("sync-catalog")
def stripe_sync_catalog(config: ConfigOption = None) -> None:
    """Create or update Stripe products, prices and the Customer Portal configuration from
    the catalog (safe to run twice).

    Needs STRIPE_API_KEY; STRIPE_API_BASE points it elsewhere (stripe-mock, a proxy).
    """
    from adapters.payments.base import PaymentError
    from adapters.payments.stripe_catalog import sync_catalog
    from adapters.payments.stripe_gateway import StripeGateway
    from domain.payments import CatalogSyncReport

    settings = load_settings(config)
    if not settings.stripe_api_key:
        typer.echo(
            "error: STRIPE_API_KEY is not set (a secret key, sk_test_... or sk_live_...)",
            err=True,
        )
        raise typer.Exit(2)
    api_key = settings.stripe_api_key

    async def main() -> CatalogSyncReport:
        gateway = StripeGateway(api_key, api_base=settings.stripe_api_base)
        try:
            return await sync_catalog(
                gateway.client, settings.engine_config.catalog, tax=settings.engine_config.tax
            )
        finally:
            await gateway.aclose()

    try:
        report = asyncio.run(main())
    except PaymentError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for title, names in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
    ):
        typer.echo(f"{title}: {len(names)}")
        for name in names:
            typer.echo(f"  {name}")
    for conflict in report.conflicts:
        typer.echo(f"warning: {conflict}", err=True)
