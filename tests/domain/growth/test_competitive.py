"""domain/growth/competitive.py on a small hand-made catalog, every figure worked out by hand.

Our plans (cents a month; annual discount 10 %):

    basic   1,000   chatbots 2, messages 1,000, tokens 100,000, api_calls 1,000
    plus    3,000   chatbots 10, messages 10,000, tokens unlimited, api_calls 20,000
    sales   sales-led (per contract)

Add-ons: seat (recurring, +1 chatbot, 300), pack (one-off, +1,000 messages, 200), big_pack
(one-off, +5,000 messages, 900), boost (feature, +5,000 api_calls a month, 400).

Competitors: rival (solo 1,500 a month: 1 chatbot, 2,000 messages, tokens unlimited,
api_calls unknown; team 4,000 a month: 5 chatbots, 3,000 messages, 100,000 tokens, 5,000
api_calls, overage 0.5 cent a message and 0.001 cent a token; team_yearly 36,000 a year,
team's limits, no overage) and payg (meter: free, nothing included, every unit at its rate).

The usage profile U = 4 chatbots, 3,500 messages, 50,000 tokens, 4,000 api_calls a month.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.catalog import Addon, Catalog, Plan
from domain.growth.competitive import (
    MAX_USAGE,
    CompetitiveReport,
    Competitor,
    CompetitorPlan,
    CompetitorPlanCost,
    LimitKind,
    competitive_report,
    competitor_plan_cost,
    default_profiles,
    difference,
    our_plan_cost,
    profile,
)
from domain.lifecycle import BillingInterval

MONTH, YEAR = BillingInterval.MONTH, BillingInterval.YEAR

CATALOG = Catalog(
    plans={
        "basic": Plan(
            "basic",
            "Basic",
            1000,
            True,
            {"chatbots": 2, "messages": 1000, "tokens": 100_000, "api_calls": 1000},
        ),
        "plus": Plan(
            "plus",
            "Plus",
            3000,
            True,
            {"chatbots": 10, "messages": 10_000, "tokens": None, "api_calls": 20_000},
        ),
        "sales": Plan("sales", "Sales", None, False),
    },
    addons={
        "seat": Addon("seat", "Seat", "recurring", 300, "chatbots", 1),
        "pack": Addon("pack", "Pack", "one_off", 200, "messages", 1000),
        "big_pack": Addon("big_pack", "Big pack", "one_off", 900, "messages", 5000),
        "boost": Addon("boost", "Boost", "feature", 400, "api_calls", 5000),
        "support": Addon("support", "Support", "feature", 2000),
    },
    annual_discount_percent=10,
)
TEAM_LIMITS = {"chatbots": 5, "messages": 3000, "tokens": 100_000, "api_calls": 5000}
RIVAL = Competitor(
    "rival",
    "Rival",
    "usd",
    (
        CompetitorPlan(
            "solo", "Solo", 1500, MONTH, {"chatbots": 1, "messages": 2000, "tokens": None}
        ),
        CompetitorPlan(
            "team",
            "Team",
            4000,
            MONTH,
            TEAM_LIMITS,
            {"messages": Decimal("0.5"), "tokens": Decimal("0.001")},
        ),
        CompetitorPlan("team_yearly", "Team yearly", 36_000, YEAR, TEAM_LIMITS),
    ),
)
PAYG = Competitor(
    "payg",
    "Pay as you go",
    "usd",
    (
        CompetitorPlan(
            "meter",
            "Meter",
            0,
            MONTH,
            {},
            {
                "chatbots": Decimal(100),
                "messages": Decimal("0.3"),
                "tokens": Decimal("0.002"),
                "api_calls": Decimal("0.25"),
            },
        ),
    ),
)
U = {"chatbots": 4, "messages": 3500, "tokens": 50_000, "api_calls": 4000}


def _report(usage: dict[str, int], interval: BillingInterval = MONTH) -> CompetitiveReport:
    return competitive_report(
        CATALOG, (RIVAL, PAYG), vendor="Us", interval=interval, profiles=(profile("u", usage),)
    )


def test_price_per_unit_monthly() -> None:
    rows = {(r.vendor, r.plan_id): r for r in _report(U).unit_prices}
    # Only plans billed monthly, ours first; the sales-led plan has no list price.
    assert list(rows) == [
        ("Us", "basic"),
        ("Us", "plus"),
        ("Rival", "solo"),
        ("Rival", "team"),
        ("Pay as you go", "meter"),
    ]
    basic = {u.metric: u for u in rows["Us", "basic"].units}
    # 1,000 / 2 per chatbot; 1,000 / 1,000 x 1,000 per 1,000 messages; 1,000 / 100,000 x 1M.
    assert [basic[m].cents_per_unit for m in ("chatbots", "messages", "tokens", "api_calls")] == [
        500,
        1000,
        10_000,
        1000,
    ]
    plus_tokens = next(u for u in rows["Us", "plus"].units if u.metric == "tokens")
    assert (plus_tokens.limit_kind, plus_tokens.cents_per_unit) == (LimitKind.UNLIMITED, None)
    solo = {u.metric: u for u in rows["Rival", "solo"].units}
    assert solo["chatbots"].cents_per_unit == 1500
    assert solo["messages"].cents_per_unit == 750  # 1,500 / 2,000 x 1,000
    assert solo["tokens"].limit_kind is LimitKind.UNLIMITED
    assert (solo["api_calls"].limit_kind, solo["api_calls"].cents_per_unit) == (
        LimitKind.UNKNOWN,
        None,
    )
    team = {u.metric: u for u in rows["Rival", "team"].units}
    # 4,000 / 3,000 x 1,000 = 1,333.33; overage 0.5 x 1,000 and 0.001 x 1M.
    assert team["messages"].cents_per_unit == 1333
    assert team["messages"].overage_cents_per_unit == 500
    assert team["tokens"].overage_cents_per_unit == 1000
    assert team["chatbots"].overage_cents_per_unit is None
    meter = {u.metric: u for u in rows["Pay as you go", "meter"].units}
    assert meter["messages"].limit_kind is LimitKind.UNKNOWN
    assert meter["messages"].overage_cents_per_unit == 300


def test_price_per_unit_rounds_half_up_and_leaves_zero_limits_unpriced() -> None:
    odd = Competitor(
        "odd",
        "Odd",
        "usd",
        (CompetitorPlan("p", "P", 1001, MONTH, {"chatbots": 2, "messages": 0}),),
    )
    report = competitive_report(CATALOG, (odd,), vendor="Us", interval=MONTH, profiles=())
    units = {u.metric: u for u in report.unit_prices[-1].units}
    assert units["chatbots"].cents_per_unit == 501  # 500.5
    assert (units["messages"].limit, units["messages"].cents_per_unit) == (0, None)


def test_price_per_unit_yearly_is_a_twelfth() -> None:
    rows = {r.plan_id: r for r in _report(U, YEAR).unit_prices}
    assert list(rows) == ["basic", "plus", "team_yearly"]
    # Basic yearly: 12 x 1,000 less 10 % = 10,800 a year, 900 a month, 450 per chatbot.
    assert (rows["basic"].price_cents, rows["basic"].monthly_cents) == (10_800, 900)
    assert rows["basic"].units[0].cents_per_unit == 450
    # 36,000 / 12 = 3,000 a month; / 3,000 messages x 1,000 = 1,000.
    assert rows["team_yearly"].monthly_cents == 3000
    assert rows["team_yearly"].units[1].cents_per_unit == 1000


def test_our_cost_adds_the_cheapest_addons() -> None:
    basic = our_plan_cost(CATALOG, CATALOG.plans["basic"], U, MONTH)
    # 2 seats (600); 2,500 messages short: 3 packs (600) beat 1 big pack (900); 3,000
    # api_calls short: boost once (400). 1,000 + 600 + 600 + 400.
    assert [(a.addon_id, a.quantity, a.monthly_cents) for a in basic.addons] == [
        ("seat", 2, 600),
        ("pack", 3, 600),
        ("boost", 1, 400),
    ]
    assert (basic.plan_cents, basic.uncovered, basic.monthly_cents) == (1000, (), 2600)
    plus = our_plan_cost(CATALOG, CATALOG.plans["plus"], U, MONTH)
    assert (plus.addons, plus.monthly_cents) == ((), 3000)
    sales = our_plan_cost(CATALOG, CATALOG.plans["sales"], U, MONTH)
    assert sales.per_contract and sales.monthly_cents is None
    # 4,500 messages short: 5 packs (1,000) lose to one big pack (900).
    more = our_plan_cost(CATALOG, CATALOG.plans["basic"], {**U, "messages": 5500}, MONTH)
    assert [(a.addon_id, a.quantity) for a in more.addons][1] == ("big_pack", 1)


def test_our_cost_yearly_follows_the_engine_scaling() -> None:
    basic = our_plan_cost(CATALOG, CATALOG.plans["basic"], U, YEAR)
    # Plan 900 a month. Seats: 12 x 300 less 10 % = 3,240 a year, 270 a month, x 2 = 540.
    # Messages: 42,000 a year needed, 12,000 included: 30,000 short; one-off packs add
    # their amount once a year: 30 packs x round(200 / 12) = 510 or 6 big packs x 75 = 450.
    # Api calls: 36,000 short; boost adds 12 x 5,000: once, 4,320 a year = 360 a month.
    assert [(a.addon_id, a.quantity, a.monthly_cents) for a in basic.addons] == [
        ("seat", 2, 540),
        ("big_pack", 6, 450),
        ("boost", 1, 360),
    ]
    assert basic.monthly_cents == 900 + 540 + 450 + 360


def test_a_plan_that_cannot_fit_is_not_priced() -> None:
    # Tokens have no add-on; the boost feature comes once (6,000 api_calls short).
    cost = our_plan_cost(
        CATALOG, CATALOG.plans["basic"], {**U, "tokens": 200_000, "api_calls": 7000}, MONTH
    )
    assert cost.uncovered == ("tokens", "api_calls")
    assert cost.monthly_cents is None
    assert cost.plan_cents == 1000
    # Exactly at the limits fits (no grace band needed, none counted).
    limits = {"chatbots": 2, "messages": 1000, "tokens": 100_000, "api_calls": 1000}
    at_limits = our_plan_cost(CATALOG, CATALOG.plans["basic"], limits, MONTH)
    assert (at_limits.addons, at_limits.monthly_cents) == ((), 1000)


def test_competitor_costs() -> None:
    solo, team, _ = RIVAL.plans
    refused = competitor_plan_cost(solo, U)
    assert refused.over_limit == ("chatbots", "messages")
    assert refused.unknown == ("api_calls",)
    assert refused.monthly_cents is None
    # 500 messages over at 0.5 cent.
    priced = competitor_plan_cost(team, U)
    assert (priced.plan_cents, priced.overage_cents, priced.monthly_cents) == (4000, 250, 4250)
    # 500 tokens over at 0.001 cent = 0.5 cent: rounds half up to 1.
    assert competitor_plan_cost(team, {"tokens": 100_500}).overage_cents == 1
    # Nothing included: 4 x 100 + 3,500 x 0.3 + 50,000 x 0.002 + 4,000 x 0.25.
    meter = competitor_plan_cost(PAYG.plans[0], U)
    assert (meter.overage_cents, meter.monthly_cents) == (2550, 2550)
    # A metric the plan does not state is fine while unused.
    assert competitor_plan_cost(solo, {"chatbots": 1}).monthly_cents == 1500


def test_comparison_against_each_competitors_cheapest_covering_plan() -> None:
    (comparison,) = _report(U).comparisons
    ours = {c.plan_id: c for c in comparison.ours}
    assert comparison.cheapest_ours is ours["basic"]
    rival, payg = comparison.competitors
    assert rival.cheapest is not None and rival.cheapest.plan_id == "team"
    # Only the monthly plans are compared on a monthly report.
    assert [p.plan_id for p in rival.plans] == ["solo", "team"]
    basic_rival = comparison.versus(ours["basic"], rival)
    assert basic_rival is not None
    # 2,600 - 4,250 = -1,650; / 4,250 = -0.38823...
    assert (basic_rival.competitor_plan_id, basic_rival.cents, basic_rival.rate) == (
        "team",
        -1650,
        Decimal("-0.3882"),
    )
    basic_payg = comparison.versus(ours["basic"], payg)
    assert basic_payg is not None and (basic_payg.cents, basic_payg.rate) == (50, Decimal("0.0196"))
    plus_payg = comparison.versus(ours["plus"], payg)
    assert plus_payg is not None and (plus_payg.cents, plus_payg.rate) == (450, Decimal("0.1765"))
    assert comparison.versus(ours["sales"], rival) is None


def test_yearly_comparison_has_no_plan_where_a_competitor_bills_monthly_only() -> None:
    (comparison,) = _report(U, YEAR).comparisons
    rival, payg = comparison.competitors
    assert payg.plans == () and payg.cheapest is None
    basic = next(c for c in comparison.ours if c.plan_id == "basic")
    assert comparison.versus(basic, payg) is None
    # team_yearly has no overage: 3,500 messages exceed its 3,000.
    assert rival.cheapest is None
    assert rival.plans[0].over_limit == ("messages",)
    fits = _report({"chatbots": 4, "messages": 3000}, YEAR).comparisons[0]
    versus = fits.versus(fits.ours[0], fits.competitors[0])
    # Basic yearly 900 + 2 seats 540 + 36,000 messages a year, 24,000 short of 12,000: 5 big
    # packs (5 x 75 = 375) beat 24 packs (24 x 17 = 408); against team_yearly's 3,000.
    assert versus is not None
    assert (versus.cents, versus.rate) == (900 + 540 + 375 - 3000, Decimal("-0.3950"))


def test_difference_rate_rounds_half_up_and_is_undefined_against_free() -> None:
    theirs = CompetitorPlanCost("p", "P", MONTH, plan_cents=20_000, overage_cents=0)
    # 1 / 20,000 = 0.00005: half up to 0.0001 (half-even would give 0.0000).
    up = difference("x", theirs, 20_001)
    down = difference("x", theirs, 19_999)
    assert up is not None and up.rate == Decimal("0.0001")
    assert down is not None and down.rate == Decimal("-0.0001")
    free = CompetitorPlanCost("f", "F", MONTH, plan_cents=0, overage_cents=0)
    zero = difference("x", free, 1000)
    assert zero is not None and (zero.cents, zero.rate) == (1000, None)
    refused = CompetitorPlanCost("r", "R", MONTH, 0, 0, over_limit=("messages",))
    assert difference("x", refused, 1000) is None
    assert difference("x", theirs, None) is None


def test_default_profiles_span_our_limits() -> None:
    small, medium, large = default_profiles(CATALOG)
    assert (small.label, medium.label, large.label) == ("small", "medium", "large")
    # Per metric: the lowest, midpoint and highest limit; only basic limits tokens.
    assert small.usage == {"chatbots": 2, "messages": 1000, "tokens": 100_000, "api_calls": 1000}
    assert medium.usage == {
        "chatbots": 6,
        "messages": 5500,
        "tokens": 100_000,
        "api_calls": 10_500,
    }
    assert large.usage == {
        "chatbots": 10,
        "messages": 10_000,
        "tokens": 100_000,
        "api_calls": 20_000,
    }
    one_plan = Catalog(
        plans={"basic": CATALOG.plans["basic"]}, addons={}, annual_discount_percent=0
    )
    assert [p.label for p in default_profiles(one_plan)] == ["small"]


def test_profiles_refuse_what_no_customer_uses() -> None:
    assert profile("x", {"messages": 5}).usage == {
        "chatbots": 0,
        "messages": 5,
        "tokens": 0,
        "api_calls": 0,
    }
    with pytest.raises(ValueError, match="messages"):
        profile("x", {"messages": -1})
    with pytest.raises(ValueError, match="tokens"):
        profile("x", {"tokens": MAX_USAGE + 1})
    with pytest.raises(ValueError, match="unknown metric"):
        profile("x", {"seats": 1})
