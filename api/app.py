"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client

from adapters.payments.simulator import SimulatedGateway
from api.access_log import AccessLines, AccessLog
from api.admin import routes as admin
from api.approvals import routes as approvals
from api.auth import KeyRing
from api.billing import routes as billing
from api.campaigns import routes as campaigns
from api.config_versions import routes as config_versions
from api.context import AppContext
from api.customers import routes as customers
from api.customers import tax_ids as customer_tax_ids
from api.dashboard import routes as dashboard_routes
from api.errors import (
    PROBLEM_JSON,
    ProblemDocument,
    install_error_handlers,
    problem_response,
    problem_responses,
    reject_unstorable_input,
)
from api.experiments import routes as experiments
from api.fx import routes as fx
from api.health import routes as health
from api.insights import routes as insights
from api.metrics import RequestMetrics
from api.metrics import router as metrics_router
from api.notifications import routes as notifications
from api.plans import routes as plans
from api.regions import routes as regions
from api.reports import invoice_numbers as invoice_numbers_report
from api.reports import reconciliation as reconciliation_report
from api.reports import routes as reports
from api.retention import routes as retention
from api.security import routes as security
from api.security.freeze import money_may_move
from api.simulator import routes as simulator
from api.simulator.delivery import SimulatorRedelivery
from api.tracing import instrument_api
from api.usage import routes as usage
from api.usage.hot import HotRoutes
from api.webhooks import routes as webhooks
from core.settings import Settings
from core.temporal import connect_with
from core.tracing import configure_tracing
from db.engine import SessionFactory, create_engine, session_factory
from db.models import ApiKey
from services.config_versions import record_loaded_config
from services.security import FailedAuthLimiter
from services.wiring import payment_gateway


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
            # Change management: the config this process serves is on record.
            await record_loaded_config(
                sessions, settings.lifecycle_config, deployed_by=settings.lifecycle_deployed_by
            )
        except BaseException:
            await engine.dispose()
            raise
        client = temporal or await connect_with(settings, lazy=True)
        app.state.context = AppContext(
            settings=settings,
            config=settings.engine_config,
            sessions=sessions,
            temporal=client,
            keys=KeyRing(
                app_keys=settings.app_api_keys,
                admin_keys=settings.admin_api_keys,
                limiter=FailedAuthLimiter(
                    attempts=settings.lifecycle_auth_failure_limit,
                    window=settings.lifecycle_auth_failure_window_seconds,
                ),
            ),
            payments=payment_gateway(settings, sessions),
        )
        stop = asyncio.Event()
        # Stored keys' last use, written off the request path (services/key_usage.py).
        loops = [asyncio.create_task(app.state.context.keys.used.run(sessions, stop))]
        if settings.lifecycle_simulator_redelivery and isinstance(
            app.state.context.payments, SimulatedGateway
        ):
            # Stripe retries an unacknowledged webhook; the simulator's events get the same.
            redelivery = SimulatorRedelivery(app.state.context)
            loops.append(asyncio.create_task(redelivery.run(stop)))
        # What startup built (the app, its schemas, the catalog, the SDKs' modules) lives
        # as long as the process: out of the collector's reach, a full collection scans
        # only what requests made since. Before, one took ~120 ms on this machine and
        # stalled every request in flight (the benchmark's worst check latencies). Once
        # per process (tests start many apps in one).
        if not gc.get_freeze_count():
            gc.freeze()
        try:
            with access.serving():
                yield
        finally:
            stop.set()
            await asyncio.gather(*loops)
            await engine.dispose()

    app = FastAPI(
        title="Subscription lifecycle engine",
        version="1",
        description=(
            "Trials, billing, dunning and usage limits for the chatbot SaaS. "
            "Authenticate with `Authorization: Bearer <key>`; errors are RFC 9457 problems."
        ),
        lifespan=lifespan,
        dependencies=[Depends(reject_unstorable_input)],
        # The engine's own instruments (api.tracing's spans, api.metrics' Prometheus
        # series) and nothing of FastAPI's: left on, FastAPI asked the OpenTelemetry
        # globals on every request whether a provider was set (three environment
        # lookups), which the usage hot path's profile showed, and would add its spans
        # and metrics beside the engine's once tracing is on.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    access = AccessLines()
    install_error_handlers(app)
    app.add_middleware(HotRoutes, enabled=settings.lifecycle_hot_routes)
    if settings.lifecycle_metrics_enabled:
        # Outermost, so that what the hot routes answer is counted too.
        app.add_middleware(RequestMetrics)
        app.include_router(metrics_router)
    # Outermost: the line has the status the client got, whichever layer answered.
    app.add_middleware(AccessLog, lines=access)
    configure_tracing(settings.lifecycle_tracing, "lifecycle-api")
    instrument_api(app, settings.lifecycle_tracing)
    app.include_router(health.router)
    app.include_router(customers.router)
    app.include_router(customer_tax_ids.router)
    app.include_router(plans.router)
    app.include_router(regions.router)
    app.include_router(fx.router)
    # Money-moving commands answer 503 while money movements are frozen.
    money = [Depends(money_may_move)]
    app.include_router(billing.router, dependencies=money)
    app.include_router(retention.router)
    app.include_router(notifications.router)
    app.include_router(webhooks.router)
    app.include_router(admin.router)
    app.include_router(approvals.router)
    app.include_router(config_versions.router)
    app.include_router(insights.router)
    app.include_router(campaigns.router)
    app.include_router(experiments.router, dependencies=money)
    # The usage routes keep their own module; what they answer besides is declared here.
    app.include_router(usage.router, responses=problem_responses(404, 409, 503))
    app.include_router(usage.admin_router, responses=problem_responses(404, 409, 503))
    app.include_router(reports.router)
    app.include_router(reconciliation_report.router)
    app.include_router(invoice_numbers_report.router)
    app.include_router(dashboard_routes.router)
    app.include_router(security.router)
    if settings.uses_payment_simulator:
        # The test clock and the simulated checkout exist only without a Stripe key.
        app.include_router(simulator.admin_router)
        app.include_router(simulator.public_router)
    install_openapi(app)
    return app


_METHODS = ("get", "put", "post", "delete", "patch")


def _problems_of(path: str, operation: dict[str, Any]) -> list[int]:
    """The problems every operation of its kind can answer with, whatever its own code
    says: 401 where a key is checked, 403 for the admin scope (every admin operation lives
    under /v1/admin), 404 where the path names a resource, 422 where there is input."""
    parameters = operation.get("parameters", [])
    statuses = []
    if operation.get("security"):
        statuses.append(401)
        if path.startswith("/v1/admin"):
            statuses.append(403)
    if any(p.get("in") == "path" for p in parameters):
        statuses.append(404)
    if parameters or "requestBody" in operation:
        statuses.append(422)
    return statuses


def install_openapi(app: FastAPI) -> None:
    """The contract as the API keeps it: every error a ``Problem`` in
    application/problem+json (FastAPI's default documents a JSON 422 the API never sends)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        problem = ProblemDocument.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        for path, item in document["paths"].items():
            for method in _METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                responses = operation["responses"]
                for status in _problems_of(path, operation):
                    current = responses.get(str(status))
                    if current is None or PROBLEM_JSON not in current.get("content", {}):
                        responses[str(status)] = problem_response(status)
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
