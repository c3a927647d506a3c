"""What every request handler needs, built once per process and shared through app.state."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from temporalio.client import Client

from adapters.payments.base import PaymentGateway
from api.auth import KeyRing
from db.engine import SessionFactory
from lifecycle.config import EngineConfig
from lifecycle.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    config: EngineConfig
    sessions: SessionFactory
    temporal: Client
    keys: KeyRing
    payments: PaymentGateway

    @property
    def task_queue(self) -> str:
        return self.settings.temporal_task_queue


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context
