"""Erasure ends the workflow promptly, whatever the main loop was doing when it arrived."""

from __future__ import annotations

import asyncio
from typing import cast

from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from adapters.email.base import OutgoingEmail, Schedule
from adapters.email.log_sender import LogEmailSender
from core.config import EngineConfig
from db.engine import SessionFactory
from tests.factories.histories import record_history
from tests.factories.polling import eventually
from tests.factories.records import ledger
from tests.factories.workers import make_worker
from tests.factories.workflows import start_customer
from workflows.customer import CustomerWorkflow
from workflows.messages import CommandResult, EraseCustomer


class _HeldWelcome(LogEmailSender):
    """Holds the welcome email at the provider until the test lets it go."""

    def __init__(self) -> None:
        self.sending = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, email: OutgoingEmail, schedule: Schedule | None = None) -> str | None:
        self.sending.set()
        await self.release.wait()
        return await super().send(email)


async def test_erasure_while_the_welcome_email_is_in_flight_ends_the_workflow(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    """The erase update takes the lock while sign-up still waits on its welcome email, so
    the main loop only reaches its wait after erasure already woke it; it must still end."""
    env = time_skipping_env
    sender = _HeldWelcome()
    worker = make_worker(
        env.client, task_queue=task_queue, sessions=sessions, config=engine_config, sender=sender
    )
    async with worker:
        started = await start_customer(env, sessions, engine_config, task_queue)
        await asyncio.wait_for(sender.sending.wait(), timeout=30)
        update = await started.handle.start_update(
            CustomerWorkflow.erase,
            EraseCustomer(actor="admin:test"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        sender.release.set()
        # The SDK types an async update's result as its coroutine.
        snapshot = cast(CommandResult, await update.result())
        assert snapshot.state.status == "canceled"

        async def status() -> WorkflowExecutionStatus | None:
            return (await started.handle.describe()).status

        # Polling describe() never unlocks time skipping: only a real wake-up ends the run.
        await eventually(status, lambda s: s == WorkflowExecutionStatus.COMPLETED, timeout=10)

    kinds = [e.kind for e in await ledger(sessions, started.customer.id)]
    assert kinds == ["trial_started", "trial_ended", "customer_erased"]
    await record_history(started.handle, "erasure_during_welcome")
