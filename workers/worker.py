"""Worker entry point: every workflow and activity of the engine on one task queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from temporalio.client import Client
from temporalio.worker import Worker

from activities.customers import CustomerActivities
from activities.emails import EmailActivities
from activities.policy import PolicyActivities
from adapters.email.base import EmailSender
from db.engine import SessionFactory, create_engine, session_factory
from domain.policy import Policy
from lifecycle.config import load_config
from lifecycle.settings import Settings
from lifecycle.temporal import connect
from workers.wiring import email_sender
from workflows.customer import CustomerWorkflow

logger = logging.getLogger("lifecycle.worker")


def build_worker(
    client: Client,
    *,
    task_queue: str,
    sessions: SessionFactory,
    sender: EmailSender,
    product_name: str,
    load_policy: Callable[[], Policy],
    max_concurrent_activities: int = 50,
) -> Worker:
    customers = CustomerActivities(sessions)
    emails = EmailActivities(sessions, sender, product_name=product_name)
    policy = PolicyActivities(load_policy)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[CustomerWorkflow],
        activities=[customers.apply_transition, emails.send_email, policy.current_policy],
        max_concurrent_activities=max_concurrent_activities,
    )


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or forever); shuts down gracefully, finishing in-flight tasks."""
    config = settings.engine_config
    engine = create_engine(settings.database_url)
    client = await connect(settings.temporal_target, settings.temporal_namespace)
    worker = build_worker(
        client,
        task_queue=settings.temporal_task_queue,
        sessions=session_factory(engine),
        sender=email_sender(settings),
        product_name=config.product_name,
        load_policy=lambda: load_config(settings.lifecycle_config).policy,
    )
    logger.info("worker polling task queue %r", settings.temporal_task_queue)
    try:
        if stop is None:
            await worker.run()
        else:
            async with worker:
                await stop.wait()
    finally:
        await engine.dispose()
