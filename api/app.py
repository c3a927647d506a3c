"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api.auth import KeyRing
from api.context import AppContext
from api.errors import install_error_handlers
from api.routers import admin, customers, health, plans
from db.engine import create_engine, session_factory
from lifecycle.settings import Settings
from lifecycle.temporal import connect


class MissingApiKeys(RuntimeError):
    pass


def app_from_environment() -> FastAPI:
    """Factory for uvicorn's multi-process mode, which imports the app in each worker."""
    return create_app(Settings())


def create_app(settings: Settings, *, temporal: Client | None = None) -> FastAPI:
    """Build the API. Connections open at startup; pass ``temporal`` to reuse a client."""
    if not settings.has_api_keys:
        raise MissingApiKeys(
            "no API keys configured: set LIFECYCLE_APP_API_KEYS and/or LIFECYCLE_ADMIN_API_KEYS"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        client = temporal or await connect(settings.temporal_target, settings.temporal_namespace)
        app.state.context = AppContext(
            settings=settings,
            config=settings.engine_config,
            sessions=session_factory(engine),
            temporal=client,
            keys=KeyRing(app_keys=settings.app_api_keys, admin_keys=settings.admin_api_keys),
        )
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="Subscription lifecycle engine",
        version="1",
        description=(
            "Trials, billing, dunning and usage limits for the chatbot SaaS. "
            "Authenticate with `Authorization: Bearer <key>`; errors are RFC 9457 problems."
        ),
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(customers.router)
    app.include_router(plans.router)
    app.include_router(admin.router)
    return app
