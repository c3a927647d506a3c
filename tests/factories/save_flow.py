"""A scripted churn-prevention ledger with known answers (worked out in
tests/domain/growth/test_save_flow_report.py), for the report's domain and CLI tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.growth.save_flow import RetentionEvent

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def _e(customer: str, row: str, day: float, **data: Any) -> RetentionEvent:
    return RetentionEvent(customer_id=customer, kind=row, at=at(day), data=data)


EVENTS = [
    # a: too expensive, takes the discount, stays past 30 days.
    _e("a", "cancellation_requested", 1, reason="too_expensive", offers=["downgrade", "coupon"]),
    _e("a", "offer_accepted", 1, source="save_flow", kind="coupon"),
    # b: too expensive, cancels; asks again later (not using) and takes the pause, then
    # leaves within 30 days of it.
    _e("b", "cancellation_requested", 2, reason="too_expensive", offers=["downgrade", "coupon"]),
    _e("b", "cancellation_scheduled", 2),
    _e("b", "cancellation_requested", 10, reason="not_using", offers=["pause"]),
    _e("b", "offer_accepted", 10, source="save_flow", kind="pause"),
    _e("b", "subscription_canceled", 20),
    # c: asks, nothing yet; took a downgrade 5 days before the report's now: pending.
    _e("c", "cancellation_requested", 55, reason="other", offers=["coupon", "downgrade"]),
    _e("c", "offer_accepted", 55, source="save_flow", kind="downgrade"),
    # d: asked before the range: not counted.
    _e("d", "cancellation_requested", -5, reason="too_expensive", offers=["coupon"]),
    # Sent offers: a campaign reaches e (taken) and f (not), misses g; the churn run one.
    _e("e", "offer_sent", 3, offer_id="campaign:1", source="campaign"),
    _e("e", "offer_accepted", 4, offer_id="campaign:1", source="campaign", kind="coupon"),
    _e("f", "offer_sent", 3, offer_id="campaign:1", source="campaign"),
    _e("g", "offer_not_sent", 3, offer_id="campaign:1", source="campaign"),
    _e("h", "offer_sent", 7, offer_id="churn:x", source="churn_prevention"),
]
