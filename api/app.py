"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client

from api.auth import KeyRing
from api.context import AppContext
from api.dashboard import routes as dashboard_routes
from api.errors import install_error_handlers
from api.routers import (
    admin,
    billing,
    customers,
    entitlements,
    health,
    notifications,
    plans,
    reports,
    simulator,
    usage,
    webhooks,
)
from db.engine import SessionFactory, create_engine, session_factory
from db.models import ApiKey
from lifecycle.settings import Settings
from lifecycle.temporal import connect
from lifecycle.wiring import payment_gateway


class MissingApiKeys(RuntimeError):
    pass


def app_from_environment() -> FastAPI:
    """Factory for uvicorn's multi-process mode, which imports the app in each worker."""
    return create_app(Settings())


async def require_api_keys(settings: Settings, sessions: SessionFactory) -> None:
    """Refuse to serve without any key: from the environment or `lifecycle keys create`."""
    if settings.has_api_keys:
        return
    message = (
        "no API keys configured: set LIFECYCLE_APP_API_KEYS and/or LIFECYCLE_ADMIN_API_KEYS,"
        " or create one with `lifecycle keys create`"
    )
    try:
        async with sessions() as session:
            stored = await session.scalar(
                select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
            )
    except SQLAlchemyError as exc:
        raise MissingApiKeys(
            f"{message} (stored keys unreadable: {exc.__class__.__name__})"
        ) from exc
    if not stored:
        raise MissingApiKeys(message)


def create_app(settings: Settings, *, temporal: Client | None = None) -> FastAPI:
    """Build the API. Connections open at startup; pass ``temporal`` to reuse a client."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        try:
            await require_api_keys(settings, sessions)
        except BaseException:
            await engine.dispose()
            raise
        client = temporal or await connect(
            settings.temporal_target, settings.temporal_namespace, lazy=True
        )
        app.state.context = AppContext(
            settings=settings,
            config=settings.engine_config,
            sessions=sessions,
            temporal=client,
            keys=KeyRing(app_keys=settings.app_api_keys, admin_keys=settings.admin_api_keys),
            payments=payment_gateway(settings, sessions),
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
    app.include_router(billing.router)
    app.include_router(notifications.router)
    app.include_router(webhooks.router)
    app.include_router(admin.router)
    app.include_router(usage.router)
    app.include_router(entitlements.router)
    app.include_router(usage.admin_router)
    app.include_router(reports.router)
    app.include_router(dashboard_routes.router)
    if settings.uses_payment_simulator:
        # The test clock and the simulated checkout exist only without a Stripe key.
        app.include_router(simulator.admin_router)
        app.include_router(simulator.public_router)
    return app
