"""How one worker process is sized: the workflow sandbox, caches and concurrency.

Measured with ``make bench-lifecycle`` on 2 cores (see the README's "Sizing workers"):

- Workflow code runs in Temporal's sandbox, which by default re-imports the workflow's
  modules for every run and every replay (35 ms and ~200 KiB each for the customer
  workflow). Our workflow modules are deterministic by construction (an import contract
  and a lint ban keep I/O, clocks and randomness out of ``workflows/``), so production
  passes them through: loaded once per process (about 1 ms and 13 KiB per run). The
  strict sandbox, which re-imports them and traps forbidden calls, runs every saved
  history and every workflow test in ``make test``.
- Workflow tasks are CPU-bound Python under one GIL: running many at once only makes each
  slower, and a task that runs past its 10 s timeout is thrown away and retried. A few
  concurrent tasks finish each quickly; the rest wait, harmlessly, on the server.
- A cached customer workflow costs about 100 KiB of RSS (measured: 98 KiB each from 300 to
  1,500 cached; about a third Python objects, the rest the SDK's Rust core), so 6,000 cached
  plus the process's ~190 MiB stay well under 1 GiB. A customer beyond the cache costs
  nothing until its next timer or message, which then replays its history first (30-40 ms
  of worker CPU for a trial's history; the server sends the history with the task).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from core.settings import Settings

# Loaded once per process instead of once per workflow run (see above).
PASSTHROUGH_MODULES = ("workflows", "domain", "activities", "adapters")

PRODUCTION_RUNNER: WorkflowRunner = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
)
# Re-imports the workflow modules per run and traps forbidden calls in them.
STRICT_RUNNER: WorkflowRunner = SandboxedWorkflowRunner()


@dataclass(frozen=True)
class WorkerTuning:
    # Customer workflows kept in memory between tasks (see above).
    max_cached_workflows: int = 6_000
    # Workflow tasks run at once; more only queue inside the process, past their timeout.
    max_concurrent_workflow_tasks: int = 8
    # Activities run at once; above the database pool size they only wait for a connection.
    max_concurrent_activities: int = 40
    max_concurrent_local_activities: int = 20
    # How long running activities may finish after shutdown begins (0: cancelled at once,
    # the SDK's default, which tests keep; a charge cut short is retried, but its email
    # or provider call then happens on another worker a timeout later).
    graceful_shutdown: timedelta = timedelta(0)


# What `lifecycle worker` gives running activities on SIGTERM.
PRODUCTION_SHUTDOWN_GRACE = timedelta(seconds=20)


def tuning_from(settings: Settings) -> WorkerTuning:
    """The defaults above, with what ``LIFECYCLE_WORKER_*`` variables override."""
    overrides = {
        "max_cached_workflows": settings.lifecycle_worker_cached_workflows,
        "max_concurrent_workflow_tasks": settings.lifecycle_worker_workflow_tasks,
        "max_concurrent_activities": settings.lifecycle_worker_activities,
    }
    grace = settings.lifecycle_worker_shutdown_grace_seconds
    return replace(
        WorkerTuning(),
        graceful_shutdown=(
            PRODUCTION_SHUTDOWN_GRACE if grace is None else timedelta(seconds=grace)
        ),
        **{k: v for k, v in overrides.items() if v is not None},
    )
