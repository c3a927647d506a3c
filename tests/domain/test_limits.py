"""domain/limits.py with exact numbers from the default catalog (lifecycle.toml)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.config import EngineConfig
from domain.catalog import Catalog
from domain.limits import (
    GAUGE_PERIOD_START,
    CounterRecord,
    HeldAddon,
    Period,
    Subscriber,
    UsageState,
    allows,
    ceiling,
    consumption_blocked,
    counter_period_start,
    crossed_thresholds,
    degradation_state,
    effective_limits,
    features,
    forecast,
    known_features,
    percent_used,
    remaining,
    suggest_upgrade,
    usage_period,
)
from domain.policy import DunningAccess

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 31, tzinfo=UTC)  # 30 days
PERIOD = Period(START, END)
HALFWAY = START + timedelta(days=15)


def active(plan: str = "starter", interval: str = "month", **kw: object) -> Subscriber:
    return Subscriber(
        status=kw.pop("status", "active"),  # type: ignore[arg-type]
        plan=plan,
        interval=interval,
        trial_started_at=START - timedelta(days=14),
        trial_ends_at=START,
        current_period_start=START,
        current_period_end=END,
    )


@pytest.fixture
def catalog(engine_config: EngineConfig) -> Catalog:
    return engine_config.catalog


# -- limits -----------------------------------------------------------------------------


def test_plan_limits(catalog: Catalog) -> None:
    assert effective_limits(catalog, active(), [], {}, PERIOD) == {
        "chatbots": 3,
        "messages": 5000,
        "tokens": 2_000_000,
        "api_calls": 10_000,
    }
    assert effective_limits(catalog, active("pro"), [], {}, PERIOD) == {
        "chatbots": 15,
        "messages": 50_000,
        "tokens": 20_000_000,
        "api_calls": 100_000,
    }
    # Enterprise is per contract: unlimited until an admin sets the contract's limits.
    assert set(effective_limits(catalog, active("enterprise"), [], {}, PERIOD).values()) == {None}


def test_add_ons_raise_limits(catalog: Catalog) -> None:
    addons = [
        HeldAddon("extra_chatbot", "recurring", quantity=2),
        HeldAddon("extra_chatbot", "recurring", quantity=5, active=False),
        HeldAddon("message_pack", "one_off", quantity=1, period_start=START),
        HeldAddon("message_pack", "one_off", quantity=3, period_start=START),
        # Bought for the previous period: gone.
        HeldAddon("message_pack", "one_off", quantity=4, period_start=START - timedelta(days=30)),
        HeldAddon("api_rate_boost", "feature", quantity=1),
        HeldAddon("premium_support", "feature", quantity=1),
    ]
    assert effective_limits(catalog, active(), addons, {}, PERIOD) == {
        "chatbots": 3 + 2,
        "messages": 5000 + 4 * 10_000,
        "tokens": 2_000_000,
        "api_calls": 10_000 + 50_000,
    }


def test_overrides_replace_the_value_and_none_is_unlimited(catalog: Catalog) -> None:
    addons = [HeldAddon("message_pack", "one_off", quantity=1, period_start=START)]
    limits = effective_limits(
        catalog, active(), addons, {"messages": 1000, "tokens": None, "chatbots": 40}, PERIOD
    )
    assert limits == {"chatbots": 40, "messages": 1000, "tokens": None, "api_calls": 10_000}


def test_annual_periods_count_twelve_months_of_plan_and_recurring_limits(
    catalog: Catalog,
) -> None:
    year = Period(START, START.replace(year=2027))
    addons = [
        HeldAddon("extra_chatbot", "recurring", quantity=1),
        HeldAddon("api_rate_boost", "feature", quantity=1),
        HeldAddon("message_pack", "one_off", quantity=1, period_start=START),
    ]
    limits = effective_limits(catalog, active("pro", "year"), addons, {"tokens": 5}, year)
    assert limits == {
        "chatbots": 15 + 1,  # a gauge: not per month
        "messages": 12 * 50_000 + 10_000,  # the pack is for the period
        "tokens": 5,  # an override is the period's value as written
        "api_calls": 12 * (100_000 + 50_000),
    }


def test_features(catalog: Catalog) -> None:
    assert known_features(catalog) >= {
        "premium_support",
        "branding_removal",
        "advanced_analytics",
        "api_rate_boost",
    }
    held = [
        HeldAddon("premium_support", "feature", quantity=1),
        HeldAddon("branding_removal", "feature", quantity=1, active=False),
    ]
    assert features(catalog, active(), held) == {"premium_support"}
    assert features(catalog, active(), []) == frozenset()
    assert features(catalog, active(status="canceled"), held) == frozenset()
    assert features(catalog, active(status="past_due"), held) == {"premium_support"}


# -- periods ----------------------------------------------------------------------------


def test_usage_period_is_the_trial_window_then_the_billing_period() -> None:
    trial_start = datetime(2026, 2, 10, 9, 30, tzinfo=UTC)
    trialing = Subscriber(
        status="trialing",
        plan="starter",
        trial_started_at=trial_start,
        trial_ends_at=trial_start + timedelta(days=14),
    )
    assert usage_period(trialing, HALFWAY) == Period(trial_start, trial_start + timedelta(14))
    expired = Subscriber(**{**trialing.__dict__, "status": "trial_expired"})
    assert usage_period(expired, HALFWAY).start == trial_start
    assert usage_period(active(), HALFWAY) == PERIOD
    assert counter_period_start("messages", PERIOD) == START
    assert counter_period_start("chatbots", PERIOD) == GAUGE_PERIOD_START


# -- states -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("used", "state"),
    [
        (0, UsageState.OK),
        (3999, UsageState.OK),
        (4000, UsageState.WARNING),
        (4999, UsageState.WARNING),
        (5000, UsageState.GRACE),
        (5499, UsageState.GRACE),
        (5500, UsageState.BLOCKED),
        (9000, UsageState.BLOCKED),
    ],
)
def test_counter_states(used: int, state: UsageState) -> None:
    assert degradation_state("messages", used, 5000) is state


@pytest.mark.parametrize(
    ("used", "state"),
    [(1, UsageState.OK), (2, UsageState.OK), (3, UsageState.GRACE), (4, UsageState.BLOCKED)],
)
def test_gauge_states_block_any_excess(used: int, state: UsageState) -> None:
    assert degradation_state("chatbots", used, 3) is state
    assert degradation_state("chatbots", 12, 15) is UsageState.WARNING


def test_unlimited_is_always_ok() -> None:
    assert degradation_state("tokens", 10**12, None) is UsageState.OK
    assert allows("tokens", 10**12, 10**12, None)
    assert remaining(10**12, None) is None
    assert percent_used(5, None) is None


def test_ceiling_and_allows() -> None:
    assert ceiling("messages", 5000) == 5499
    assert ceiling("messages", 10) == 10
    assert ceiling("messages", 100) == 109
    assert ceiling("messages", 0) == -1
    assert ceiling("chatbots", 3) == 3
    assert allows("messages", 5498, 1, 5000)
    assert not allows("messages", 5499, 1, 5000)
    assert not allows("messages", 0, 5500, 5000)
    assert allows("messages", 0, 5499, 5000)
    assert allows("chatbots", 2, 1, 3)
    assert not allows("chatbots", 3, 1, 3)
    assert allows("chatbots", 5, -1, 3)  # deleting a chatbot is always fine
    assert not allows("messages", 0, 1, 0)
    assert remaining(4200, 5000) == 800
    assert remaining(5200, 5000) == 0
    assert percent_used(4321, 5000) == 86


@pytest.mark.parametrize(
    ("status", "access", "blocked"),
    [
        ("trialing", DunningAccess.FULL, False),
        ("active", DunningAccess.READ_ONLY, False),
        ("trial_expired", DunningAccess.FULL, True),
        ("paused", DunningAccess.FULL, True),
        ("canceled", DunningAccess.FULL, True),
        ("past_due", DunningAccess.FULL, False),
        ("past_due", DunningAccess.READ_ONLY, True),
    ],
)
def test_status_rules(status: str, access: DunningAccess, blocked: bool) -> None:
    assert consumption_blocked(status, access) is blocked


def test_threshold_crossings() -> None:
    assert crossed_thresholds(3999, 4000, 5000) == [80]
    assert crossed_thresholds(3999, 5000, 5000) == [80, 100]
    assert crossed_thresholds(4000, 4999, 5000) == []
    assert crossed_thresholds(4999, 5000, 5000) == [100]
    assert crossed_thresholds(0, 9000, 5000) == [80, 100]
    assert crossed_thresholds(2, 3, 3) == [80, 100]  # chatbots: 66 % -> 100 %
    assert crossed_thresholds(1, 2, 3) == []  # 66 %
    assert crossed_thresholds(5, 4, 5) == []  # going down crosses nothing
    assert crossed_thresholds(0, 10, None) == []


# -- forecast ---------------------------------------------------------------------------


def test_forecast_extrapolates_the_current_rate() -> None:
    assert forecast("messages", 1000, PERIOD, START + timedelta(days=10)) == 3000
    assert forecast("messages", 1001, PERIOD, START + timedelta(days=10)) == 3003
    # At least one day of history counts: 100 in the first hour is 100 a day, not 2,400.
    assert forecast("messages", 100, PERIOD, START + timedelta(hours=1)) == 3000
    # After the end (renewal not recorded yet): what was used.
    assert forecast("messages", 1000, PERIOD, END + timedelta(days=2)) == 1000
    assert forecast("chatbots", 2, PERIOD, START + timedelta(days=1)) == 2
    assert forecast("messages", 0, PERIOD, HALFWAY) == 0


# -- upgrade suggestions ----------------------------------------------------------------


def used(**values: int) -> dict[str, int]:
    return {"chatbots": 0, "messages": 0, "tokens": 0, "api_calls": 0, **values}


def test_no_suggestion_when_the_forecast_fits(catalog: Catalog) -> None:
    assert suggest_upgrade(catalog, active(), [], {}, PERIOD, used(messages=2500), HALFWAY) is None


def test_one_metric_over_suggests_the_cheaper_add_on(catalog: Catalog) -> None:
    # 4,000 messages halfway: 8,000 projected, 3,000 over: one $10 pack beats Pro (+$70).
    suggestion = suggest_upgrade(catalog, active(), [], {}, PERIOD, used(messages=4000), HALFWAY)
    assert suggestion is not None
    assert suggestion.reason == "forecast"
    assert suggestion.metrics == ("messages",)
    assert suggestion.projected["messages"] == 8000
    assert (suggestion.plan, suggestion.addon, suggestion.addon_quantity) == (
        None,
        "message_pack",
        1,
    )
    assert suggestion.price_difference_cents == 1000
    # 40,000 halfway: 80,000 projected; Pro (50,000) does not fit; 8 packs ($80) do.
    big = suggest_upgrade(catalog, active(), [], {}, PERIOD, used(messages=40_000), HALFWAY)
    assert big is not None
    assert (big.addon, big.addon_quantity, big.price_difference_cents) == (
        "message_pack",
        8,
        8000,
    )


def test_chatbots_over_suggest_extra_chatbots(catalog: Catalog) -> None:
    suggestion = suggest_upgrade(catalog, active(), [], {}, PERIOD, used(chatbots=5), HALFWAY)
    assert suggestion is not None
    assert (suggestion.addon, suggestion.addon_quantity, suggestion.price_difference_cents) == (
        "extra_chatbot",
        2,
        1000,
    )


def test_api_rate_boost_covers_up_to_its_amount_then_pro(catalog: Catalog) -> None:
    boost = suggest_upgrade(catalog, active(), [], {}, PERIOD, used(api_calls=20_000), HALFWAY)
    assert boost is not None
    assert (boost.addon, boost.addon_quantity, boost.price_difference_cents) == (
        "api_rate_boost",
        1,
        1500,
    )
    # 70,000 projected: the boost (+50,000, on/off) is not enough; Pro is, for +$70.
    pro = suggest_upgrade(catalog, active(), [], {}, PERIOD, used(api_calls=35_000), HALFWAY)
    assert pro is not None
    assert (pro.plan, pro.addon, pro.price_difference_cents) == ("pro", None, 7000)


def test_several_metrics_over_suggest_a_plan(catalog: Catalog) -> None:
    suggestion = suggest_upgrade(
        catalog, active(), [], {}, PERIOD, used(messages=4000, api_calls=8000), HALFWAY
    )
    assert suggestion is not None
    assert suggestion.metrics == ("messages", "api_calls")
    assert (suggestion.plan, suggestion.price_difference_cents) == ("pro", 9900 - 2900)


def test_annual_customers_compare_annual_prices_per_month(catalog: Catalog) -> None:
    year = Period(START, START.replace(year=2027))  # 365 days
    halfway = START + timedelta(days=73)  # a fifth of the year
    suggestion = suggest_upgrade(
        catalog,
        active("starter", "year"),
        [],
        {},
        year,
        used(messages=13_000, api_calls=25_000),  # 65,000 and 125,000 projected
        halfway,
    )
    assert suggestion is not None
    assert suggestion.projected["messages"] == 65_000
    # Pro annual: 12 x 99 less 15 % = $1,009.80 = $84.15 a month; Starter: $24.65.
    assert (suggestion.plan, suggestion.price_difference_cents) == ("pro", 8415 - 2465)


def test_trial_customers_compare_monthly_prices(catalog: Catalog) -> None:
    trial = Period(START, START + timedelta(days=14))
    trialing = Subscriber(
        status="trialing", plan="starter", trial_started_at=START, trial_ends_at=trial.end
    )
    suggestion = suggest_upgrade(
        catalog,
        trialing,
        [],
        {},
        trial,
        used(messages=3000, tokens=1_500_000),
        START + timedelta(days=7),
    )
    assert suggestion is not None
    assert (suggestion.plan, suggestion.price_difference_cents) == ("pro", 7000)


def test_nothing_self_serve_fits_suggests_the_sales_led_plan(catalog: Catalog) -> None:
    suggestion = suggest_upgrade(
        catalog, active("pro"), [], {}, PERIOD, used(tokens=15_000_000), HALFWAY
    )
    assert suggestion is not None
    assert (suggestion.plan, suggestion.addon, suggestion.price_difference_cents) == (
        "enterprise",
        None,
        None,
    )


def test_grace_in_two_of_the_last_three_periods_suggests_an_upgrade(catalog: Catalog) -> None:
    previous = START - timedelta(days=30)
    before = previous - timedelta(days=30)
    history = [
        CounterRecord("messages", START, 1000, grace_reached=False),
        CounterRecord("messages", previous, 5200, grace_reached=True),
        CounterRecord("messages", before, 5300, grace_reached=True),
    ]
    low = used(messages=1000)  # 2,000 projected: fits this period
    suggestion = suggest_upgrade(catalog, active(), [], {}, PERIOD, low, HALFWAY, history)
    assert suggestion is not None
    assert suggestion.reason == "grace_history"
    assert suggestion.projected["messages"] == 5300
    assert (suggestion.addon, suggestion.addon_quantity, suggestion.price_difference_cents) == (
        "message_pack",
        1,
        1000,
    )
    # Once in three periods is not a pattern; nor are graces longer ago than three periods.
    once = [history[0], history[1], CounterRecord("messages", before, 4000, False)]
    assert suggest_upgrade(catalog, active(), [], {}, PERIOD, low, HALFWAY, once) is None
    older = [
        history[0],
        CounterRecord("messages", previous, 100, False),
        CounterRecord("messages", before, 5300, True),
        CounterRecord("messages", before - timedelta(days=30), 5300, True),
    ]
    assert suggest_upgrade(catalog, active(), [], {}, PERIOD, low, HALFWAY, older) is None


def test_an_overridden_limit_is_raised_by_sales_not_by_add_ons(catalog: Catalog) -> None:
    suggestion = suggest_upgrade(
        catalog, active(), [], {"messages": 6000}, PERIOD, used(messages=4000), HALFWAY
    )
    assert suggestion is not None
    assert (suggestion.plan, suggestion.addon, suggestion.price_difference_cents) == (
        "enterprise",
        None,
        None,
    )
