"""Threshold notices to the customer's workflow, sent after the request's commit.

The customer's workflow hears about usage only when a counter crosses 80 % or 100 % of
its limit (once per metric, period and threshold: the crossing row's insert decides who
signals). Signals go out after the commit, in the background; a crossing whose signal
failed (Temporal unavailable, or this process died) stays marked unsignalled and is
delivered by the worker's relay (``services.usage_notices``) or on the customer's next
usage request that reads its context (a read, a check, or an ingestion whose context is
not kept in memory).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from fastapi import BackgroundTasks

from api.context import AppContext
from services.usage_notices import UsageNotices

logger = logging.getLogger("lifecycle.api.usage")


def schedule_signals(
    background: BackgroundTasks, context: AppContext, customer_ids: Iterable[str]
) -> None:
    for customer_id in sorted(set(customer_ids)):
        background.add_task(deliver_signals, context, customer_id)


async def deliver_signals(context: AppContext, customer_id: str) -> None:
    """The fast path: tell the workflow right after the commit."""
    delivering = context.usage_deliveries
    if customer_id in delivering:
        # A crossing arrived while a delivery runs: it makes one more pass.
        delivering[customer_id] = True
        return
    delivering[customer_id] = False
    notices = UsageNotices(context.sessions, context.config.catalog, context.temporal)
    try:
        while True:
            if not await notices.deliver(customer_id):
                break
            if not delivering[customer_id]:
                break
            delivering[customer_id] = False
    except Exception:
        logger.exception("delivering usage notices of customer %s failed", customer_id)
    finally:
        del delivering[customer_id]
