"""Reconciliation's use case: read both sides, compare (``domain.reconciliation``), record
the run and publish its count (``lifecycle_reconciliation_differences``). Run by the daily
Schedule's activity, ``POST /v1/admin/reports/reconciliation`` and ``lifecycle report
reconciliation``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import activity

from adapters.payments.base import PaymentGateway
from core.clock import utcnow
from core.metrics import RECONCILIATION_DIFFERENCES, RECONCILIATION_LAST_RUN
from db.engine import SessionFactory
from db.reconciliation import (
    customers_by_provider_id,
    engine_invoices,
    engine_subscriptions,
    latest_run,
    record_run,
)
from domain.reconciliation import Reconciliation, reconcile

# Objects this young are left for the next run: their webhook may still be on its way.
DEFAULT_GRACE = timedelta(minutes=15)


def run_key_for(as_of: datetime, trigger: str) -> str:
    return f"{trigger}-{as_of:%Y%m%dT%H%M%S.%fZ}"


async def run_reconciliation(
    sessions: SessionFactory,
    gateway: PaymentGateway,
    *,
    as_of: datetime,
    trigger: str,
    grace: timedelta = DEFAULT_GRACE,
    run_key: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[str, Reconciliation]:
    """Compares, records the run under ``run_key`` (default: from ``as_of`` and
    ``trigger``) and sets the gauges; returns the key and the result."""
    # The provider first: an object it creates meanwhile is younger than the engine's read
    # and falls in the next run's window rather than showing as missing from the engine.
    invoices = await gateway.list_all_invoices()
    subscriptions = await gateway.list_all_subscriptions()
    async with sessions() as session:
        mine_invoices = await engine_invoices(session)
        mine_subscriptions = await engine_subscriptions(session)
        customers = await customers_by_provider_id(session)
    result = reconcile(
        engine_invoices=mine_invoices,
        provider_invoices=invoices,
        engine_subscriptions=mine_subscriptions,
        provider_subscriptions=subscriptions,
        customers_by_provider_id=customers,
        as_of=as_of,
        grace=grace,
    )
    key = run_key or run_key_for(as_of, trigger)
    now = clock()
    async with sessions.begin() as session:
        await record_run(
            session, result, run_key=key, trigger=trigger, provider=gateway.name, now=now
        )
    RECONCILIATION_DIFFERENCES.set(len(result.differences))
    RECONCILIATION_LAST_RUN.set(now.timestamp())
    return key, result


async def publish_latest_run(sessions: SessionFactory) -> None:
    """Set the gauges from the latest recorded run: a restarted worker keeps an open
    difference alerting until the next run, instead of reporting none."""
    async with sessions() as session:
        run = await latest_run(session)
    if run is not None:
        RECONCILIATION_DIFFERENCES.set(run.difference_count)
        RECONCILIATION_LAST_RUN.set(run.finished_at.timestamp())


@dataclass(frozen=True)
class ReconciliationInput:
    as_of: datetime


@dataclass(frozen=True)
class ReconciliationSummary:
    run_key: str
    differences: int
    invoices_compared: int
    subscriptions_compared: int


class ReconciliationActivities:
    def __init__(self, sessions: SessionFactory, gateway: PaymentGateway) -> None:
        self._sessions = sessions
        self._gateway = gateway

    @activity.defn(name="reconcile_with_provider")
    async def reconcile(self, request: ReconciliationInput) -> ReconciliationSummary:
        key, result = await run_reconciliation(
            self._sessions, self._gateway, as_of=request.as_of, trigger="schedule"
        )
        return ReconciliationSummary(
            run_key=key,
            differences=len(result.differences),
            invoices_compared=result.invoices_compared,
            subscriptions_compared=result.subscriptions_compared,
        )
