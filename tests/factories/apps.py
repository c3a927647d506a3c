"""The real app (lifespan included) in the test's process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from temporalio.client import Client

from api.app import create_app
from core.settings import Settings


@asynccontextmanager
async def api_client(settings: Settings, temporal: Client) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (lifespan included) behind an in-process HTTP client."""
    app = create_app(settings, temporal=temporal)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client
