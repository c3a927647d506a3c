"""The usage views (usage, history, limits) and admin limit overrides; the helpers the
usage use cases share."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.context import AppContext
from api.errors import FieldError, Problem, not_found
from api.usage.schemas import (
    DailyUsage,
    LimitsView,
    MetricHistory,
    MetricUsage,
    PeriodUsage,
    UpgradeView,
    UsageHistoryView,
    UsageView,
)
from core.clock import utcnow
from db.engine import end_read_phase
from db.usage.context import UsageContext, load_contexts
from db.usage.history import daily_series, daily_totals, period_totals
from db.usage.overrides import delete_override, set_overrides
from domain.analytics.usage_forecast import UsageForecast, past_periods, usage_forecast
from domain.catalog import METRICS
from domain.limits import (
    GAUGES,
    UpgradeSuggestion,
    UsageState,
    consumption_blocked,
    counter_period_start,
    degradation_state,
    features,
    percent_used,
    remaining,
)
from services.usage_notices import upgrade_for as upgrade_suggestion

# Daily usage a forecast reads: three past periods and the four weeks before the first.
_FORECAST_HISTORY = timedelta(days=4 * 31 + 28)

logger = logging.getLogger("lifecycle.api.usage")

# Largest override an admin can set (None is unlimited).
MAX_LIMIT = 2**62
_METRICS = frozenset(METRICS)


def validation_problem(field: str, message: str) -> Problem:
    return Problem(
        422, f"{field}: {message}", type="validation-error", errors=[FieldError(field, message)]
    )


def require_metric(metric: str, *, field: str = "metric") -> str:
    if metric not in _METRICS:
        raise validation_problem(field, f"unknown metric; known: {', '.join(METRICS)}")
    return metric


def upgrade_for(
    context: AppContext,
    usage: UsageContext,
    now: datetime,
    *,
    used: dict[str, int] | None = None,
    forecasts: dict[str, int] | None = None,
) -> UpgradeSuggestion | None:
    return upgrade_suggestion(context.config.catalog, usage, now, used=used, forecasts=forecasts)


def upgrade_view(suggestion: UpgradeSuggestion | None) -> UpgradeView | None:
    if suggestion is None:
        return None
    return UpgradeView(
        reason=suggestion.reason,
        metrics=list(suggestion.metrics),
        plan=suggestion.plan,
        addon=suggestion.addon,
        addon_quantity=suggestion.addon_quantity or None,
        price_difference_cents=suggestion.price_difference_cents,
        projected=suggestion.projected,
    )


async def load_usage(customer_id: str, session: AsyncSession) -> UsageContext:
    contexts = await load_contexts(session, [customer_id], with_counters=True)
    usage = contexts.get(customer_id)
    if usage is None:
        raise not_found("customer", customer_id)
    return usage


async def usage_view(
    context: AppContext, customer_id: str, now: datetime
) -> tuple[UsageView, bool]:
    """Per metric: used, limit, remaining, state and the forecast for the period end; and
    whether the workflow has a crossing to hear of."""
    async with context.sessions() as session:
        usage = await load_usage(customer_id, session)
        daily = await daily_series(session, customer_id, since=now.date() - _FORECAST_HISTORY)
    catalog = context.config.catalog
    period = usage.period(now)
    limits = usage.limits(catalog, period)
    used = usage.used_in(period)
    blocked = consumption_blocked(usage.subscriber.status, context.config.policy.dunning.access)
    metrics = []
    forecasts: dict[str, int] = {}
    for metric in METRICS:
        gauge = metric in GAUGES
        limit = limits[metric]
        state = UsageState.BLOCKED if blocked else degradation_state(metric, used[metric], limit)
        if gauge:
            # A level, not a flow: it holds.
            ahead = UsageForecast(used[metric], used[metric], used[metric], "level", {}, 0)
        else:
            ahead = usage_forecast(
                metric,
                used[metric],
                daily.get(metric, {}),
                period,
                now,
                past_periods(usage.counters, metric, period),
            )
            forecasts[metric] = ahead.point
        metrics.append(
            MetricUsage(
                metric=metric,
                used=used[metric],
                limit=limit,
                remaining=remaining(used[metric], limit),
                percent=percent_used(used[metric], limit),
                state=state.value,
                period_start=None if gauge else period.start,
                period_end=None if gauge else period.end,
                forecast=ahead.point,
                forecast_low=ahead.low,
                forecast_high=ahead.high,
                forecast_method=ahead.method,
                forecast_backtest=ahead.backtest,
            )
        )
    view = UsageView(
        customer_id=customer_id,
        status=usage.subscriber.status,
        plan=usage.subscriber.plan,
        period_start=period.start,
        period_end=period.end,
        metrics=metrics,
        features=sorted(features(catalog, usage.subscriber, usage.addons)),
        upgrade=upgrade_view(upgrade_for(context, usage, now, used=used, forecasts=forecasts)),
    )
    return view, usage.pending_signals


async def usage_history(
    context: AppContext, customer_id: str, metric: str | None, periods: int, now: datetime
) -> UsageHistoryView:
    """Per-period totals (newest first) and the daily series since the oldest period
    listed, for charts. The chatbots gauge has one never-resetting period."""
    metrics = [require_metric(metric)] if metric is not None else list(METRICS)
    async with context.sessions() as session:
        usage = await load_usage(customer_id, session)
        period = usage.period(now)
        histories = []
        for name in metrics:
            totals = await period_totals(session, customer_id, name, periods)
            current_start = counter_period_start(name, period)
            rows = [
                PeriodUsage(
                    period_start=None if name in GAUGES else t.period_start,
                    period_end=None if name in GAUGES else t.period_end,
                    used=t.used,
                    current=t.period_start == current_start,
                    grace_reached_at=t.grace_reached_at,
                )
                for t in totals
            ]
            if not any(r.current for r in rows):
                rows.insert(
                    0,
                    PeriodUsage(
                        period_start=None if name in GAUGES else period.start,
                        period_end=None if name in GAUGES else period.end,
                        used=0,
                        current=True,
                        grace_reached_at=None,
                    ),
                )
                rows = rows[:periods]
            if name in GAUGES:
                since = period.start - (period.end - period.start) * (periods - 1)
            else:
                since = min(r.period_start for r in rows if r.period_start is not None)
            daily = await daily_totals(session, customer_id, name, since.date())
            histories.append(
                MetricHistory(
                    metric=name,
                    periods=rows,
                    daily=[DailyUsage(day=day, quantity=quantity) for day, quantity in daily],
                )
            )
    return UsageHistoryView(customer_id=customer_id, metrics=histories)


async def limits_view(context: AppContext, customer_id: str, session: AsyncSession) -> LimitsView:
    usage = await load_usage(customer_id, session)
    period = usage.period(utcnow())
    return LimitsView(
        customer_id=customer_id,
        overrides=dict(sorted(usage.overrides.items())),
        limits=usage.limits(context.config.catalog, period),
    )


def check_overrides(body: dict[str, int | None]) -> None:
    """422 naming each metric that is unknown or out of range (before anything is stored
    or asked of a second admin)."""
    if not body:
        raise validation_problem("body", "name at least one metric")
    errors = []
    for key, value in body.items():
        if key not in _METRICS:
            errors.append(FieldError(key, f"unknown metric; known: {', '.join(METRICS)}"))
        elif value is not None and not 0 <= value <= MAX_LIMIT:
            errors.append(
                FieldError(key, f"must be an integer from 0 to {MAX_LIMIT} or null (unlimited)")
            )
    if errors:
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise Problem(422, summary, type="validation-error", errors=errors)


async def override_limits(
    context: AppContext, customer_id: str, body: dict[str, int | None], actor: str
) -> LimitsView:
    """Override limits (Enterprise contracts): ``{metric: value}`` replaces the metric's
    limit for the period, ``null`` makes it unlimited. Metrics not named keep theirs;
    ``DELETE .../limits/{metric}`` goes back to plan + add-ons."""
    check_overrides(body)
    async with context.sessions() as session:
        await load_usage(customer_id, session)
        await end_read_phase(session)
        await set_overrides(session, customer_id, body, actor, utcnow())
        await session.commit()
        logger.info("limits of %s overridden by %s: %s", customer_id, actor, body)
        return await limits_view(context, customer_id, session)


async def remove_override(
    context: AppContext, customer_id: str, metric: str, actor: str
) -> LimitsView:
    """Remove a metric's override: its limit is the plan's plus add-ons again."""
    require_metric(metric)
    async with context.sessions() as session:
        await load_usage(customer_id, session)
        await end_read_phase(session)
        await delete_override(session, customer_id, metric)
        await session.commit()
        logger.info("limit override of %s on %s removed by %s", metric, customer_id, actor)
        return await limits_view(context, customer_id, session)


async def limits_of(context: AppContext, customer_id: str) -> LimitsView:
    async with context.sessions() as session:
        return await limits_view(context, customer_id, session)
