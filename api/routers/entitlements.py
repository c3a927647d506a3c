"""Entitlement checks: may the customer consume this much of a metric, or use a feature?

With ``consume: true`` the check and the recording are one atomic step. The event insert
(unique per customer and key) makes a retried key consume once; the counter is raised by a
conditional write, ``used = used + q`` only ``WHERE used + q <= ceiling`` (PostgreSQL: the
``ON CONFLICT DO UPDATE ... WHERE`` of one statement with the event insert; SQLite: an
``UPDATE ... WHERE ... RETURNING`` after ensuring the row). The condition is evaluated on
the latest row version under its lock, so concurrent callers can never push usage past the
rule. A refused consume rolls its event back, so the key can be retried later.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, BackgroundTasks, Depends

from api.auth import Principal, require_app
from api.context import AppContext, get_context
from api.errors import not_found
from api.routers.usage import (
    MAX_QUANTITY,
    require_metric,
    schedule_signals,
    upgrade_for,
    upgrade_view,
    utcnow,
    validation_problem,
)
from api.usage_schemas import EntitlementCheck, EntitlementDecision, FeatureDecision
from db import usage as store
from db.usage import ConsumeSpec, EventRow, UsageContext
from domain.limits import (
    GAUGES,
    UsageState,
    allows,
    ceiling,
    consumption_blocked,
    counter_period_start,
    degradation_state,
    features,
    known_features,
    remaining,
)

router = APIRouter(prefix="/v1/customers/{customer_id}/entitlements", tags=["usage"])


def _validate(body: EntitlementCheck, context: AppContext) -> None:
    if body.feature is not None:
        if body.metric is not None:
            raise validation_problem("feature", "ask for a metric or a feature, not both")
        known = known_features(context.config.catalog)
        if body.feature not in known:
            raise validation_problem(
                "feature", f"unknown feature; known: {', '.join(sorted(known))}"
            )
        if body.consume:
            raise validation_problem("consume", "features are on or off; nothing to consume")
        return
    if body.metric is None:
        raise validation_problem("metric", "name a metric (or a feature)")
    require_metric(body.metric)
    if abs(body.quantity) > MAX_QUANTITY:
        raise validation_problem("quantity", f"must be at most {MAX_QUANTITY:,}")
    if body.metric in GAUGES:
        if body.quantity == 0:
            raise validation_problem("quantity", "must be a non-zero integer (+1 / -1)")
    elif body.quantity <= 0:
        raise validation_problem("quantity", "must be a positive integer")
    if body.consume and body.idempotency_key is None:
        raise validation_problem(
            "idempotency_key", "required with consume, so a retry does not consume twice"
        )


@router.post("/check", response_model=EntitlementDecision | FeatureDecision)
async def check_entitlement(
    customer_id: str,
    body: EntitlementCheck,
    background: BackgroundTasks,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> EntitlementDecision | FeatureDecision:
    """``{metric, quantity, consume?, idempotency_key?}``: whether ``quantity`` more is
    allowed (the result must not be ``blocked``), and the state with it applied; with
    ``consume`` it is recorded in the same atomic step. ``{feature}``: whether it is on."""
    _validate(body, context)
    catalog = context.config.catalog
    access = context.config.policy.dunning.access
    now = utcnow()

    if body.feature is not None or not body.consume:
        async with context.sessions() as session:
            contexts = await store.load_contexts(session, [customer_id], with_counters=True)
        usage = contexts.get(customer_id)
        if usage is None:
            raise not_found("customer", customer_id)
        if usage.pending_signals:
            schedule_signals(background, context, [customer_id])
        if body.feature is not None:
            held = features(catalog, usage.subscriber, usage.addons)
            return FeatureDecision(feature=body.feature, allowed=body.feature in held)
        assert body.metric is not None
        period = usage.period(now)
        limit = usage.limits(catalog, period)[body.metric]
        used_by_metric = usage.used_in(period)
        used = used_by_metric[body.metric]
        blocked = body.quantity > 0 and consumption_blocked(usage.subscriber.status, access)
        allowed = not blocked and allows(body.metric, used, body.quantity, limit)
        state = (
            UsageState.BLOCKED
            if blocked
            else degradation_state(body.metric, used + body.quantity, limit)
        )
        return _decision(
            context, usage, body, now, allowed=allowed, state=state, used=used, limit=limit
        )

    assert body.metric is not None and body.idempotency_key is not None
    metric, quantity, key = body.metric, body.quantity, body.idempotency_key

    def decide(usage: UsageContext) -> ConsumeSpec:
        period = usage.period(now)
        limit = usage.limits(catalog, period)[metric]
        start = counter_period_start(metric, period)
        return ConsumeSpec(
            event=EventRow(
                customer_id=customer_id,
                metric=metric,
                quantity=quantity,
                idempotency_key=key,
                occurred_at=now,
                period_start=start,
                period_end=None if metric in GAUGES else period.end,
            ),
            ceiling=None if limit is None or quantity <= 0 else ceiling(metric, limit),
            blocked=quantity > 0 and consumption_blocked(usage.subscriber.status, access),
            limit=limit,
            notice_period_start=period.start,
        )

    outcome = await store.check_and_consume(context.sessions, customer_id, decide, now)
    usage = outcome.context
    if usage is None:
        raise not_found("customer", customer_id)
    if outcome.crossings or usage.pending_signals:
        schedule_signals(background, context, [customer_id])
    spec = decide(usage)
    if outcome.result == "duplicate":
        # Recorded before (maybe just now by a concurrent retry): the same decision, once.
        state = degradation_state(metric, outcome.used, spec.limit)
    elif spec.blocked:
        state = UsageState.BLOCKED
    elif outcome.result == "consumed":
        state = degradation_state(metric, outcome.used, spec.limit)
    else:
        state = degradation_state(metric, outcome.used + quantity, spec.limit)
    return _decision(
        context,
        usage,
        body,
        now,
        allowed=outcome.result != "refused",
        state=state,
        used=outcome.used,
        limit=spec.limit,
        consumed=outcome.result == "consumed",
        duplicate=outcome.result == "duplicate",
    )


def _decision(
    context: AppContext,
    usage: UsageContext,
    body: EntitlementCheck,
    now: datetime,
    *,
    allowed: bool,
    state: UsageState,
    used: int,
    limit: int | None,
    consumed: bool = False,
    duplicate: bool = False,
) -> EntitlementDecision:
    assert body.metric is not None
    metric = body.metric
    period = usage.period(now)
    used_by_metric = usage.used_in(period)
    used_by_metric[metric] = used
    gauge = metric in GAUGES
    return EntitlementDecision(
        metric=metric,
        quantity=body.quantity,
        allowed=allowed,
        consumed=consumed,
        duplicate=duplicate,
        state=state.value,
        used=used,
        limit=limit,
        remaining=remaining(used, limit),
        period_start=None if gauge else period.start,
        period_end=None if gauge else period.end,
        upgrade=upgrade_view(upgrade_for(context, usage, now, used=used_by_metric)),
    )
