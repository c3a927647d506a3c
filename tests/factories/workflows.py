"""Starting a customer's workflow on the time-skipping server, the way the API does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import Customer
from domain.policy import Policy
from tests.factories.customers import insert_customer, store_terms
from workflows.customer import GENERATION, CustomerWorkflow
from workflows.messages import (
    CommandResult,
    CustomerSnapshot,
    CustomerWorkflowInput,
    workflow_id_for,
)


@dataclass
class Started:
    customer: Customer
    handle: WorkflowHandle
    signed_up_at: datetime

    async def snapshot(self) -> CustomerSnapshot:
        result: CustomerSnapshot = await self.handle.query(CustomerWorkflow.snapshot)
        return result

    async def update(self, update: Any, command: Any) -> CommandResult:
        """A lifecycle command (a Temporal Update), answered as the workflow answers it."""
        result: CommandResult = await self.handle.execute_update(update, command)
        return result


async def start_customer(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    config: EngineConfig,
    task_queue: str,
    *,
    policy: Policy | None = None,
) -> Started:
    policy = policy or config.policy
    now = await env.get_current_time()
    customer = await insert_customer(sessions, policy=policy, signed_up_at=now)
    version = await store_terms(sessions, config, policy)
    handle = await env.client.start_workflow(
        CustomerWorkflow.run,
        CustomerWorkflowInput(
            customer_id=customer.id,
            signed_up_at=now,
            terms_version=version,
            generation=GENERATION,
        ),
        id=workflow_id_for(customer.id),
        task_queue=task_queue,
    )
    return Started(customer=customer, handle=handle, signed_up_at=now)
