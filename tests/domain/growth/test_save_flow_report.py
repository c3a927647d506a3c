"""The churn prevention report on a scripted ledger with known answers: outcomes per exit
reason (before the customer asks again), take-up per offer kind, who stayed 30 days, and
offers sent by source with their acceptances."""

from __future__ import annotations

from decimal import Decimal

from domain.growth.save_flow import save_flow_report
from tests.factories.save_flow import EVENTS, at


def test_outcomes_take_up_and_sent_offers() -> None:
    report = save_flow_report(EVENTS, at(0), at(60), now=at(60))
    reasons = {r.reason: r for r in report.reasons}
    assert [r.reason for r in report.reasons] == ["too_expensive", "not_using", "other"]
    expensive = reasons["too_expensive"]
    assert (expensive.requests, expensive.saved, expensive.canceled) == (2, 1, 1)
    assert expensive.save_rate == Decimal("0.5")
    assert (reasons["not_using"].saved, reasons["other"].undecided) == (1, 0)
    assert reasons["other"].saved == 1
    assert (report.requests, report.saved, report.save_rate) == (4, 3, Decimal("0.75"))

    offers = {o.kind: o for o in report.offers}
    assert (offers["coupon"].shown, offers["coupon"].accepted, offers["coupon"].stayed) == (
        3,
        1,
        1,
    )
    assert offers["coupon"].acceptance_rate == Decimal("0.3333")
    assert (offers["pause"].accepted, offers["pause"].stayed, offers["pause"].stayed_rate) == (
        1,
        0,
        Decimal("0"),
    )
    assert (offers["downgrade"].pending, offers["downgrade"].stayed_rate) == (1, None)
    assert offers["extend_trial"].shown == 0

    sent = {s.source: s for s in report.sent}
    assert (sent["campaign"].sent, sent["campaign"].not_sent, sent["campaign"].accepted) == (
        2,
        1,
        1,
    )
    assert sent["campaign"].acceptance_rate == Decimal("0.5")
    assert (sent["churn_prevention"].sent, sent["churn_prevention"].accepted) == (1, 0)


def test_an_empty_range_has_no_rates() -> None:
    report = save_flow_report(EVENTS, at(100), at(110), now=at(110))
    assert (report.requests, report.save_rate, report.reasons) == (0, None, ())
    assert all(o.acceptance_rate is None for o in report.offers)
