"""The trial funnel: what became of the trials started in the range.

* Trial funnel (a cohort view): the trials started in the range; of those, by ``end``:
  converted (first ``trial_converted`` row; split into via win-back = ``winbacks_sent`` > 0,
  else within the trial = converted from ``trialing``, else after expiry), expired (a
  ``trial_expired`` row), expired and not converted, still trialing. Conversion rate =
  converted / started. Days to convert = conversion time - trial start; median over the
  converted (mean of the two middle values for an even count). With a segment filter only
  conversions into the segment count as converted; trials started are all trials.
  Weekly cohorts group the same customers by the ISO week of ``trial_started``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from domain.reporting.ledger import Scope, Step
from domain.reporting.periods import iso_week
from domain.reporting.rates import DAYS_PLACES, ratio, to_decimal


@dataclass(frozen=True)
class FunnelCounts:
    started: int
    converted: int
    converted_within_trial: int
    converted_after_expiry: int
    converted_via_winback: int
    expired: int
    expired_unconverted: int
    in_trial: int
    conversion_rate: Decimal | None
    median_days_to_convert: Decimal | None


@dataclass(frozen=True)
class TrialCohort:
    week: str
    week_start: date
    counts: FunnelCounts


@dataclass(frozen=True)
class TrialFunnel:
    counts: FunnelCounts
    cohorts: tuple[TrialCohort, ...]


def _median(values: Sequence[Fraction]) -> Fraction | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


_DAY_US = 86_400 * 1_000_000


def _days(delta: timedelta) -> Fraction:
    return Fraction(delta // timedelta(microseconds=1), _DAY_US)


def trial_funnel(scope: Scope) -> TrialFunnel:
    started: dict[str, datetime] = {}
    for step in scope.range_steps:
        if step.row.kind == "trial_started":
            started.setdefault(step.customer_id, step.at)
    conversions: dict[str, Step] = {}
    expired: set[str] = set()
    for step in scope.range_steps:
        cid = step.customer_id
        if cid not in started or step.at < started[cid]:
            continue
        if step.row.kind == "trial_converted":
            conversions.setdefault(cid, step)
        elif step.row.kind == "trial_expired":
            expired.add(cid)
    counted = {cid: s for cid, s in conversions.items() if scope.step_in_segment(s)}
    trialing = {cid for cid in started if scope.history.state(cid, scope.end).status == "trialing"}

    def how(step: Step) -> str:
        if int(step.row.data.get("winbacks_sent") or 0) > 0:
            return "winback"
        if step.row.data.get("converted_from", "trialing") == "trialing":
            return "within"
        return "after_expiry"

    def counts(customers: Iterable[str]) -> FunnelCounts:
        members = list(customers)
        converted = [counted[c] for c in members if c in counted]
        ways = [how(s) for s in converted]
        median = _median([_days(s.at - started[s.customer_id]) for s in converted])
        return FunnelCounts(
            started=len(members),
            converted=len(converted),
            converted_within_trial=ways.count("within"),
            converted_after_expiry=ways.count("after_expiry"),
            converted_via_winback=ways.count("winback"),
            expired=sum(1 for c in members if c in expired),
            expired_unconverted=sum(1 for c in members if c in expired and c not in counted),
            in_trial=sum(1 for c in members if c in trialing),
            conversion_rate=ratio(len(converted), len(members)),
            median_days_to_convert=None if median is None else to_decimal(median, DAYS_PLACES),
        )

    by_week: dict[date, list[str]] = defaultdict(list)
    for cid, at in started.items():
        day = at.date()
        by_week[day - timedelta(days=day.weekday())].append(cid)
    cohorts = tuple(
        TrialCohort(week=iso_week(week), week_start=week, counts=counts(members))
        for week, members in sorted(by_week.items())
    )
    return TrialFunnel(counts=counts(started), cohorts=cohorts)
