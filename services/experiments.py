"""Pricing experiments at sign-up and after: which terms a new customer's workflow starts
with (a drawn variant, a rolled-out winner, or the config's), which terms a plan change
carries (the customer's pinned ones), and exposures. Used by the API and the demo seeder.

A customer assigned a variant (or signed up under a rollout) is pinned to those terms:
the workflow keeps them across continue-as-new, and ``command_terms_version`` hands them to
every plan change, so the customer converts and renews at the variant's prices after the
experiment stops, until an admin migrates it (``migrate``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from core.config import EngineConfig
from db import experiments as store
from db.engine import SessionFactory
from db.models import Customer
from db.terms import load_terms, register_terms
from domain.catalog import Catalog
from domain.experiments.assignment import assign
from domain.experiments.model import ExperimentState, Status, deciding, effective, variant_terms
from domain.terms import Terms
from services.context import EngineContext
from services.customer_workflows import start_customer_workflow
from services.errors import ServiceError
from services.regions import customer_terms_of, in_customer_terms

SIGNUP = "signup"
PLANS_PAGE = "plans"


def config_terms(config: EngineConfig) -> Terms:
    return Terms(policy=config.policy, catalog=config.catalog)


async def statuses(config: EngineConfig, sessions: SessionFactory) -> tuple[Status, ...]:
    """Every configured experiment with its effective state."""
    async with sessions() as session:
        stored = await store.states(session)
    return effective(
        config.experiments, {key: (row.state, row.winner) for key, row in stored.items()}
    )


@dataclass
class _PinnedTerms(EngineContext):
    """The engine, starting workflows on the given terms instead of the config's."""

    pinned_version: str = ""

    async def terms_version(self) -> str:
        return self.pinned_version


class ExperimentNotStartable(ServiceError):
    """The experiment is not a draft, or another one runs (one decides sign-ups)."""


async def start(
    config: EngineConfig, sessions: SessionFactory, experiment_id: str, actor: str, at: datetime
) -> Status:
    """A draft of the config starts assigning new sign-ups (the state in the database wins
    over the config's ``status``). Its prices must be at the provider first (``lifecycle
    stripe sync-catalog``; the simulator needs nothing)."""
    found = await statuses(config, sessions)
    status = next(s for s in found if s.experiment.id == experiment_id)
    if status.state is not ExperimentState.DRAFT:
        raise ExperimentNotStartable(
            f"experiment {experiment_id!r} is {status.state.value}; only a draft starts "
            "(run it again under a new id)"
        )
    running = [s.experiment.id for s in found if s.state is ExperimentState.RUNNING]
    if running:
        raise ExperimentNotStartable(
            f"experiment {running[0]!r} is running; stop it first (one experiment decides "
            "a sign-up's terms)"
        )
    async with sessions.begin() as session:
        await store.set_state(
            session,
            experiment_id,
            ExperimentState.RUNNING.value,
            winner=None,
            winner_terms_version=None,
            by=actor,
            at=at,
        )
    return next(s for s in await statuses(config, sessions) if s.experiment.id == experiment_id)


async def signup_terms(
    engine: EngineContext, *, customer_id: str, subject: str, at: datetime
) -> tuple[Terms, str] | None:
    """The terms a new customer starts on when an experiment decides them (None: the
    config's). The drawn variant is stored before the workflow starts, so a retried
    sign-up gets the same one even if weights or states changed in between."""
    # No session inside another: SQLite (`lifecycle dev`) takes its write lock at BEGIN.
    async with engine.sessions() as session:
        pinned = await store.pinned_assignment(session, customer_id)
    drawn: tuple[str, str, str, Terms, str | None] | None = None
    if pinned is None:
        deciding_now = deciding(await statuses(engine.config, engine.sessions))
        if deciding_now is None:
            return None
        experiment = deciding_now.experiment
        if deciding_now.winner is not None:
            variant, source = deciding_now.winner, store.FROM_ROLLOUT
        else:
            variant, source = assign(experiment, subject), store.FROM_EXPERIMENT
        terms = variant_terms(config_terms(engine.config), experiment, variant)
        drawn = (experiment.id, variant, source, terms, experiment.book(variant))
    async with engine.sessions.begin() as session:
        if drawn is not None:
            experiment_id, variant, source, terms, book = drawn
            pinned = await store.assign_once(
                session,
                experiment_id=experiment_id,
                subject=subject,
                variant=variant,
                source=source,
                terms_version=await register_terms(session, terms),
                price_book=book,
                customer_id=customer_id,
                at=at,
            )
        assert pinned is not None
        if pinned.source == store.FROM_EXPERIMENT:
            await store.record_exposure(
                session,
                experiment_id=pinned.experiment_id,
                subject=subject,
                variant=pinned.variant,
                source=SIGNUP,
                at=at,
            )
        version = pinned.terms_version
        stored = await load_terms(session, version)
    if stored is None:  # pragma: no cover - assignments name registered terms
        raise LookupError(f"terms {version} are not stored")
    return stored, version


async def start_signed_up_workflow(
    engine: EngineContext, *, customer_id: str, subject: str, signed_up_at: datetime
) -> None:
    """Start a new customer's workflow on the terms an experiment gives it (if any); safe
    to repeat. ``subject`` is the app's id for the customer (its ``external_id``): the
    plans page shows a visitor the variant it will sign up into."""
    chosen = await signup_terms(engine, customer_id=customer_id, subject=subject, at=signed_up_at)
    if chosen is None:
        await start_customer_workflow(engine, customer_id=customer_id, signed_up_at=signed_up_at)
        return
    terms, version = chosen
    pinned = _PinnedTerms(
        config=_with_terms(engine.config, terms),
        sessions=engine.sessions,
        temporal=engine.temporal,
        task_queue=engine.task_queue,
        payments=engine.payments,
        pinned_version=version,
    )
    await start_customer_workflow(pinned, customer_id=customer_id, signed_up_at=signed_up_at)


def _with_terms(config: EngineConfig, terms: Terms) -> EngineConfig:
    return replace(config, policy=terms.policy, catalog=terms.catalog)


async def command_terms_version(engine: EngineContext, customer_id: str) -> str:
    """The terms a plan change of the customer carries: its pinned ones, else today's."""
    async with engine.sessions() as session:
        pinned = await store.pinned_assignment(session, customer_id)
    version = pinned.terms_version if pinned is not None else await engine.terms_version()
    return await in_customer_terms(engine.config, engine.sessions, customer_id, version)


async def customer_terms(config: EngineConfig, sessions: SessionFactory, customer_id: str) -> Terms:
    """The terms the customer's prices come from: its pinned ones, else the config's."""
    async with sessions() as session:
        pinned = await store.pinned_assignment(session, customer_id)
        stored = await load_terms(session, pinned.terms_version) if pinned else None
        customer = await session.get(Customer, customer_id)
    return customer_terms_of(config, stored or config_terms(config), customer)


async def plans_for_visitor(
    config: EngineConfig, sessions: SessionFactory, subject: str, at: datetime
) -> Catalog:
    """The catalog a visitor (the app's id for it, its future ``external_id``) is shown:
    the running experiment's variant for it (an exposure), a rolled-out winner's, or the
    config's."""
    now = deciding(await statuses(config, sessions))
    if now is None:
        return config.catalog
    experiment = now.experiment
    variant = now.winner or assign(experiment, subject)
    if now.winner is None:
        async with sessions.begin() as session:
            await store.record_exposure(
                session,
                experiment_id=experiment.id,
                subject=subject,
                variant=variant,
                source=PLANS_PAGE,
                at=at,
            )
    return variant_terms(config_terms(config), experiment, variant).catalog


async def plans_for_customer(
    config: EngineConfig, sessions: SessionFactory, customer_id: str, at: datetime
) -> Catalog | None:
    """A known customer's catalog (its pinned terms' or the config's), with an exposure
    while its experiment runs; None for an unknown customer."""
    running = {
        s.experiment.id
        for s in await statuses(config, sessions)
        if s.state is ExperimentState.RUNNING
    }
    async with sessions.begin() as session:
        customer = await session.get(Customer, customer_id)
        if customer is None:
            return None
        pinned = await store.pinned_assignment(session, customer_id)
        if pinned is None:
            return customer_terms_of(config, config_terms(config), customer).catalog
        if pinned.source == store.FROM_EXPERIMENT and pinned.experiment_id in running:
            await store.record_exposure(
                session,
                experiment_id=pinned.experiment_id,
                subject=pinned.subject_id,
                variant=pinned.variant,
                source=PLANS_PAGE,
                at=at,
            )
        stored = await load_terms(session, pinned.terms_version)
    return customer_terms_of(config, stored or config_terms(config), customer).catalog


async def customer_price_book(sessions: SessionFactory, customer_id: str) -> str | None:
    """The price book the customer's provider prices come from (None: the list prices)."""
    async with sessions() as session:
        return await store.price_book_of(session, customer_id)
