"""Usage notices, delivered durably: the crossing rows are an outbox.

The API records a crossing (80 % or 100 % of a limit) in the same transaction as the
usage that caused it, and tells the customer's workflow right after its commit (the fast
path). Whatever that misses — the API died after the commit, Temporal was down, the
customer sent no more usage — the worker's relay finds: every few seconds it signals the
workflow for each crossing still unsignalled, then marks it. A signal may go twice (both
paths at once, or a crash between signal and mark); the workflow sends each notice once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.clock import utcnow
from db.engine import SessionFactory
from db.models import UsageThresholdCrossing
from db.usage.context import UsageContext, load_contexts
from db.usage.thresholds import mark_signalled, unsignalled_crossings
from domain.catalog import Catalog
from domain.limits import UpgradeSuggestion, suggest_upgrade
from workflows.customer import CustomerWorkflow
from workflows.messages import UsageThresholdCrossed, workflow_id_for

logger = logging.getLogger("lifecycle.usage_notices")

SIGNAL_TIMEOUT = timedelta(seconds=5)
# The relay leaves fresh crossings to the API's fast path for this long.
FAST_PATH_GRACE = timedelta(seconds=5)
RELAY_EVERY = timedelta(seconds=2)
RELAY_BATCH = 200


def upgrade_for(
    catalog: Catalog,
    usage: UsageContext,
    now: datetime,
    *,
    used: dict[str, int] | None = None,
    forecasts: dict[str, int] | None = None,
) -> UpgradeSuggestion | None:
    period = usage.period(now)
    return suggest_upgrade(
        catalog,
        usage.subscriber,
        usage.addons,
        usage.overrides,
        period,
        used if used is not None else usage.used_in(period),
        now,
        usage.counters,
        forecasts,
    )


class UsageNotices:
    def __init__(self, sessions: SessionFactory, catalog: Catalog, temporal: Client) -> None:
        self._sessions = sessions
        self._catalog = catalog
        self._temporal = temporal

    async def deliver(self, customer_id: str) -> bool:
        """Signal the customer's workflow for each unsignalled crossing; False when a signal
        failed (the rows stay unsignalled for a later pass)."""
        async with self._sessions() as session:
            pending = await unsignalled_crossings(session, customer_id)
            if not pending:
                return True
            contexts = await load_contexts(session, [customer_id], with_counters=True)
        usage = contexts.get(customer_id)
        now = utcnow()
        suggestion = upgrade_for(self._catalog, usage, now) if usage is not None else None
        handle = self._temporal.get_workflow_handle(workflow_id_for(customer_id))
        highest: dict[tuple[str, datetime], int] = {}
        for crossing in pending:
            key = (crossing.metric, crossing.period_start)
            highest[key] = max(highest.get(key, 0), crossing.threshold)
        for crossing in pending:
            if crossing.threshold < highest[(crossing.metric, crossing.period_start)]:
                # Crossed together with a higher threshold (or still unsent when the higher
                # one came): the higher notice says it all.
                async with self._sessions.begin() as session:
                    await mark_signalled(session, crossing, utcnow())
                continue
            try:
                await handle.signal(
                    CustomerWorkflow.usage_threshold,
                    UsageThresholdCrossed(
                        metric=crossing.metric,
                        threshold=crossing.threshold,
                        period_start=crossing.period_start,
                        used=crossing.used,
                        limit=crossing.limit,
                        upgrade_plan=suggestion.plan if suggestion else None,
                        upgrade_addon=suggestion.addon if suggestion else None,
                        upgrade_price_difference_cents=(
                            suggestion.price_difference_cents if suggestion else None
                        ),
                    ),
                    rpc_timeout=SIGNAL_TIMEOUT,
                )
            except RPCError as exc:
                if exc.status is not RPCStatusCode.NOT_FOUND:
                    logger.warning("usage notice for %s not signalled yet: %s", customer_id, exc)
                    return False
                # No running lifecycle to tell (erased or never started): nothing to retry.
                logger.warning("usage notice for %s dropped: no running workflow", customer_id)
            except Exception as exc:
                logger.warning("usage notice for %s not signalled yet: %s", customer_id, exc)
                return False
            async with self._sessions.begin() as session:
                await mark_signalled(session, crossing, utcnow())
        return True

    async def relay_once(self, *, older_than: timedelta = FAST_PATH_GRACE) -> int:
        """One pass over customers with crossings left unsignalled; returns how many."""
        cutoff = utcnow() - older_than
        async with self._sessions() as session:
            customers = list(
                await session.scalars(
                    select(UsageThresholdCrossing.customer_id)
                    .distinct()
                    .where(
                        UsageThresholdCrossing.signalled_at.is_(None),
                        UsageThresholdCrossing.crossed_at <= cutoff,
                    )
                    .limit(RELAY_BATCH)
                )
            )
        for customer_id in customers:
            await self.deliver(customer_id)
        return len(customers)

    async def relay(self, stop: asyncio.Event, *, every: timedelta = RELAY_EVERY) -> None:
        """Run passes until ``stop`` is set; a failed pass (the database away) is retried."""
        while not stop.is_set():
            try:
                await self.relay_once()
            except Exception:
                logger.exception("usage notice relay pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every.total_seconds())
