"""What the churn model sees of a customer at a moment: its features, computed only from
records dated before that moment (so a model trained on the past can score the present).

A customer's history is its ledger rows and its usage in weekly buckets (weeks start on
Monday, UTC). Usage trend and level are read on ``messages``, the product's core metric,
against the plan's limit at the time. Left out on purpose:

* a scheduled cancellation: it is the churn decision itself, not a sign of it (insights
  show it as a fact);
* the card's expiry: only the current card is known, not the one a customer had at a past
  moment, so a model could not learn it (insights flag an expiring card as a rule);
* email engagement: the engine does not track opens.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from domain.catalog import Catalog
from domain.reporting.ledger import LedgerRow

WEEK = timedelta(days=7)
PAYING = frozenset({"active", "past_due"})
USAGE_METRIC = "messages"


@dataclass(frozen=True)
class Feature:
    name: str
    # How a reason reads when this feature raises the risk.
    reason: str


FEATURES: tuple[Feature, ...] = (
    Feature("tenure_months", "a young customer (few months since sign-up)"),
    Feature("mrr", "monthly revenue"),
    Feature("annual", "pays yearly"),
    Feature("usage_trend", "usage fell over the last two weeks against the two before"),
    Feature("usage_level", "low usage of the plan's limit over the last four weeks"),
    Feature("weeks_idle", "weeks without any usage"),
    Feature("failed_payments_90d", "failed payments in the last 90 days"),
    Feature("in_dunning", "a payment is failing now"),
    Feature("downgrades_180d", "downgrades in the last 180 days"),
    Feature("addons", "add-ons held"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
REASONS: dict[str, str] = {f.name: f.reason for f in FEATURES}


def week_start(moment: datetime | date) -> date:
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class CustomerHistory:
    customer_id: str
    # Ordered by time (and ledger id).
    ledger: Sequence[LedgerRow]
    # (metric, week start) -> quantity used that week.
    weekly_usage: Mapping[tuple[str, date], int] = field(default_factory=dict)
    _times: list[datetime] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._times.extend(r.occurred_at for r in self.ledger)

    def rows_before(self, moment: datetime) -> Sequence[LedgerRow]:
        return self.ledger[: bisect_right(self._times, moment)]

    def usage(self, metric: str, weeks_before: int, moment: datetime) -> int:
        """Usage in the ``weeks_before``-th full week before the week of ``moment``
        (1 = the week just ended)."""
        return self.usage_before(metric, weeks_before, week_start(moment))

    def usage_before(self, metric: str, weeks_before: int, week: date) -> int:
        """The same, from the week's Monday (a snapshot works it out once, not per read)."""
        return self.weekly_usage.get((metric, week - weeks_before * WEEK), 0)


@dataclass(frozen=True)
class State:
    """Where the customer stood at a moment, from its ledger rows before it."""

    status: str | None
    plan: str | None
    interval: str | None
    mrr_cents: int
    started_at: datetime | None


def state_at(history: CustomerHistory, moment: datetime) -> State:
    return _state(history.rows_before(moment))


def _state(rows: Sequence[LedgerRow]) -> State:
    if not rows:
        return State(None, None, None, 0, None)
    status = plan = interval = None
    for row in rows:
        if row.to_status is not None:
            status, plan, interval = row.to_status, row.plan, row.interval
    return State(status, plan, interval, sum(r.mrr_delta_cents for r in rows), rows[0].occurred_at)


def features_at(history: CustomerHistory, moment: datetime, catalog: Catalog) -> dict[str, float]:
    """The customer's features at ``moment`` (only records dated before it)."""
    rows = history.rows_before(moment)
    state = _state(rows)
    started = state.started_at or moment
    week = week_start(moment)
    last2, prev2 = _two_fortnights(history, week)
    plan = catalog.plans.get(state.plan or "")
    limit = plan.limits.get(USAGE_METRIC) if plan is not None else None
    # Weekly limit share; a plan without a limit counts its usage against itself (level 1).
    level = (last2 + prev2) / (limit * 12 / 52) / 4 if limit else (1.0 if last2 + prev2 else 0.0)
    idle = 0
    while idle < 12 and not any(
        history.usage_before(metric, idle + 1, week)
        for metric in ("messages", "tokens", "api_calls")
    ):
        idle += 1
    return {
        "tenure_months": (moment - started).days / 30.44,
        "mrr": state.mrr_cents / 100,
        "annual": 1.0 if state.interval == "year" else 0.0,
        "usage_trend": math.log((last2 + 1) / (prev2 + 1)),
        "usage_level": min(level, 3.0),
        "weeks_idle": float(idle),
        "failed_payments_90d": float(
            _count(rows, moment, 90, lambda r: r.kind == "payment_failed")
        ),
        "in_dunning": 1.0 if state.status == "past_due" else 0.0,
        "downgrades_180d": float(
            _count(rows, moment, 180, lambda r: r.kind == "plan_changed" and r.mrr_delta_cents < 0)
        ),
        "addons": float(_count(rows, moment, 10**5, lambda r: r.kind == "addon_purchased")),
    }


def _count(
    rows: Sequence[LedgerRow], moment: datetime, days: int, match: Callable[[LedgerRow], bool]
) -> int:
    since = moment - timedelta(days=days)
    return sum(1 for r in rows if r.occurred_at >= since and match(r))


def _two_fortnights(history: CustomerHistory, week: date) -> tuple[int, int]:
    """Messages in the last two full weeks before ``week``, and in the two before."""
    used = [history.usage_before(USAGE_METRIC, w, week) for w in (1, 2, 3, 4)]
    return used[0] + used[1], used[2] + used[3]


def usage_fell_by_half(history: CustomerHistory, moment: datetime) -> bool:
    """The baseline a model must beat: the last two weeks' usage is under half the two
    weeks before."""
    last2, prev2 = _two_fortnights(history, week_start(moment))
    return prev2 > 0 and last2 < prev2 / 2
