"""Segment rules over a customer's facts: each rule kind, their AND, tenure bounds, and
facts the engine does not know (which never match)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.growth.segments import (
    CustomerFacts,
    SegmentRules,
    all_segments,
    find_segment,
    matched_facts,
    matches,
    members,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def facts(**overrides: object) -> CustomerFacts:
    values: dict[str, object] = {
        "customer_id": "c1",
        "plan": "pro",
        "status": "active",
        "signed_up_at": NOW - timedelta(days=100),
        "mrr_cents": 9900,
        "interval": "month",
        "churn_risk": "high",
        "usage_group": 2,
        "usage_trend": "declining",
        "country": "DE",
    }
    values.update(overrides)
    return CustomerFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rules", "hit", "miss"),
    [
        (SegmentRules(plans=("pro", "enterprise")), {"plan": "pro"}, {"plan": "starter"}),
        (SegmentRules(statuses=("active",)), {"status": "active"}, {"status": "past_due"}),
        (SegmentRules(usage_groups=(2,)), {"usage_group": 2}, {"usage_group": 0}),
        (
            SegmentRules(usage_trends=("declining",)),
            {"usage_trend": "declining"},
            {"usage_trend": "growing"},
        ),
        (SegmentRules(churn_risks=("high",)), {"churn_risk": "high"}, {"churn_risk": "low"}),
        (SegmentRules(countries=("DE", "FR")), {"country": "FR"}, {"country": "US"}),
    ],
)
def test_each_rule_kind_selects_on_its_fact(
    rules: SegmentRules, hit: dict[str, object], miss: dict[str, object]
) -> None:
    assert matches(rules, facts(**hit), NOW)
    assert not matches(rules, facts(**miss), NOW)


@pytest.mark.parametrize(
    "unknown",
    [{"churn_risk": None}, {"usage_group": None}, {"usage_trend": None}, {"country": None}],
)
def test_a_rule_over_an_unknown_fact_never_matches(unknown: dict[str, object]) -> None:
    rules = SegmentRules(
        churn_risks=("high", "medium", "low"),
        usage_groups=(0, 1, 2),
        usage_trends=("declining", "flat", "growing", "unknown"),
        countries=("DE",),
    )
    assert matches(rules, facts(), NOW)
    assert not matches(rules, facts(**unknown), NOW)
    # Without a rule over it, the unknown fact does not matter.
    assert matches(SegmentRules(plans=("pro",)), facts(**unknown), NOW)


def test_rules_combine_with_and() -> None:
    rules = SegmentRules(plans=("pro",), churn_risks=("high",), countries=("DE",))
    assert matched_facts(rules, facts(), NOW) == {
        "plan": "pro",
        "churn_risk": "high",
        "country": "DE",
    }
    for one_off in ({"plan": "starter"}, {"churn_risk": "medium"}, {"country": "AT"}):
        assert not matches(rules, facts(**one_off), NOW)


@pytest.mark.parametrize(
    ("days", "expected"),
    [(29, False), (30, True), (60, True), (90, True), (91, False)],
)
def test_tenure_bounds_are_inclusive(days: int, expected: bool) -> None:
    rules = SegmentRules(min_tenure_days=30, max_tenure_days=90)
    customer = facts(signed_up_at=NOW - timedelta(days=days, hours=1))
    assert matches(rules, customer, NOW) is expected
    if expected:
        assert matched_facts(rules, customer, NOW) == {"tenure_days": days}


def test_open_ended_tenure() -> None:
    assert matches(
        SegmentRules(min_tenure_days=365), facts(signed_up_at=NOW - timedelta(days=400)), NOW
    )
    assert not matches(SegmentRules(max_tenure_days=7), facts(), NOW)
    assert matches(SegmentRules(max_tenure_days=7), facts(signed_up_at=NOW), NOW)


def test_no_rules_select_everyone_and_members_keep_the_order() -> None:
    everyone = [facts(customer_id=f"c{n}", plan="pro" if n % 2 else "starter") for n in range(6)]
    assert len(members(SegmentRules(), everyone, NOW)) == 6
    found = members(SegmentRules(plans=("pro",)), everyone, NOW)
    assert [m.facts.customer_id for m in found] == ["c1", "c3", "c5"]
    assert all(m.matched == {"plan": "pro"} for m in found)


def test_usage_groups_are_computed_segments() -> None:
    segments = all_segments([], [(0, "growing usage"), (3, "flat usage")])
    assert [s.id for s in segments] == ["usage-group:0", "usage-group:3"]
    group = find_segment(segments, "usage-group:3")
    assert group is not None and group.computed and group.description == "flat usage"
    assert matches(group.rules, facts(usage_group=3), NOW)
    assert not matches(group.rules, facts(usage_group=0), NOW)
    assert find_segment(segments, "usage-group:9") is None


def test_rules_round_trip_through_storage() -> None:
    rules = SegmentRules(plans=("pro",), usage_groups=(1,), min_tenure_days=3)
    assert rules.as_dict() == {"plans": ["pro"], "usage_groups": [1], "min_tenure_days": 3}
    assert SegmentRules.from_dict(rules.as_dict()) == rules
