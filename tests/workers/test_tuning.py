"""The worker's sizing from settings: the production shutdown grace (running activities
finish on SIGTERM), overridable, and what ``build_worker`` hands the SDK."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from core.settings import Settings
from db.engine import SessionFactory
from tests.factories.workers import make_worker
from workers.tuning import PRODUCTION_SHUTDOWN_GRACE, WorkerTuning, tuning_from


def test_lifecycle_worker_gives_running_activities_a_grace_period() -> None:
    assert tuning_from(Settings()).graceful_shutdown == PRODUCTION_SHUTDOWN_GRACE
    assert timedelta(0) < PRODUCTION_SHUTDOWN_GRACE
    custom = Settings(lifecycle_worker_shutdown_grace_seconds=5, lifecycle_worker_activities=7)
    assert tuning_from(custom) == WorkerTuning(
        max_concurrent_activities=7, graceful_shutdown=timedelta(seconds=5)
    )
    # Tests' workers (the dataclass default) stop at once.
    assert WorkerTuning().graceful_shutdown == timedelta(0)


async def test_build_worker_hands_the_grace_to_the_sdk(
    dev_server_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    worker = make_worker(
        dev_server_env.client,
        task_queue=task_queue,
        sessions=sessions,
        config=engine_config,
        tuning=WorkerTuning(graceful_shutdown=timedelta(seconds=3)),
    )
    assert worker.config()["graceful_shutdown_timeout"] == timedelta(seconds=3)
