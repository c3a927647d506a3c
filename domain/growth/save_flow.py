"""How well churn prevention works, from the ledger: the save flow's requests by exit reason
and what followed each, every offer kind's take-up and whether those customers stayed, and
offers sent by campaigns and the churn run.

Definitions (the report's documentation too):

- A **request** is a ``cancellation_requested`` row in the range. Its **outcome** is what the
  same customer did next, before asking again: ``saved`` (took a save-flow offer),
  ``canceled`` (scheduled a cancellation or was canceled) or ``undecided`` (neither yet).
- An offer kind is **shown** once per request that listed it; **accepted** counts the
  save-flow acceptances in the range. A taker **stayed** when no cancellation followed within
  ``STAYED_FOR`` of taking it; takers with less than that behind them are ``pending`` and
  left out of ``stayed_rate``.
- Offers **sent** (by source) count ``offer_sent`` rows in the range, ``not_sent`` the
  ``offer_not_sent`` ones (the customer no longer fitted); ``accepted`` the acceptances of
  those offers, whenever they came.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.reporting.rates import ratio
from domain.retention import ExitReason, OfferKind, OfferSource

STAYED_FOR = timedelta(days=30)
_CANCELING = ("cancellation_scheduled", "subscription_canceled")


@dataclass(frozen=True)
class RetentionEvent:
    customer_id: str
    kind: str
    at: datetime
    data: Mapping[str, Any]


@dataclass(frozen=True)
class ReasonOutcomes:
    reason: str
    requests: int
    saved: int
    canceled: int
    undecided: int
    save_rate: Decimal | None


@dataclass(frozen=True)
class OfferTakeUp:
    kind: str
    shown: int
    accepted: int
    acceptance_rate: Decimal | None
    stayed: int
    pending: int
    stayed_rate: Decimal | None


@dataclass(frozen=True)
class SentOffers:
    source: str
    sent: int
    not_sent: int
    accepted: int
    acceptance_rate: Decimal | None


@dataclass(frozen=True)
class SaveFlowReport:
    start: datetime
    end: datetime
    requests: int
    saved: int
    save_rate: Decimal | None
    reasons: tuple[ReasonOutcomes, ...]
    offers: tuple[OfferTakeUp, ...]
    sent: tuple[SentOffers, ...]


def _outcome(after: Sequence[RetentionEvent]) -> str:
    for event in after:
        if event.kind == "cancellation_requested":
            break
        if event.kind == "offer_accepted" and event.data.get("source") == "save_flow":
            return "saved"
        if event.kind in _CANCELING:
            return "canceled"
    return "undecided"


def _stayed(taken: RetentionEvent, after: Sequence[RetentionEvent], now: datetime) -> str:
    until = taken.at + STAYED_FOR
    if any(e.kind in _CANCELING and taken.at < e.at <= until for e in after):
        return "left"
    return "stayed" if now >= until else "pending"


def save_flow_report(
    events: Iterable[RetentionEvent], start: datetime, end: datetime, now: datetime
) -> SaveFlowReport:
    """``events``: every churn-prevention and cancellation row from ``start`` on (outcomes
    may come after ``end``)."""
    by_customer: dict[str, list[RetentionEvent]] = defaultdict(list)
    for event in sorted(events, key=lambda e: e.at):
        by_customer[event.customer_id].append(event)
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    shown: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    stayed: dict[str, Counter[str]] = defaultdict(Counter)
    sent: dict[str, Counter[str]] = defaultdict(Counter)
    for rows in by_customer.values():
        # Offers sent to this customer: source and time, by offer id.
        made = {
            str(e.data.get("offer_id")): (str(e.data.get("source")), e.at)
            for e in rows
            if e.kind == "offer_sent"
        }
        for i, event in enumerate(rows):
            data = event.data
            if event.kind == "offer_accepted" and str(data.get("offer_id")) in made:
                source, sent_at = made[str(data.get("offer_id"))]
                if start <= sent_at < end:
                    sent[source]["accepted"] += 1
            if not start <= event.at < end:
                continue
            if event.kind == "cancellation_requested":
                outcomes[str(data.get("reason"))][_outcome(rows[i + 1 :])] += 1
                shown.update(str(kind) for kind in data.get("offers", ()))
            elif event.kind in ("offer_sent", "offer_not_sent"):
                column = "sent" if event.kind == "offer_sent" else "not_sent"
                sent[str(data.get("source"))][column] += 1
            elif event.kind == "offer_accepted" and data.get("source") == "save_flow":
                kind = str(data.get("kind"))
                accepted[kind] += 1
                stayed[kind][_stayed(event, rows[i + 1 :], now)] += 1
    reasons = tuple(
        ReasonOutcomes(
            reason=reason,
            requests=sum(outcomes[reason].values()),
            saved=outcomes[reason]["saved"],
            canceled=outcomes[reason]["canceled"],
            undecided=outcomes[reason]["undecided"],
            save_rate=ratio(outcomes[reason]["saved"], sum(outcomes[reason].values())),
        )
        for reason in [r.value for r in ExitReason] + sorted(set(outcomes) - set(ExitReason))
        if reason in outcomes
    )
    offers = tuple(
        OfferTakeUp(
            kind=kind.value,
            shown=shown[kind.value],
            accepted=accepted[kind.value],
            acceptance_rate=ratio(accepted[kind.value], shown[kind.value]),
            stayed=stayed[kind.value]["stayed"],
            pending=stayed[kind.value]["pending"],
            stayed_rate=ratio(
                stayed[kind.value]["stayed"],
                stayed[kind.value]["stayed"] + stayed[kind.value]["left"],
            ),
        )
        for kind in OfferKind
    )
    sources = tuple(
        SentOffers(
            source=source.value,
            sent=sent[source.value]["sent"],
            not_sent=sent[source.value]["not_sent"],
            accepted=sent[source.value]["accepted"],
            acceptance_rate=ratio(sent[source.value]["accepted"], sent[source.value]["sent"]),
        )
        for source in (OfferSource.CAMPAIGN, OfferSource.CHURN_PREVENTION)
    )
    requests = sum(r.requests for r in reasons)
    saved = sum(r.saved for r in reasons)
    return SaveFlowReport(
        start=start,
        end=end,
        requests=requests,
        saved=saved,
        save_rate=ratio(saved, requests),
        reasons=reasons,
        offers=offers,
        sent=sources,
    )
