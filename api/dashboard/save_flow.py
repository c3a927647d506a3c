"""HTML of the dashboard's churn prevention section: the save flow by exit reason, each
offer's take-up and whether its takers stayed, and offers sent by campaigns and the churn
run (``GET /v1/admin/reports/save-flow`` over the dashboard's range)."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from api.reports.save_flow import SaveFlowView


def _rate(value: Decimal | None) -> str:
    return "-" if value is None else f"{float(value):.1%}"


def save_flow_section(view: SaveFlowView) -> str:
    head = '<section id="save-flow"><h2>Churn prevention</h2>'
    if view.requests == 0 and not any(s.sent or s.not_sent for s in view.sent):
        return (
            head + "<p>No customer asked to cancel and no offer was sent in this range. "
            "The save flow: <code>POST /v1/customers/{id}/cancellation-request</code>.</p>"
            "</section>"
        )
    reasons = "".join(
        f'<tr data-reason="{escape(r.reason)}"><td>{escape(r.reason.replace("_", " "))}</td>'
        f"<td>{r.requests:,}</td><td>{r.saved:,}</td><td>{r.canceled:,}</td>"
        f"<td>{r.undecided:,}</td><td>{_rate(r.save_rate)}</td></tr>"
        for r in view.reasons
    )
    offers = "".join(
        f'<tr data-offer="{escape(o.kind)}"><td>{escape(o.kind.replace("_", " "))}</td>'
        f"<td>{o.shown:,}</td><td>{o.accepted:,}</td><td>{_rate(o.acceptance_rate)}</td>"
        f"<td>{o.stayed:,}</td><td>{o.pending:,}</td><td>{_rate(o.stayed_rate)}</td></tr>"
        for o in view.offers
    )
    sent = "".join(
        f'<tr data-source="{escape(s.source)}"><td>{escape(s.source.replace("_", " "))}</td>'
        f"<td>{s.sent:,}</td><td>{s.not_sent:,}</td><td>{s.accepted:,}</td>"
        f"<td>{_rate(s.acceptance_rate)}</td></tr>"
        for s in view.sent
    )
    return (
        head + f"<p>{view.requests:,} cancellation request(s), {view.saved:,} saved by an "
        f"offer ({_rate(view.save_rate)}).</p>"
        '<table id="save-flow-reasons"><tr><th>Exit reason</th><th>Requests</th>'
        "<th>Saved</th><th>Canceled</th><th>Undecided</th><th>Save rate</th></tr>"
        f"{reasons}</table>"
        '<h3>Offers</h3><table id="save-flow-offers"><tr><th>Offer</th><th>Shown</th>'
        "<th>Taken</th><th>Take rate</th><th>Stayed 30 days</th><th>Pending</th>"
        f"<th>Stay rate</th></tr>{offers}</table>"
        '<h3>Offers sent</h3><table id="offers-sent"><tr><th>By</th><th>Sent</th>'
        f"<th>Not sent</th><th>Taken</th><th>Take rate</th></tr>{sent}</table></section>"
    )
