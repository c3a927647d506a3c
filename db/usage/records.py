"""Rows the usage flows share: an event, a limit to compare with, a threshold crossing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class EventRow:
    customer_id: str
    metric: str
    quantity: int
    idempotency_key: str
    occurred_at: datetime
    # The counter row the event counts in (gauges: the fixed gauge period).
    period_start: datetime
    period_end: datetime | None


@dataclass(frozen=True)
class LimitRow:
    """A limit a batch's counters are compared with for threshold notices."""

    customer_id: str
    metric: str
    limit: int
    # The billing period a notice is for (gauges included).
    notice_period_start: datetime


@dataclass(frozen=True)
class Crossing:
    customer_id: str
    metric: str
    # The billing period the notification is for (gauges too).
    period_start: datetime
    threshold: int
    used: int
    limit: int
