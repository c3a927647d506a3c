"""The API's Prometheus metrics: ``GET /metrics`` (when ``LIFECYCLE_METRICS_ENABLED``),
requests by route template and status class with their latency (``RequestMetrics``, the
outermost layer, so the hot routes' answers are counted too), and what operators are
alerted on, read from the tables at scrape time (``db.monitoring``: customers by status,
overdue dunning, the webhook backlog; cached: a scrape every few seconds costs three
indexed counts every ``CUSTOMERS_TTL`` seconds).

The metrics themselves are defined in ``core/metrics.py``. A process serves its own
counters: under uvicorn's ``--workers N`` each process is a target of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from api.asgi import run_observed
from api.context import AppContext
from core.clock import utcnow
from core.metrics import (
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS,
    ROUTE_KEY,
    UNMATCHED_ROUTE,
    status_class,
)
from db.engine import SessionFactory
from db.monitoring import OperationsSnapshot, operations_snapshot
from domain.policy import DunningPolicy

CUSTOMERS_TTL = 30.0

router = APIRouter()


class RequestMetrics:
    """ASGI middleware: counts each HTTP request by method, route template and status
    class, and observes its duration. A path no route matches is one label value
    (``unmatched``): unknown paths cannot multiply the series."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The labelled children, looked up once per (method, route, status class).
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        await run_observed(
            self.app,
            scope,
            receive,
            send,
            lambda status: self._record(scope, status, time.perf_counter() - started),
        )

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method: str = scope["method"]
        route = scope.get(ROUTE_KEY)
        if route is None:
            matched = scope.get("route")
            route = getattr(matched, "path", None) or UNMATCHED_ROUTE
        key = (method, route, status_class(status))
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = HTTP_REQUESTS.labels(*key)
        counter.inc()
        histogram = self._histograms.get(key[:2])
        if histogram is None:
            histogram = self._histograms[key[:2]] = HTTP_REQUEST_DURATION.labels(method, route)
        histogram.observe(seconds)


class OperationsGauges(Collector):
    """Customers by lifecycle status, those needing attention, dunning that outlived its
    schedule and the undelivered webhooks, from the engine's tables (``db.monitoring``)."""

    def __init__(
        self,
        sessions: SessionFactory,
        dunning: DunningPolicy,
        *,
        ttl: float = CUSTOMERS_TTL,
    ) -> None:
        self._sessions = sessions
        # The last retry, then a day for the final action and the read model to land.
        self._overdue_after = max(dunning.retries, default=timedelta(0)) + timedelta(days=1)
        self._ttl = ttl
        self._read_at: float | None = None
        self._snapshot = OperationsSnapshot()

    async def refresh(self) -> None:
        now = time.monotonic()
        if self._read_at is not None and now - self._read_at < self._ttl:
            return
        async with self._sessions() as session:
            self._snapshot = await operations_snapshot(
                session, now=utcnow(), dunning_overdue_after=self._overdue_after
            )
        self._read_at = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self._read_at is None:
            return
        snapshot = self._snapshot
        customers = GaugeMetricFamily(
            "lifecycle_customers",
            "Customers by lifecycle status (past_due: in dunning), from the read model.",
            labels=["status"],
        )
        for status, count in sorted(snapshot.by_status.items()):
            customers.add_metric([status], count)
        yield customers
        yield GaugeMetricFamily(
            "lifecycle_customers_needing_attention",
            "Customers whose automation failed and waits for an operator (NeedsAttention).",
            value=snapshot.needing_attention,
        )
        yield GaugeMetricFamily(
            "lifecycle_dunning_overdue_customers",
            "Customers still past_due a day after their last scheduled payment retry.",
            value=snapshot.dunning_overdue,
        )
        yield GaugeMetricFamily(
            "lifecycle_webhooks_backlog",
            "Webhooks accepted but not delivered to their workflow for over 5 minutes.",
            value=snapshot.webhook_backlog,
        )
        yield GaugeMetricFamily(
            "lifecycle_webhooks_oldest_undelivered_age_seconds",
            "Age of the oldest webhook accepted but not delivered (0: none).",
            value=snapshot.webhook_oldest_seconds,
        )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    context: AppContext = request.app.state.context
    gauges: OperationsGauges | None = getattr(request.app.state, "operations_gauges", None)
    if gauges is None:
        gauges = request.app.state.operations_gauges = OperationsGauges(
            context.sessions, context.config.policy.dunning
        )
    await gauges.refresh()
    own = CollectorRegistry(auto_describe=False)
    own.register(gauges)
    # The classic text format (0.0.4), which every Prometheus version reads.
    body = generate_latest(REGISTRY) + generate_latest(own)
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
