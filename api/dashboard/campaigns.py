"""HTML of the dashboard's segments and campaigns section: each segment's size now, and
the latest campaigns with their results."""

from __future__ import annotations

from datetime import datetime
from html import escape

from api.context import AppContext
from domain.emails import format_money
from domain.growth.segments import Segment
from services import campaigns

# Each campaign's results take a few queries: the dashboard shows the latest ones.
_SHOWN = 10


async def campaigns_section(context: AppContext, now: datetime) -> str:
    sizes = await campaigns.segment_sizes(context.sessions, context.config, now)
    latest = (await campaigns.list_all(context.sessions))[:_SHOWN]
    results = [await campaigns.results(context.sessions, c.id) for c in latest]
    return render(sizes, results, currency=context.config.catalog.currency)


def render(
    sizes: list[tuple[Segment, int]],
    results: list[campaigns.CampaignResults],
    *,
    currency: str,
) -> str:
    segment_rows = "".join(
        f'<tr data-segment="{escape(s.id)}"><td>{escape(s.name)}</td>'
        f'<td class="wrap">{escape(s.description)}</td><td>{n:,}</td></tr>'
        for s, n in sizes
    )
    segments_table = (
        '<table id="segments-table"><tr><th>Segment</th><th>Who</th><th>Customers</th></tr>'
        f"{segment_rows}</table>"
        if sizes
        else '<p class="empty">No segments: add [segments.&lt;id&gt;] to the config.</p>'
    )
    campaign_rows = "".join(_campaign_row(r, currency) for r in results)
    campaigns_table = (
        '<table id="campaigns-table"><tr><th>Campaign</th><th>Segment</th><th>Status</th>'
        "<th>Audience</th><th>Sent</th><th>Not sent</th><th>Opened</th><th>Converted</th>"
        f"<th>MRR gained</th></tr>{campaign_rows}</table>"
        if results
        else '<p class="empty">No campaigns yet: <code>POST /v1/admin/campaigns</code> or '
        "<code>lifecycle campaigns create</code>.</p>"
    )
    return (
        '<section id="campaigns"><h2>Segments and campaigns</h2>'
        '<p class="note">Opened: the in-app notice read (email opens are not tracked). '
        "Converted: the offer taken, or a trial converted to paid within the campaign's "
        "window; MRR gained: those customers' net MRR change in it.</p>"
        '<div class="grid even"><div><h3>Segments now</h3>'
        f'{segments_table}</div><div><h3>Campaigns</h3><div class="scroll">{campaigns_table}'
        "</div></div></div></section>"
    )


def _campaign_row(found: campaigns.CampaignResults, currency: str) -> str:
    c, o = found.campaign, found.outcome
    rate = "" if o.conversion_rate is None else f" ({o.conversion_rate:.0%})"
    not_sent = o.not_sent + o.unreachable
    return (
        f'<tr data-campaign="{escape(c.id)}"><td>{escape(c.headline)}</td>'
        f"<td>{escape(c.segment_name)}</td><td>{escape(c.status)}</td>"
        f"<td>{o.audience:,}</td><td>{o.sent:,}</td><td>{not_sent:,}</td>"
        f"<td>{o.opened:,}</td><td>{o.converted:,}{rate}</td>"
        f"<td>{escape(format_money(o.mrr_gained_cents, currency))}</td></tr>"
    )
