"""What the engine's use cases need, handed to them explicitly: the database, the Temporal
client and task queue, the config (policy, catalog) and the payment gateway. The API builds
one per process (``api.context.AppContext.engine``); the demo seeder builds its own."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio.client import Client

from adapters.payments.base import PaymentGateway
from core.config import EngineConfig
from db.engine import SessionFactory
from db.terms import register_terms
from domain.terms import Terms


@dataclass
class EngineContext:
    config: EngineConfig
    sessions: SessionFactory
    temporal: Client
    task_queue: str
    payments: PaymentGateway
    _terms_version: str | None = field(default=None, init=False)
    _terms_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def terms_version(self) -> str:
        """The version of this process's terms, stored on first use (workflows load them
        by version), so an entry point starts while the database is still coming up."""
        if self._terms_version is None:
            async with self._terms_lock:
                if self._terms_version is None:
                    terms = Terms(policy=self.config.policy, catalog=self.config.catalog)
                    async with self.sessions.begin() as session:
                        self._terms_version = await register_terms(session, terms)
        return self._terms_version
