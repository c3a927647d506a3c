"""Telling customers' workflows their new churn risk band (the ``ChurnRisk`` search
attribute an admin filters on in the Temporal Web UI)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.analytics import TellRisks
from workflows.customer import CustomerWorkflow
from workflows.messages import ChurnRiskScored, workflow_id_for

logger = logging.getLogger("lifecycle.churn")

# Signals in flight at once: a first run tells every paying customer.
_CONCURRENCY = 50


def risk_teller(client: Client) -> TellRisks:
    async def tell(changes: Sequence[tuple[str, str]]) -> int:
        """Signal each (customer, band); answers how many workflows heard it. A closed
        workflow (an erased or long-gone customer) is skipped; anything else fails the
        run, which is retried whole (setting a band twice changes nothing)."""
        told = 0
        for start in range(0, len(changes), _CONCURRENCY):
            chunk = changes[start : start + _CONCURRENCY]
            results = await asyncio.gather(
                *(
                    client.get_workflow_handle(workflow_id_for(cid)).signal(
                        CustomerWorkflow.churn_risk, ChurnRiskScored(risk=risk)
                    )
                    for cid, risk in chunk
                ),
                return_exceptions=True,
            )
            for (cid, _), result in zip(chunk, results, strict=True):
                if isinstance(result, RPCError) and result.status is RPCStatusCode.NOT_FOUND:
                    logger.info("customer %s has no running workflow; risk not shown", cid)
                elif isinstance(result, BaseException):
                    raise result
                else:
                    told += 1
        return told

    return tell
