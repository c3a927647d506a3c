"""A campaign's results from a scripted ledger: sent, not sent, opened, accepted,
converted to paid within the window, and the MRR the converted customers gained."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.growth.campaigns import LedgerFact, campaign_offer_id, campaign_outcome

T0 = datetime(2026, 3, 1, tzinfo=UTC)
OFFER = campaign_offer_id("k1")


def row(cid: str, kind: str, days: float, *, offer: str | None = None, mrr: int = 0) -> LedgerFact:
    return LedgerFact(cid, kind, T0 + timedelta(days=days), offer, mrr)


def test_results_count_each_outcome_once() -> None:
    rows = [
        row("a", "offer_sent", 0, offer=OFFER),
        row("a", "offer_accepted", 1, offer=OFFER, mrr=-990),
        row("b", "offer_sent", 0, offer=OFFER),
        row("b", "trial_converted", 5, mrr=2900),
        row("c", "offer_sent", 0, offer=OFFER),
        row("c", "trial_converted", 45, mrr=2900),  # after the 30-day window
        row("d", "offer_not_sent", 0, offer=OFFER),
        row("e", "offer_sent", 0, offer=campaign_offer_id("other")),
        row("e", "trial_converted", 2, mrr=2900),  # another campaign's offer
        row("f", "offer_sent", 0, offer=OFFER),
        row("f", "offer_accepted", 2, offer=OFFER, mrr=-2000),
        row("f", "trial_converted", 3, mrr=9900),
        row("f", "plan_changed", 40, mrr=5000),  # after the window
    ]
    outcome = campaign_outcome(
        OFFER,
        audience=7,
        unreachable=1,
        rows=rows,
        read_notices=["a", "c", "d"],
        conversion_days=30,
    )
    assert outcome.sent == 4  # a, b, c, f
    assert outcome.not_sent == 1  # d
    assert outcome.unreachable == 1
    assert outcome.opened == 2  # a, c (d was not sent the offer)
    assert outcome.accepted == 2  # a, f
    assert outcome.converted_to_paid == 2  # b, f
    assert outcome.converted == 3  # a, b, f
    assert outcome.mrr_gained_cents == -990 + 2900 + (-2000 + 9900)
    assert outcome.conversion_rate == 0.75


def test_nothing_sent_yet() -> None:
    outcome = campaign_outcome(
        OFFER, audience=3, unreachable=0, rows=[], read_notices=[], conversion_days=30
    )
    assert (outcome.sent, outcome.converted, outcome.mrr_gained_cents) == (0, 0, 0)
    assert outcome.conversion_rate is None
