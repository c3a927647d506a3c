"""`lifecycle segments list|preview` and `lifecycle campaigns list|create|preview|send|show`:
the admin API's segments and campaigns (GET /v1/admin/segments, /v1/admin/campaigns) from
the command line, on DATABASE_URL (and Temporal for a send)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from lifecycle.exiting import ends_process
from lifecycle.options import ConfigOption, load_settings

if TYPE_CHECKING:
    from core.settings import Settings
    from db.engine import SessionFactory
    from db.models import Campaign
    from domain.growth.segments import Member

T = TypeVar("T")

segments_app = typer.Typer(help="Customer segments for targeted offers.", no_args_is_help=True)
campaigns_app = typer.Typer(
    help="Campaigns: an offer sent to a segment through each customer's workflow, once per "
    "customer.",
    no_args_is_help=True,
)

Sample = Annotated[int, typer.Option(help="How many members to show.", min=0, max=200)]


def _run(settings: Settings, use: Callable[[SessionFactory], Awaitable[T]]) -> T:
    from db.engine import create_engine, session_factory

    async def main() -> T:
        engine = create_engine(settings.database_url)
        try:
            return await use(session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=1)


def _members(members: list[Member], now: datetime) -> None:
    for m in members:
        facts = m.facts
        matched = ", ".join(f"{k}={v}" for k, v in m.matched.items()) or "(no rules)"
        typer.echo(
            f"  {facts.customer_id}  {facts.plan:<10} {facts.status:<13} "
            f"{facts.tenure_days(now):>5} days  {matched}"
        )


@segments_app.command("list")
def list_segments(config: ConfigOption = None) -> None:
    """Every segment (the config's, then one per usage group) with its size now."""
    from services.campaigns import segment_sizes

    settings = load_settings(config)
    now = datetime.now(UTC)
    sizes = _run(settings, lambda s: segment_sizes(s, settings.engine_config, now))
    for segment, size in sizes:
        kind = "computed" if segment.computed else "config"
        typer.echo(f"{segment.id:<28} {size:>7,}  {segment.name} ({kind})")
        if segment.description:
            typer.echo(f"{'':38}{segment.description}")


@segments_app.command("preview")
def preview_segment(segment_id: str, sample: Sample = 20, config: ConfigOption = None) -> None:
    """Who is in the segment now, with the facts that matched."""
    from services.campaigns import UnknownSegment, preview, segment

    settings = load_settings(config)
    now = datetime.now(UTC)

    async def use(sessions: SessionFactory) -> Any:
        chosen = await segment(sessions, settings.engine_config, segment_id)
        return await preview(sessions, chosen.rules, now, sample)

    try:
        found = _run(settings, use)
    except UnknownSegment as exc:
        raise _fail(exc) from None
    typer.echo(f"{segment_id}: {found.audience:,} customers")
    _members(found.sample, now)


def _campaign_line(c: Campaign) -> str:
    audience = "-" if c.audience is None else f"{c.audience:,}"
    return (
        f"{c.id}  {c.status:<8} {c.segment_id:<24} {c.coupon:<12} audience {audience:>7}  "
        f"{c.headline}"
    )


@campaigns_app.command("list")
def list_campaigns(config: ConfigOption = None) -> None:
    """The latest 100 campaigns, newest first."""
    from services.campaigns import list_all

    settings = load_settings(config)
    for campaign in _run(settings, list_all):
        typer.echo(_campaign_line(campaign))


@campaigns_app.command("create")
def create_campaign(
    segment: Annotated[str, typer.Option(help="A segment id (lifecycle segments list).")],
    coupon: Annotated[str, typer.Option(help="A [coupons] id of the config.")],
    headline: Annotated[str, typer.Option(help="The offer in a sentence.")],
    expires: Annotated[
        datetime | None, typer.Option(help="When the offer ends (UTC), e.g. 2026-06-30.")
    ] = None,
    conversion_days: Annotated[
        int, typer.Option(help="A conversion to paid this long after the offer counts.", min=1)
    ] = 30,
    config: ConfigOption = None,
) -> None:
    """A draft campaign (nothing is sent until `lifecycle campaigns send`)."""
    from services.campaigns import DEFAULT_CONVERSION_DAYS, InvalidCampaignField, create_campaign

    settings = load_settings(config)
    expires_at = expires.replace(tzinfo=UTC) if expires and expires.tzinfo is None else expires
    try:
        campaign, _ = _run(
            settings,
            lambda s: create_campaign(
                s,
                settings.engine_config,
                segment_id=segment,
                coupon=coupon,
                headline=headline,
                expires_at=expires_at,
                conversion_days=conversion_days or DEFAULT_CONVERSION_DAYS,
                actor="cli",
                now=datetime.now(UTC),
            ),
        )
    except InvalidCampaignField as exc:
        raise _fail(exc) from None
    typer.echo(_campaign_line(campaign))


@campaigns_app.command("preview")
def preview_campaign(campaign_id: str, sample: Sample = 20, config: ConfigOption = None) -> None:
    """The dry run: who the send would reach now. Sends nothing, writes no recipient."""
    from services.campaigns import ServiceError, dry_run

    settings = load_settings(config)
    now = datetime.now(UTC)
    try:
        _, found = _run(settings, lambda s: dry_run(s, campaign_id, now, sample))
    except ServiceError as exc:
        raise _fail(exc) from None
    typer.echo(f"would offer {found.audience:,} customers")
    _members(found.sample, now)


@campaigns_app.command("send")
@ends_process
def send_campaign(
    campaign_id: str,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Preview only.")] = False,
    config: ConfigOption = None,
) -> None:
    """Send the offer, batch by batch, through a Temporal workflow (safe to repeat)."""
    if dry_run:
        preview_campaign(campaign_id, config=config)
        return
    from core.temporal import connect_with
    from services.campaigns import ServiceError, send_campaign

    settings = load_settings(config)

    async def use(sessions: SessionFactory) -> Campaign:
        client = await connect_with(settings)
        return await send_campaign(
            sessions, client, settings.temporal_task_queue, campaign_id, datetime.now(UTC)
        )

    try:
        campaign = _run(settings, use)
    except (ServiceError, RuntimeError) as exc:
        raise _fail(exc) from None
    typer.echo(f"sending: {_campaign_line(campaign)}")
    typer.echo(f"follow it with: lifecycle campaigns show {campaign.id}")


@campaigns_app.command("show")
def show_campaign(
    campaign_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """The campaign's results: sent, not sent, opened, converted, MRR gained."""
    from dataclasses import asdict

    from services.campaigns import ServiceError, results

    settings = load_settings(config)
    try:
        found = _run(settings, lambda s: results(s, campaign_id))
    except ServiceError as exc:
        raise _fail(exc) from None
    o = found.outcome
    if as_json:
        typer.echo(json.dumps({"id": campaign_id, "pending": found.pending, **asdict(o)}))
        return
    typer.echo(_campaign_line(found.campaign))
    rate = "n/a" if o.conversion_rate is None else f"{o.conversion_rate:.1%}"
    currency = settings.engine_config.catalog.currency
    typer.echo(
        f"audience {o.audience:,}; pending {found.pending:,}; sent {o.sent:,}; not sent "
        f"{o.not_sent:,} (did not fit) + {o.unreachable:,} (workflow closed)\n"
        f"opened {o.opened:,} (in-app notice read; email opens are not tracked)\n"
        f"accepted {o.accepted:,}; converted to paid within {found.campaign.conversion_days} "
        f"days {o.converted_to_paid:,}; converted {o.converted:,} ({rate} of sent)\n"
        f"MRR gained by converted customers: {o.mrr_gained_cents / 100:,.2f} {currency.upper()}"
    )
