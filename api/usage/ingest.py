"""Usage ingestion (``POST /v1/usage``): each event validated on its own (bad ones listed,
the rest recorded); a key already recorded for the customer counts once; recording never
fails because of a limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.context import AppContext
from api.usage.schemas import UsageBatch, UsageIngestResult, UsageRejection
from db.usage.context import UsageContext
from db.usage.ingest import EventBatch, IngestPlan, ingest_batch
from db.usage.records import LimitRow
from domain.catalog import METRICS
from domain.limits import GAUGE_PERIOD_START, GAUGES, Period

# Events may carry a clock slightly ahead of ours; further ahead is a client bug.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Per event or check (a counter is a BIGINT; this leaves room for millions of maxima).
MAX_QUANTITY = 10**12
_EVENT_FIELDS = frozenset({"customer_id", "metric", "quantity", "idempotency_key", "occurred_at"})
_METRICS = frozenset(METRICS)


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


async def ingest(
    context: AppContext, body: UsageBatch, now: datetime
) -> tuple[UsageIngestResult, set[str]]:
    """Record a batch; answers the result and the customers whose workflow is to be told
    (after the commit) of a crossing."""
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

    outcome = await ingest_batch(
        context.sessions, (raw["customer_id"] for _, raw in valid), plan, now
    )
    accepted = sum(change.events for change in outcome.changes)
    signal = {c.customer_id for c in outcome.crossings}
    signal.update(cid for cid, usage in outcome.contexts.items() if usage.pending_signals)
    rejected.sort(key=lambda r: r.index)
    result = UsageIngestResult(
        accepted=accepted, duplicates=outcome.planned - accepted, rejected=rejected
    )
    return result, signal
