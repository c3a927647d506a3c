"""What a campaign achieved, from its recipients and the ledger rows its customers' workflows
wrote: offers sent and not sent, opened (the in-app notice read; email opens are not
tracked), converted (the offer taken, or a trial converted to paid within the window after
the offer) and the MRR those converted customers gained in that window."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

# The offer id a campaign's offers carry, in every ledger row about them.
CAMPAIGN_OFFER_PREFIX = "campaign:"


def campaign_offer_id(campaign_id: str) -> str:
    return f"{CAMPAIGN_OFFER_PREFIX}{campaign_id}"


@dataclass(frozen=True)
class LedgerFact:
    """One ledger row of a recipient, as the results need it."""

    customer_id: str
    kind: str
    occurred_at: datetime
    offer_id: str | None
    mrr_delta_cents: int


@dataclass(frozen=True)
class CampaignOutcome:
    audience: int
    # Signalled but the workflow is closed (an erased or long-gone customer).
    unreachable: int
    sent: int
    # The workflow found the offer does not fit (canceled, in dunning, ...).
    not_sent: int
    opened: int
    accepted: int
    converted_to_paid: int
    # Accepted or converted to paid (each customer once).
    converted: int
    mrr_gained_cents: int
    conversion_rate: float | None


def campaign_outcome(
    offer_id: str,
    *,
    audience: int,
    unreachable: int,
    rows: Iterable[LedgerFact],
    read_notices: Iterable[str],
    conversion_days: int,
) -> CampaignOutcome:
    """``rows``: the recipients' ledger rows from the campaign's send on; ``read_notices``:
    recipients who read the campaign's in-app notice."""
    ordered = sorted(rows, key=lambda r: r.occurred_at)
    offered_at: dict[str, datetime] = {}
    not_sent: set[str] = set()
    accepted: set[str] = set()
    for row in ordered:
        if row.offer_id != offer_id:
            continue
        if row.kind == "offer_sent":
            offered_at.setdefault(row.customer_id, row.occurred_at)
        elif row.kind == "offer_not_sent":
            not_sent.add(row.customer_id)
        elif row.kind == "offer_accepted":
            accepted.add(row.customer_id)
    window = timedelta(days=conversion_days)
    paid: set[str] = set()
    for row in ordered:
        start = offered_at.get(row.customer_id)
        if row.kind == "trial_converted" and start and start <= row.occurred_at <= start + window:
            paid.add(row.customer_id)
    converted = (accepted & set(offered_at)) | paid
    gained = _mrr_gained(ordered, offered_at, converted, window)
    sent = len(offered_at)
    return CampaignOutcome(
        audience=audience,
        unreachable=unreachable,
        sent=sent,
        not_sent=len(not_sent - set(offered_at)),
        opened=len(set(read_notices) & set(offered_at)),
        accepted=len(accepted & set(offered_at)),
        converted_to_paid=len(paid),
        converted=len(converted),
        mrr_gained_cents=gained,
        conversion_rate=round(len(converted) / sent, 4) if sent else None,
    )


def _mrr_gained(
    rows: Iterable[LedgerFact],
    offered_at: Mapping[str, datetime],
    converted: set[str],
    window: timedelta,
) -> int:
    """The net MRR change of converted customers from their offer to the window's end (a
    discount taken counts against the conversion it bought)."""
    total = 0
    for row in rows:
        if row.customer_id not in converted:
            continue
        start = offered_at[row.customer_id]
        if start <= row.occurred_at <= start + window:
            total += row.mrr_delta_cents
    return total
