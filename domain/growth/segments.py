"""Segments of customers for targeted offers: rules over a customer's facts (plan, status,
usage group and trend, churn risk band, tenure, billing country), all of which must hold.

Declared segments come from the config file (``[segments.<id>]``); each usage group of the
latest analytics run is also a segment (``usage-group:<n>``). A rule over a fact the
engine does not know for a customer (no churn score yet, no usage trend, no billing
address) never matches: a segment selects on what is known, not on guesses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The per-customer trend of part 3's usage patterns (``domain.analytics.usage_patterns``).
USAGE_TRENDS = ("growing", "flat", "declining", "unknown")
RISK_BANDS = ("low", "medium", "high")
USAGE_GROUP_PREFIX = "usage-group:"


@dataclass(frozen=True)
class CustomerFacts:
    """What a segment can ask about one customer (``None``: not known)."""

    customer_id: str
    plan: str
    status: str
    signed_up_at: datetime
    mrr_cents: int = 0
    interval: str | None = None
    churn_risk: str | None = None
    usage_group: int | None = None
    usage_trend: str | None = None
    # ISO 3166-1 alpha-2, upper case, from the billing address the app stored.
    country: str | None = None

    def tenure_days(self, now: datetime) -> int:
        return max(0, (now - self.signed_up_at).days)


@dataclass(frozen=True)
class SegmentRules:
    """Each rule left ``None`` does not filter; a list means "one of these"."""

    plans: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    usage_groups: tuple[int, ...] | None = None
    usage_trends: tuple[str, ...] | None = None
    churn_risks: tuple[str, ...] | None = None
    min_tenure_days: int | None = None
    max_tenure_days: int | None = None
    countries: tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The rules set, for storage with a campaign and for display."""
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in self.__dict__.items()
            if value is not None
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentRules:
        def listed(name: str) -> tuple[Any, ...] | None:
            value = data.get(name)
            return None if value is None else tuple(value)

        return cls(
            plans=listed("plans"),
            statuses=listed("statuses"),
            usage_groups=listed("usage_groups"),
            usage_trends=listed("usage_trends"),
            churn_risks=listed("churn_risks"),
            min_tenure_days=data.get("min_tenure_days"),
            max_tenure_days=data.get("max_tenure_days"),
            countries=listed("countries"),
        )


@dataclass(frozen=True)
class Segment:
    id: str
    name: str
    description: str
    rules: SegmentRules
    # From the data (a usage group), not the config file.
    computed: bool = False


def _one_of(allowed: tuple[Any, ...] | None, value: Any) -> bool | None:
    """None when the rule is not set; False for an unknown value."""
    if allowed is None:
        return None
    return value is not None and value in allowed


def matched_facts(
    rules: SegmentRules, facts: CustomerFacts, now: datetime
) -> dict[str, Any] | None:
    """The facts each set rule matched on (for a preview), or None when one rule fails."""
    tenure = facts.tenure_days(now)
    checks: list[tuple[str, bool | None, Any]] = [
        ("plan", _one_of(rules.plans, facts.plan), facts.plan),
        ("status", _one_of(rules.statuses, facts.status), facts.status),
        ("usage_group", _one_of(rules.usage_groups, facts.usage_group), facts.usage_group),
        ("usage_trend", _one_of(rules.usage_trends, facts.usage_trend), facts.usage_trend),
        ("churn_risk", _one_of(rules.churn_risks, facts.churn_risk), facts.churn_risk),
        ("country", _one_of(rules.countries, facts.country), facts.country),
    ]
    if rules.min_tenure_days is not None or rules.max_tenure_days is not None:
        low = rules.min_tenure_days if rules.min_tenure_days is not None else 0
        high = rules.max_tenure_days
        checks.append(("tenure_days", low <= tenure and (high is None or tenure <= high), tenure))
    matched: dict[str, Any] = {}
    for name, ok, value in checks:
        if ok is False:
            return None
        if ok:
            matched[name] = value
    return matched


def matches(rules: SegmentRules, facts: CustomerFacts, now: datetime) -> bool:
    return matched_facts(rules, facts, now) is not None


@dataclass(frozen=True)
class Member:
    facts: CustomerFacts
    matched: dict[str, Any]


def members(rules: SegmentRules, everyone: Iterable[CustomerFacts], now: datetime) -> list[Member]:
    """The customers the rules select, in the order given."""
    found = []
    for facts in everyone:
        matched = matched_facts(rules, facts, now)
        if matched is not None:
            found.append(Member(facts, matched))
    return found


def usage_group_segment(group: int, description: str) -> Segment:
    return Segment(
        id=f"{USAGE_GROUP_PREFIX}{group}",
        name=f"Usage group {group}",
        description=description,
        rules=SegmentRules(usage_groups=(group,)),
        computed=True,
    )


def all_segments(
    declared: Sequence[Segment], usage_groups: Iterable[tuple[int, str]]
) -> list[Segment]:
    """The config's segments, then one per usage group of the latest analytics run."""
    return [*declared, *(usage_group_segment(g, d) for g, d in usage_groups)]


def find_segment(segments: Iterable[Segment], segment_id: str) -> Segment | None:
    return next((s for s in segments if s.id == segment_id), None)
