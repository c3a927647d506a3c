"""The real app (lifespan included) in the test's process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from temporalio.client import Client

from api.app import create_app
from core.config import EngineConfig
from core.settings import Settings
from db.engine import SessionFactory
from tests.factories.workers import make_worker


@asynccontextmanager
async def api_client(settings: Settings, temporal: Client) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (lifespan included) behind an in-process HTTP client."""
    app = create_app(settings, temporal=temporal)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


@asynccontextmanager
async def api_with_worker(
    settings: Settings,
    temporal: Client,
    *,
    sessions: SessionFactory,
    config: EngineConfig,
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app and a real worker (payments on the simulator) on the same task queue."""
    async with (
        make_worker(
            temporal, task_queue=settings.temporal_task_queue, sessions=sessions, config=config
        ),
        api_client(settings, temporal) as client,
    ):
        yield client
