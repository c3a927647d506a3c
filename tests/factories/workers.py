"""A worker with the real activities; payments through the simulator, email logged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from activities.policy import Terms
from adapters.email.base import EmailSender
from adapters.email.log_sender import LogEmailSender
from adapters.payments.base import PaymentGateway
from core.config import EngineConfig
from db.engine import SessionFactory
from domain.policy import Policy
from workers.tuning import STRICT_RUNNER, WorkerTuning
from workers.worker import build_worker


def simulator_clock() -> datetime:
    """Inside an activity, the server's time (skipped time on the time-skipping server),
    so the simulator's periods line up with the workflow's timers; real time otherwise."""
    if activity.in_activity():
        return activity.info().current_attempt_scheduled_time
    return datetime.now(UTC)


def make_simulator(
    sessions: SessionFactory, config: EngineConfig, *, clock: Callable[[], datetime] | None = None
) -> PaymentGateway:
    from adapters.payments.simulator import SimulatedGateway

    return SimulatedGateway(
        sessions, config.catalog, clock=clock or simulator_clock, tax=config.tax
    )


def make_worker(
    client: Client,
    *,
    task_queue: str,
    sessions: SessionFactory,
    config: EngineConfig,
    policy: Policy | None = None,
    gateway: PaymentGateway | None = None,
    sender: EmailSender | None = None,
    load_terms: Callable[[], Awaitable[Terms]] | None = None,
    tuning: WorkerTuning | None = None,
) -> Worker:
    """A worker with the real activities; payments and email at the simulated edge.

    Workflows run in the strict sandbox (modules re-imported per run, forbidden calls
    trapped), so every test also checks the workflow code's determinism; the worker
    process (``lifecycle worker``) runs the production configuration."""
    terms = Terms(policy=policy or config.policy, catalog=config.catalog)

    async def today() -> Terms:
        return terms

    return build_worker(
        client,
        task_queue=task_queue,
        sessions=sessions,
        sender=sender or LogEmailSender(),
        gateway=gateway or make_simulator(sessions, config),
        product_name=config.product_name,
        app_url=config.app_url,
        load_terms=load_terms or today,
        workflow_runner=STRICT_RUNNER,
        save_flow=config.save_flow,
        tuning=tuning,
    )
