"""Entitlement checks: may the customer consume this much of a metric, or use a feature?

With ``consume: true`` the check and the recording are one atomic step. The event insert
(unique per customer and key) makes a retried key consume once; the counter is raised by a
conditional write, only while the total stays within the ceiling, evaluated on the latest
row version under its lock, so concurrent callers can never push usage past the rule. A
refused consume records nothing, so the key can be retried later (``db.usage.consume``).
"""

from __future__ import annotations

from datetime import datetime
from time import perf_counter

from api.context import AppContext
from api.errors import not_found
from api.usage.ingest import MAX_QUANTITY
from api.usage.schemas import EntitlementCheck, EntitlementDecision, FeatureDecision
from api.usage.service import require_metric, upgrade_for, upgrade_view, validation_problem
from core.metrics import ENTITLEMENT_CHECK_DURATION, ENTITLEMENT_CHECKS
from db.usage.consume import ConsumeSpec, check_and_consume
from db.usage.context import UsageContext, load_contexts
from db.usage.records import EventRow
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

# The labelled series, looked up once (``labels()`` takes a lock and builds a key per call:
# on the hot path, as ingestion's counters).
_KINDS = ("feature", "consume", "check")
_DURATIONS = {kind: ENTITLEMENT_CHECK_DURATION.labels(kind) for kind in _KINDS}
_CHECKS = {
    (kind, allowed): ENTITLEMENT_CHECKS.labels(kind, "allowed" if allowed else "denied")
    for kind in _KINDS
    for allowed in (True, False)
}


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


async def check(
    context: AppContext, customer_id: str, body: EntitlementCheck, now: datetime
) -> tuple[EntitlementDecision | FeatureDecision, bool]:
    """The decision, and whether the customer's workflow is to be told (after the
    response) of a crossing; counted and timed (``core.metrics``) when one is made."""
    started = perf_counter()
    decision, signal = await _decide(context, customer_id, body, now)
    kind = "feature" if body.feature is not None else "consume" if body.consume else "check"
    _DURATIONS[kind].observe(perf_counter() - started)
    _CHECKS[kind, decision.allowed].inc()
    return decision, signal


async def _decide(
    context: AppContext, customer_id: str, body: EntitlementCheck, now: datetime
) -> tuple[EntitlementDecision | FeatureDecision, bool]:
    _validate(body, context)
    catalog = context.config.catalog
    access = context.config.policy.dunning.access

    if body.feature is not None or not body.consume:
        async with context.sessions() as session:
            contexts = await load_contexts(session, [customer_id], with_counters=True)
        usage = contexts.get(customer_id)
        if usage is None:
            raise not_found("customer", customer_id)
        signal = usage.pending_signals
        if body.feature is not None:
            held = features(catalog, usage.subscriber, usage.addons)
            return FeatureDecision(feature=body.feature, allowed=body.feature in held), signal
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
        decision = _decision(
            context, usage, body, now, allowed=allowed, state=state, used=used, limit=limit
        )
        return decision, signal

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

    outcome = await check_and_consume(context.sessions, customer_id, decide, now)
    usage, spec = outcome.context, outcome.spec
    if usage is None or spec is None:
        raise not_found("customer", customer_id)
    signal = bool(outcome.crossings) or usage.pending_signals
    if outcome.result == "duplicate":
        # Recorded before (maybe just now by a concurrent retry): the same decision, once.
        state = degradation_state(metric, outcome.used, spec.limit)
    elif spec.blocked:
        state = UsageState.BLOCKED
    elif outcome.result == "consumed":
        state = degradation_state(metric, outcome.used, spec.limit)
    else:
        state = degradation_state(metric, outcome.used + quantity, spec.limit)
    decision = _decision(
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
    return decision, signal


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
