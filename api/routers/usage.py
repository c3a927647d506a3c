"""Usage metering: batch ingestion, the usage view, history, and admin limit overrides.

Events go straight to counters in the request's own transaction; the customer's workflow
hears about usage only when a counter crosses 80 % or 100 % of its limit (once per metric,
period and threshold: the crossing row's insert decides who signals). Signals go out after
the commit, in the background; a crossing whose signal failed (Temporal unavailable) stays
marked unsignalled and is retried on the customer's next usage request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Query, Request
from pydantic import StrictInt
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal, require_admin, require_app
from api.context import AppContext, get_context
from api.errors import FieldError, Problem, not_found
from api.usage_schemas import (
    DailyUsage,
    LimitsView,
    MetricHistory,
    MetricUsage,
    PeriodUsage,
    UpgradeView,
    UsageBatch,
    UsageHistoryView,
    UsageIngestResult,
    UsageRejection,
    UsageView,
)
from db import usage as store
from db.usage import EventBatch, IngestPlan, LimitRow, UsageContext
from domain.catalog import METRICS
from domain.limits import (
    GAUGE_PERIOD_START,
    GAUGES,
    Period,
    UpgradeSuggestion,
    UsageState,
    consumption_blocked,
    counter_period_start,
    degradation_state,
    features,
    forecast,
    percent_used,
    remaining,
)
from lifecycle.usage_notices import UsageNotices
from lifecycle.usage_notices import upgrade_for as upgrade_suggestion

logger = logging.getLogger("lifecycle.api.usage")

router = APIRouter(tags=["usage"])
admin_router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])

# Events may carry a clock slightly ahead of ours; further ahead is a client bug.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Per event or check (a counter is a BIGINT; this leaves room for millions of maxima).
MAX_QUANTITY = 10**12
# Largest override an admin can set (None is unlimited).
MAX_LIMIT = 2**62
_EVENT_FIELDS = frozenset({"customer_id", "metric", "quantity", "idempotency_key", "occurred_at"})
_METRICS = frozenset(METRICS)


def utcnow() -> datetime:
    return datetime.now(UTC)


async def hot_context(request: Request) -> AppContext:
    """``get_context`` for the hot paths: FastAPI runs a plain ``def`` dependency in its
    thread pool, a thread hand-off per request (the profile of 32 concurrent callers showed
    one per request); an ``async def`` runs on the event loop."""
    return get_context(request)


def is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


async def end_read_phase(session: AsyncSession) -> None:
    """SQLite: end the read transaction before the first write, so the write waits for the
    lock (busy timeout) instead of failing on a stale snapshot. PostgreSQL keeps going."""
    if is_sqlite(session):
        await session.commit()


def validation_problem(field: str, message: str) -> Problem:
    return Problem(
        422, f"{field}: {message}", type="validation-error", errors=[FieldError(field, message)]
    )


def require_metric(metric: str, *, field: str = "metric") -> str:
    if metric not in _METRICS:
        raise validation_problem(field, f"unknown metric; known: {', '.join(METRICS)}")
    return metric


# -- thresholds and workflow signals ----------------------------------------------------


# Customers whose pending signals are being delivered by this process; True asks the
# running delivery for one more pass (a crossing arrived meanwhile).
_delivering: dict[str, bool] = {}


def schedule_signals(
    background: BackgroundTasks, context: AppContext, customer_ids: Iterable[str]
) -> None:
    for customer_id in sorted(set(customer_ids)):
        background.add_task(deliver_signals, context, customer_id)


async def deliver_signals(context: AppContext, customer_id: str) -> None:
    """The fast path: tell the workflow right after the commit. What fails here (or dies
    with this process) the worker's relay delivers (``lifecycle.usage_notices``)."""
    if customer_id in _delivering:
        _delivering[customer_id] = True
        return
    _delivering[customer_id] = False
    notices = UsageNotices(context.sessions, context.config.catalog, context.temporal)
    try:
        while True:
            if not await notices.deliver(customer_id):
                break
            if not _delivering[customer_id]:
                break
            _delivering[customer_id] = False
    except Exception:
        logger.exception("delivering usage notices of customer %s failed", customer_id)
    finally:
        del _delivering[customer_id]


# -- upgrade suggestions ----------------------------------------------------------------


def upgrade_for(
    context: AppContext,
    usage: UsageContext,
    now: datetime,
    *,
    used: dict[str, int] | None = None,
) -> UpgradeSuggestion | None:
    return upgrade_suggestion(context.config.catalog, usage, now, used=used)


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


# -- ingestion --------------------------------------------------------------------------


def _reject(index: int, raw: Any, code: str, reason: str) -> UsageRejection:
    key = raw.get("idempotency_key") if isinstance(raw, dict) else None
    return UsageRejection(
        index=index,
        idempotency_key=key if isinstance(key, str) else None,
        code=code,
        reason=reason,
    )


def _parse_occurred_at(value: Any, now: datetime) -> datetime | str:
    """The timestamp, or why it is not one."""
    if not isinstance(value, str):
        return "occurred_at must be an ISO 8601 timestamp string"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return "occurred_at is not an ISO 8601 timestamp"
    if parsed.tzinfo is None:
        return "occurred_at needs a timezone, e.g. 2026-05-01T12:00:00Z"
    parsed = parsed.astimezone(UTC)
    if parsed > now + MAX_CLOCK_SKEW:
        return "occurred_at is in the future"
    return parsed


def _check_event(index: int, raw: Any, now: datetime) -> UsageRejection | None:
    """Shape checks that need no database; None when the event is well-formed."""
    if not isinstance(raw, dict):
        return _reject(index, raw, "invalid_event", "an event must be a JSON object")
    if not raw.keys() <= _EVENT_FIELDS:
        unknown = ", ".join(sorted(str(k) for k in raw.keys() - _EVENT_FIELDS))
        return _reject(index, raw, "invalid_event", f"unknown field(s): {unknown}")
    key = raw.get("idempotency_key")
    if not isinstance(key, str) or not key.strip():
        return _reject(index, raw, "invalid_idempotency_key", "idempotency_key is required")
    if len(key) > 255:
        return _reject(index, raw, "invalid_idempotency_key", "idempotency_key is longer than 255")
    customer_id = raw.get("customer_id")
    if not isinstance(customer_id, str) or not customer_id or len(customer_id) > 36:
        return _reject(index, raw, "invalid_customer_id", "customer_id must be a customer id")
    metric = raw.get("metric")
    if metric not in _METRICS:
        return _reject(
            index,
            raw,
            "unknown_metric",
            f"unknown metric {metric!r}; known: {', '.join(METRICS)}",
        )
    quantity = raw.get("quantity")
    if type(quantity) is not int or abs(quantity) > MAX_QUANTITY:
        return _reject(index, raw, "invalid_quantity", _quantity_rule(metric))
    if metric in GAUGES:
        if quantity == 0:
            return _reject(index, raw, "invalid_quantity", _quantity_rule(metric))
    elif quantity <= 0:
        return _reject(index, raw, "invalid_quantity", _quantity_rule(metric))
    return None


def _quantity_rule(metric: str) -> str:
    if metric in GAUGES:
        return f"quantity must be a non-zero integer for the {metric} gauge (+1 / -1)"
    return f"quantity must be a positive integer for {metric}"


@router.post("/v1/usage", response_model=UsageIngestResult)
async def ingest_usage(
    body: UsageBatch,
    background: BackgroundTasks,
    context: AppContext = Depends(hot_context),
    _: Principal = Depends(require_app),
) -> UsageIngestResult:
    """Record up to 1,000 usage events. Each event is validated on its own: bad ones are
    listed in ``rejected`` and the rest recorded. A key already recorded for the customer
    (in any request) counts once. Recording never fails because of a limit."""
    now = utcnow()
    rejected: list[UsageRejection] = []
    valid: list[tuple[int, dict[str, Any]]] = []
    for index, raw in enumerate(body.events):
        problem = _check_event(index, raw, now)
        if problem is None:
            valid.append((index, raw))
        else:
            rejected.append(problem)
    catalog = context.config.catalog

    def plan(contexts: dict[str, UsageContext]) -> IngestPlan:
        # Columns straight away: this loop runs for every event of the batch.
        events = EventBatch()
        customer_ids, metrics, quantities = events.customer_ids, events.metrics, events.quantities
        keys, occurred_at, period_starts = events.keys, events.occurred, events.period_starts
        periods: dict[str, Period] = {}
        for index, raw in valid:
            customer_id = raw["customer_id"]
            period = periods.get(customer_id)
            if period is None:
                usage = contexts.get(customer_id)
                if usage is None:
                    rejected.append(
                        _reject(index, raw, "unknown_customer", f"unknown customer {customer_id!r}")
                    )
                    continue
                period = periods[customer_id] = usage.period(now)
                events.period_ends[(customer_id, period.start)] = period.end
            occurred = None
            if raw.get("occurred_at") is not None:
                parsed = _parse_occurred_at(raw["occurred_at"], now)
                if isinstance(parsed, str):
                    rejected.append(_reject(index, raw, "invalid_occurred_at", parsed))
                    continue
                occurred = parsed
            metric = raw["metric"]
            customer_ids.append(customer_id)
            metrics.append(metric)
            quantities.append(raw["quantity"])
            keys.append(raw["idempotency_key"])
            occurred_at.append(occurred)
            period_starts.append(GAUGE_PERIOD_START if metric in GAUGES else period.start)
        limits = [
            LimitRow(customer_id, metric, limit, period.start)
            for customer_id, period in periods.items()
            for metric, limit in contexts[customer_id].limits(catalog, period).items()
            if limit is not None
        ]
        return IngestPlan(events=events, limits=limits)

    outcome = await store.ingest_batch(
        context.sessions, (raw["customer_id"] for _, raw in valid), plan, now
    )
    accepted = sum(change.events for change in outcome.changes)
    signal = {c.customer_id for c in outcome.crossings}
    signal.update(cid for cid, usage in outcome.contexts.items() if usage.pending_signals)
    schedule_signals(background, context, signal)
    rejected.sort(key=lambda r: r.index)
    return UsageIngestResult(
        accepted=accepted, duplicates=outcome.planned - accepted, rejected=rejected
    )


# -- reads ------------------------------------------------------------------------------


async def load_usage(context: AppContext, customer_id: str, session: AsyncSession) -> UsageContext:
    contexts = await store.load_contexts(session, [customer_id], with_counters=True)
    usage = contexts.get(customer_id)
    if usage is None:
        raise not_found("customer", customer_id)
    return usage


@router.get("/v1/customers/{customer_id}/usage", response_model=UsageView)
async def customer_usage(
    customer_id: str,
    background: BackgroundTasks,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> UsageView:
    """Per metric: used, limit, remaining, state and the forecast for the period end."""
    now = utcnow()
    async with context.sessions() as session:
        usage = await load_usage(context, customer_id, session)
    if usage.pending_signals:
        schedule_signals(background, context, [customer_id])
    catalog = context.config.catalog
    period = usage.period(now)
    limits = usage.limits(catalog, period)
    used = usage.used_in(period)
    blocked = consumption_blocked(usage.subscriber.status, context.config.policy.dunning.access)
    metrics = []
    for metric in METRICS:
        gauge = metric in GAUGES
        limit = limits[metric]
        state = UsageState.BLOCKED if blocked else degradation_state(metric, used[metric], limit)
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
                forecast=forecast(metric, used[metric], period, now),
            )
        )
    return UsageView(
        customer_id=customer_id,
        status=usage.subscriber.status,
        plan=usage.subscriber.plan,
        period_start=period.start,
        period_end=period.end,
        metrics=metrics,
        features=sorted(features(catalog, usage.subscriber, usage.addons)),
        upgrade=upgrade_view(upgrade_for(context, usage, now, used=used)),
    )


@router.get("/v1/customers/{customer_id}/usage/history", response_model=UsageHistoryView)
async def usage_history(
    customer_id: str,
    metric: str | None = Query(default=None, max_length=32, description="Default: all"),
    periods: int = Query(default=6, ge=1, le=36, description="How many periods back"),
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> UsageHistoryView:
    """Per-period totals (newest first) and the daily series since the oldest period
    listed, for charts. The chatbots gauge has one never-resetting period."""
    metrics = [require_metric(metric)] if metric is not None else list(METRICS)
    now = utcnow()
    async with context.sessions() as session:
        usage = await load_usage(context, customer_id, session)
        period = usage.period(now)
        histories = []
        for name in metrics:
            totals = await store.period_totals(session, customer_id, name, periods)
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
            daily = await store.daily_totals(session, customer_id, name, since.date())
            histories.append(
                MetricHistory(
                    metric=name,
                    periods=rows,
                    daily=[DailyUsage(day=day, quantity=quantity) for day, quantity in daily],
                )
            )
    return UsageHistoryView(customer_id=customer_id, metrics=histories)


# -- admin overrides --------------------------------------------------------------------


async def _limits_view(context: AppContext, customer_id: str, session: AsyncSession) -> LimitsView:
    usage = await load_usage(context, customer_id, session)
    period = usage.period(utcnow())
    return LimitsView(
        customer_id=customer_id,
        overrides=dict(sorted(usage.overrides.items())),
        limits=usage.limits(context.config.catalog, period),
    )


@admin_router.get("/customers/{customer_id}/limits", response_model=LimitsView)
async def get_limits(customer_id: str, context: AppContext = Depends(get_context)) -> LimitsView:
    async with context.sessions() as session:
        return await _limits_view(context, customer_id, session)


@admin_router.put("/customers/{customer_id}/limits", response_model=LimitsView)
async def put_limits(
    customer_id: str,
    body: dict[str, StrictInt | None] = Body(
        examples=[{"messages": 250000, "chatbots": 40, "api_calls": None}]
    ),
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> LimitsView:
    """Override limits (Enterprise contracts): ``{metric: value}`` replaces the metric's
    limit for the period, ``null`` makes it unlimited. Metrics not named keep theirs;
    ``DELETE .../limits/{metric}`` goes back to plan + add-ons."""
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
    async with context.sessions() as session:
        await load_usage(context, customer_id, session)
        await end_read_phase(session)
        await store.set_overrides(session, customer_id, body, principal.actor, utcnow())
        await session.commit()
        logger.info("limits of %s overridden by %s: %s", customer_id, principal.actor, body)
        return await _limits_view(context, customer_id, session)


@admin_router.delete("/customers/{customer_id}/limits/{metric}", response_model=LimitsView)
async def delete_limit(
    customer_id: str,
    metric: str,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> LimitsView:
    """Remove a metric's override: its limit is the plan's plus add-ons again."""
    require_metric(metric)
    async with context.sessions() as session:
        await load_usage(context, customer_id, session)
        await end_read_phase(session)
        await store.delete_override(session, customer_id, metric)
        await session.commit()
        logger.info(
            "limit override of %s on %s removed by %s", metric, customer_id, principal.actor
        )
        return await _limits_view(context, customer_id, session)
