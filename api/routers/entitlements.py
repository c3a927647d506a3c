"""Entitlement checks: may the customer consume this much of a metric, or use a feature?

With ``consume: true`` the check and the recording are one atomic step: the event insert
(unique per customer and key) makes a retried key consume once, and a conditional
``UPDATE usage_counters SET used = used + q WHERE ... AND used + q <= ceiling`` decides
under the counter's row lock, so concurrent callers can never push usage past the rule.
A refused consume rolls the event back, so the key can be retried later.
"""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter, BackgroundTasks, Depends

from api.auth import Principal, require_app
from api.context import AppContext, get_context
from api.errors import not_found
from api.routers.usage import (
    end_read_phase,
    reached_grace,
    require_metric,
    schedule_signals,
    threshold_crossings,
    upgrade_for,
    upgrade_view,
    utcnow,
    validation_problem,
)
from api.usage_schemas import EntitlementCheck, EntitlementDecision, FeatureDecision
from db import usage as store
from db.usage import EventRow
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
    ``consume`` it is recorded in the same step. ``{feature}``: whether it is on."""
    _validate(body, context)
    catalog = context.config.catalog
    now = utcnow()
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
        metric, quantity = body.metric, body.quantity
        period = usage.period(now)
        limit = usage.limits(catalog, period)[metric]
        start = counter_period_start(metric, period)
        end = None if metric in GAUGES else period.end
        used_by_metric = usage.used_in(period)
        used = used_by_metric[metric]
        blocked = quantity > 0 and consumption_blocked(
            usage.subscriber.status, context.config.policy.dunning.access
        )
        consumed = duplicate = False

        if not body.consume:
            allowed = not blocked and allows(metric, used, quantity, limit)
            projected = used + quantity
        else:
            assert body.idempotency_key is not None
            await end_read_phase(session)
            if blocked:
                duplicate = await store.event_recorded(session, customer_id, body.idempotency_key)
                allowed, projected = duplicate, used
            elif not await store.insert_event(
                session,
                EventRow(
                    customer_id=customer_id,
                    metric=metric,
                    quantity=quantity,
                    idempotency_key=body.idempotency_key,
                    occurred_at=now,
                    period_start=start,
                    period_end=end,
                ),
                now,
            ):
                # Recorded before (or just now by a concurrent retry): same decision, once.
                used = await store.counter_used(session, customer_id, metric, start)
                allowed, duplicate, projected = True, True, used
            else:
                if not any(r.metric == metric and r.period_start == start for r in usage.counters):
                    await store.ensure_counter(session, customer_id, metric, start, end, now)
                outcome = await store.consume_counter(
                    session,
                    customer_id,
                    metric,
                    start,
                    quantity,
                    None if limit is None else ceiling(metric, limit),
                    now,
                )
                if outcome is None:
                    used = await store.counter_used(session, customer_id, metric, start)
                    await session.rollback()
                    allowed, projected = False, used + quantity
                else:
                    used, grace_recorded = outcome
                    await store.add_daily(
                        session, customer_id, metric, now.astimezone(UTC).date(), quantity
                    )
                    crossings = threshold_crossings(
                        usage, period, metric, used=used, delta=quantity, limit=limit
                    )
                    if await store.record_crossings(session, crossings, now):
                        schedule_signals(background, context, [customer_id])
                    if reached_grace(metric, used, limit, grace_recorded):
                        await store.mark_grace(session, [(customer_id, metric, start)], now)
                    await session.commit()
                    allowed, consumed, projected = True, True, used
        if blocked and not duplicate:
            state = UsageState.BLOCKED
        else:
            state = degradation_state(metric, projected, limit)
        used_by_metric[metric] = used
        return EntitlementDecision(
            metric=metric,
            quantity=quantity,
            allowed=allowed,
            consumed=consumed,
            duplicate=duplicate,
            state=state.value,
            used=used,
            limit=limit,
            remaining=remaining(used, limit),
            period_start=None if metric in GAUGES else period.start,
            period_end=end,
            upgrade=upgrade_view(upgrade_for(context, usage, now, used=used_by_metric)),
        )
