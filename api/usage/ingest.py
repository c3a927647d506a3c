"""Usage ingestion (``POST /v1/usage``): each event validated on its own (bad ones listed,
the rest recorded); a key already recorded for the customer counts once; recording never
fails because of a limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.context import AppContext
from api.usage.schemas import UsageBatch, UsageIngestResult, UsageRejection
from core.metrics import USAGE_EVENTS
from db.usage.context import UsageContext
from db.usage.ingest import EventBatch, IngestPlan, ingest_batch
from db.usage.records import LimitRow
from domain.catalog import METRICS
from domain.limits import GAUGES

# Events may carry a clock slightly ahead of ours; further ahead is a client bug.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Per event or check (a counter is a BIGINT; this leaves room for millions of maxima).
MAX_QUANTITY = 10**12
_EVENT_FIELDS = frozenset({"customer_id", "metric", "quantity", "idempotency_key", "occurred_at"})
_METRICS = frozenset(METRICS)
_COUNTERS = _METRICS - GAUGES
_ACCEPTED, _DUPLICATE, _REJECTED = (
    USAGE_EVENTS.labels(o) for o in ("accepted", "duplicate", "rejected")
)


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


# A well-formed event, as the plan takes it: index, customer, metric, quantity, key and
# the occurrence time as sent (None: when recorded).
_Event = tuple[int, str, str, int, str, Any]


def _check_event(index: int, raw: Any, now: datetime) -> _Event | UsageRejection:
    """Shape checks that need no database: the event, or why it is rejected."""
    if type(raw) is dict:
        # The common case first, in one test: a counter event, well-formed.
        key = raw.get("idempotency_key")
        customer_id = raw.get("customer_id")
        metric = raw.get("metric")
        quantity = raw.get("quantity")
        if (
            type(key) is str
            and 0 < len(key) <= 255
            and type(customer_id) is str
            and 0 < len(customer_id) <= 36
            and type(metric) is str
            and metric in _COUNTERS
            and type(quantity) is int
            and 0 < quantity <= MAX_QUANTITY
            and raw.keys() <= _EVENT_FIELDS
            and key.strip()
        ):
            return (index, customer_id, metric, quantity, key, raw.get("occurred_at"))
    return _rejection(index, raw)


def _rejection(index: int, raw: Any) -> _Event | UsageRejection:
    """The first rule the event breaks (or the event: a well-formed gauge change)."""
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
    if not isinstance(metric, str) or metric not in _METRICS:
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
    return (index, customer_id, metric, quantity, key, raw.get("occurred_at"))


def _quantity_rule(metric: str) -> str:
    if metric in GAUGES:
        return f"quantity must be a non-zero integer for the {metric} gauge (+1 / -1)"
    return f"quantity must be a positive integer for {metric}"


async def ingest(
    context: AppContext, body: UsageBatch, now: datetime
) -> tuple[UsageIngestResult, set[str]]:
    """Record a batch; answers the result and the customers whose workflow is to be told
    (after the commit) of a crossing."""
    rejected: list[UsageRejection] = []
    valid: list[_Event] = []
    for index, raw in enumerate(body.events):
        checked = _check_event(index, raw, now)
        if isinstance(checked, tuple):
            valid.append(checked)
        else:
            rejected.append(checked)
    catalog = context.config.catalog
    # Rejections of the plan: it may run again (on contexts read afresh), so each run
    # starts them over.
    late: list[UsageRejection] = []

    def plan(contexts: dict[str, UsageContext]) -> IngestPlan:
        late.clear()
        events = EventBatch()
        limits: list[LimitRow] = []
        customers = dict.fromkeys(event[1] for event in valid)
        for customer_id in customers:
            usage = contexts.get(customer_id)
            if usage is not None:
                period, rows = usage.limit_rows(catalog, now)
                events.period_ends[(customer_id, period.start)] = period.end
                limits += rows
        if valid and len(events.period_ends) == len(customers) and all(e[5] is None for e in valid):
            # The common batch (known customers, recording time): columns at C speed.
            _, ids, metrics, quantities, keys, _ = zip(*valid, strict=True)
            events.customer_ids, events.metrics = list(ids), list(metrics)
            events.quantities, events.keys = list(quantities), list(keys)
            events.occurred = [None] * len(valid)
            return IngestPlan(events=events, limits=limits)
        known = {c for c, _ in events.period_ends}
        for index, customer_id, metric, quantity, key, at in valid:
            if customer_id not in known:
                late.append(
                    UsageRejection(
                        index=index,
                        idempotency_key=key,
                        code="unknown_customer",
                        reason=f"unknown customer {customer_id!r}",
                    )
                )
                continue
            if at is not None:
                at = _parse_occurred_at(at, now)
                if type(at) is str:
                    late.append(
                        UsageRejection(
                            index=index, idempotency_key=key, code="invalid_occurred_at", reason=at
                        )
                    )
                    continue
            events.customer_ids.append(customer_id)
            events.metrics.append(metric)
            events.quantities.append(quantity)
            events.keys.append(key)
            events.occurred.append(at)
        return IngestPlan(events=events, limits=limits)

    outcome = await ingest_batch(context.sessions, (event[1] for event in valid), plan, now)
    accepted = outcome.accepted
    signal = {c.customer_id for c in outcome.crossings} | outcome.pending
    rejected += late
    rejected.sort(key=lambda r: r.index)
    result = UsageIngestResult(
        accepted=accepted, duplicates=outcome.planned - accepted, rejected=rejected
    )
    # Three increments a batch, whatever its size.
    _ACCEPTED.inc(accepted)
    _DUPLICATE.inc(result.duplicates)
    _REJECTED.inc(len(rejected))
    return result, signal
