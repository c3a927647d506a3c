"""Factory functions for test data: policies, customers, read-model rows."""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from activities.policy import Terms
from adapters.email.base import EmailSender
from adapters.email.log_sender import LogEmailSender
from adapters.payments.base import PaymentGateway
from api.app import create_app
from core.config import EngineConfig
from core.settings import REPO_ROOT, Settings
from db.customers import new_trial_customer
from db.engine import SessionFactory
from db.models import Customer
from db.terms import register_terms
from domain.durations import parse_duration
from domain.policy import DunningAccess, FinalAction, Policy
from domain.terms import Terms as TermsDocument
from workers.tuning import STRICT_RUNNER
from workers.worker import build_worker


def make_policy(
    base: EngineConfig,
    *,
    length: str | None = None,
    reminders: list[str] | None = None,
    winback: list[str] | None = None,
    retries: list[str] | None = None,
    final_action: str | None = None,
    downgrade_plan: str | None = None,
    access: str | None = None,
) -> Policy:
    trial, dunning = base.policy.trial, base.policy.dunning
    return replace(
        base.policy,
        trial=replace(
            trial,
            length=parse_duration(length) if length else trial.length,
            reminders=tuple(parse_duration(r) for r in reminders)
            if reminders is not None
            else trial.reminders,
            winback=tuple(parse_duration(w) for w in winback)
            if winback is not None
            else trial.winback,
        ),
        dunning=replace(
            dunning,
            retries=tuple(parse_duration(r) for r in retries)
            if retries is not None
            else dunning.retries,
            final_action=FinalAction(final_action) if final_action else dunning.final_action,
            downgrade_plan=downgrade_plan or dunning.downgrade_plan,
            access=DunningAccess(access) if access else dunning.access,
        ),
    )


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def insert_customer(
    sessions: SessionFactory,
    *,
    policy: Policy,
    signed_up_at: datetime | None = None,
    email: str | None = None,
    name: str | None = "Ada Lovelace",
) -> Customer:
    """A read-model row as the API writes it at sign-up, before the workflow starts."""
    customer = new_trial_customer(
        customer_id=str(uuid.uuid4()),
        external_id=f"ext-{uuid.uuid4().hex}",
        email=email or unique_email(),
        name=name,
        trial=policy.trial,
        signed_up_at=signed_up_at or datetime.now(UTC),
    )
    async with sessions.begin() as session:
        session.add(customer)
    return customer


def days(n: float) -> timedelta:
    return timedelta(days=n)


APP_KEY = "test-app-key"
ADMIN_KEY = "test-admin-key"


def write_config(directory: Path, **sections: Mapping[str, object]) -> Path:
    """A copy of the repo's config file with keys of top-level sections overridden, e.g.
    ``trial={"length": "6s"}`` or ``dunning={"retries": ["2s"]}`` for a policy of seconds."""
    text = (REPO_ROOT / "lifecycle.toml").read_text()
    raw = tomllib.loads(text)
    for name, overrides in sections.items():
        merged = {**raw.get(name, {}), **overrides}
        lines = [f"{key} = {_toml_value(value)}" for key, value in merged.items()]
        start = text.index(f"[{name}]")
        end = text.find("\n[", start + 1)
        end = len(text) if end == -1 else end
        text = text[:start] + f"[{name}]\n" + "\n".join(lines) + "\n" + text[end:]
    path = directory / f"lifecycle-{uuid.uuid4().hex[:8]}.toml"
    path.write_text(text)
    return path


def _toml_value(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def make_settings(
    *, database_url: str, task_queue: str, config_path: Path | None = None, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "temporal_task_queue": task_queue,
        "lifecycle_app_api_keys": APP_KEY,
        "lifecycle_admin_api_keys": ADMIN_KEY,
        # Tests deliver the simulator's events themselves, in the order they choose.
        "lifecycle_simulator_redelivery": False,
    }
    if config_path is not None:
        values["lifecycle_config"] = config_path
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def api_client(settings: Settings, temporal: Client) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (lifespan included) behind an in-process HTTP client."""
    app = create_app(settings, temporal=temporal)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


def auth(key: str = APP_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def simulator_clock() -> datetime:
    """Inside an activity, the server's time (skipped time on the time-skipping server),
    so the simulator's periods line up with the workflow's timers; real time otherwise."""
    if activity.in_activity():
        return activity.info().current_attempt_scheduled_time
    return datetime.now(UTC)


def make_simulator(
    sessions: SessionFactory, config: EngineConfig, *, clock: Callable[[], datetime] | None = None
) -> PaymentGateway:
    from adapters.payments.simulator import SimulatedGateway

    return SimulatedGateway(sessions, config.catalog, clock=clock or simulator_clock)


def make_worker(
    client: Client,
    *,
    task_queue: str,
    sessions: SessionFactory,
    config: EngineConfig,
    policy: Policy | None = None,
    gateway: PaymentGateway | None = None,
    sender: EmailSender | None = None,
    load_terms: Callable[[], Awaitable[Terms]] | None = None,
) -> Worker:
    """A worker with the real activities; payments and email at the simulated edge.

    Workflows run in the strict sandbox (modules re-imported per run, forbidden calls
    trapped), so every test also checks the workflow code's determinism; the worker
    process (``lifecycle worker``) runs the production configuration."""
    terms = Terms(policy=policy or config.policy, catalog=config.catalog)

    async def today() -> Terms:
        return terms

    return build_worker(
        client,
        task_queue=task_queue,
        sessions=sessions,
        sender=sender or LogEmailSender(),
        gateway=gateway or make_simulator(sessions, config),
        product_name=config.product_name,
        app_url=config.app_url,
        load_terms=load_terms or today,
        workflow_runner=STRICT_RUNNER,
    )


async def store_terms(
    sessions: SessionFactory, config: EngineConfig, policy: Policy | None = None
) -> str:
    """Store the terms a test's customers run on; returns their version."""
    async with sessions.begin() as session:
        return await register_terms(
            session, TermsDocument(policy=policy or config.policy, catalog=config.catalog)
        )
