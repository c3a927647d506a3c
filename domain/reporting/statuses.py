"""Customers per status, at the end of the range and at the end of each bucket of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.reporting.ledger import STATUSES, Scope
from domain.reporting.periods import windows


@dataclass(frozen=True)
class StatusPoint:
    period: str
    period_start: datetime
    at: datetime
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def status_counts(scope: Scope, at: datetime) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for state in scope.history.states(at).values():
        if scope.in_segment(state):
            assert state.status is not None
            counts[state.status] = counts.get(state.status, 0) + 1
    return counts


def lifecycle(scope: Scope) -> tuple[StatusPoint, ...]:
    return tuple(
        StatusPoint(
            period=w.label,
            period_start=w.bucket_start,
            at=w.end,
            counts=status_counts(scope, w.end),
        )
        for w in windows(scope.start, scope.end, scope.granularity)
    )
