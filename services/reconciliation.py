"""Reconciliation for the API and the CLI: a run now (recorded like the daily Schedule's,
``activities.reconciliation``) and the latest recorded run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from activities.reconciliation import DEFAULT_GRACE, run_reconciliation
from adapters.payments.base import PaymentGateway
from core.clock import utcnow
from db.engine import SessionFactory
from db.models import ReconciliationRun
from db.reconciliation import latest_run, run_by_key


@dataclass(frozen=True)
class ReconciliationReport:
    run_key: str
    trigger: str
    provider: str
    as_of: datetime
    finished_at: datetime
    invoices_compared: int
    subscriptions_compared: int
    differences: list[dict[str, Any]]


def _report(row: ReconciliationRun) -> ReconciliationReport:
    return ReconciliationReport(
        run_key=row.run_key,
        trigger=row.trigger,
        provider=row.provider,
        as_of=row.as_of,
        finished_at=row.finished_at,
        invoices_compared=row.invoices_compared,
        subscriptions_compared=row.subscriptions_compared,
        differences=list(row.differences),
    )


async def reconcile_now(
    sessions: SessionFactory,
    gateway: PaymentGateway,
    *,
    trigger: str,
    as_of: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> ReconciliationReport:
    key, _ = await run_reconciliation(
        sessions, gateway, as_of=as_of or utcnow(), trigger=trigger, grace=grace
    )
    async with sessions() as session:
        row = await run_by_key(session, key)
    assert row is not None, "recorded by run_reconciliation"
    return _report(row)


async def latest_report(sessions: SessionFactory) -> ReconciliationReport | None:
    async with sessions() as session:
        row = await latest_run(session)
    return _report(row) if row is not None else None
