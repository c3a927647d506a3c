"""What every request handler needs, built once per process and shared through app.state."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from temporalio.client import Client

from adapters.payments.base import PaymentGateway
from api.auth import KeyRing
from core.config import EngineConfig
from core.settings import Settings
from db.engine import SessionFactory
from services.context import EngineContext


@dataclass
class AppContext:
    settings: Settings
    config: EngineConfig
    sessions: SessionFactory
    temporal: Client
    keys: KeyRing
    payments: PaymentGateway
    # What the services' use cases are given (the same sessions, client and gateway, the
    # settings' task queue), with this process's terms version once stored.
    engine: EngineContext = field(init=False)
    # Customers whose usage notices this process is delivering; True asks the running
    # delivery for one more pass (api.usage.signals).
    usage_deliveries: dict[str, bool] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.engine = EngineContext(
            config=self.config,
            sessions=self.sessions,
            temporal=self.temporal,
            task_queue=self.settings.temporal_task_queue,
            payments=self.payments,
        )


async def get_context(request: Request) -> AppContext:
    # ``async``: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
    # hand-off per request (a profile of 32 concurrent consume callers showed one each).
    context: AppContext = request.app.state.context
    return context
