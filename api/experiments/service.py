"""The pricing experiments' admin use cases: the list with states, results per variant,
stop, rollout, and moving a pinned customer to today's terms. Reads and state changes take
the config and the sessions (``lifecycle experiments`` runs them too); only the migration
reaches the customer's workflow."""

from __future__ import annotations

from datetime import datetime

from api.context import AppContext
from api.customers.service import customer_or_404
from api.errors import FieldError, Problem, not_found
from api.experiments.schemas import (
    ComparisonView,
    EstimateView,
    ExperimentResultsView,
    ExperimentView,
    GuardrailBreachView,
    MetricView,
    MigrateRequest,
    MigrationView,
    VariantResultView,
    VariantView,
)
from api.lifecycle_client import run_command
from core.config import EngineConfig
from db import experiments as store
from db.engine import SessionFactory
from db.models import ExperimentStateRow
from db.terms import register_terms
from domain.changes import SUBSCRIBABLE
from domain.experiments.model import Experiment, ExperimentState, Status, variant_terms
from domain.experiments.results import Metric, analyse
from domain.lifecycle import BillingInterval
from services.experiments import ExperimentNotStartable, config_terms, statuses
from services.experiments import start as starting
from workflows.customer import CustomerWorkflow
from workflows.messages import ChangeSubscription


def _find(config: EngineConfig, experiment_id: str) -> Experiment:
    for experiment in config.experiments:
        if experiment.id == experiment_id:
            return experiment
    raise not_found("experiment", experiment_id)


def _view(
    status: Status, row: ExperimentStateRow | None, counts: dict[tuple[str, str], int], seen: int
) -> ExperimentView:
    experiment = status.experiment
    return ExperimentView(
        id=experiment.id,
        name=experiment.name,
        state=status.state.value,
        config_status=experiment.state.value,
        winner=status.winner,
        changed_by=row.changed_by if row else None,
        changed_at=row.changed_at if row else None,
        control=experiment.control,
        variants=[
            VariantView(
                id=v.id,
                weight=v.weight,
                changes=v.overrides.describe(),
                price_book=experiment.book(v.id),
            )
            for v in experiment.variants
        ],
        signups=sum(n for (_, source), n in counts.items() if source == store.FROM_EXPERIMENT),
        rollout_signups=sum(n for (_, source), n in counts.items() if source == store.FROM_ROLLOUT),
        visitors=seen,
    )


async def _experiment_view(
    config: EngineConfig, sessions: SessionFactory, status: Status
) -> ExperimentView:
    experiment_id = status.experiment.id
    async with sessions() as session:
        rows = await store.states(session)
        counts = await store.signup_counts(session, experiment_id)
        seen = sum((await store.visitors(session, experiment_id)).values())
    return _view(status, rows.get(experiment_id), counts, seen)


async def _status(config: EngineConfig, sessions: SessionFactory, experiment_id: str) -> Status:
    _find(config, experiment_id)
    return next(s for s in await statuses(config, sessions) if s.experiment.id == experiment_id)


async def list_experiments(config: EngineConfig, sessions: SessionFactory) -> list[ExperimentView]:
    return [await _experiment_view(config, sessions, s) for s in await statuses(config, sessions)]


def _metric(metric: Metric, alpha: float) -> MetricView:
    e, c = metric.estimate, metric.vs_control
    return MetricView(
        estimate=EstimateView(value=e.value, ci_low=e.ci_low, ci_high=e.ci_high, n=e.n),
        vs_control=None
        if c is None
        else ComparisonView(
            difference=c.difference,
            ci_low=c.ci_low,
            ci_high=c.ci_high,
            p_value=c.p_value,
            significant=c.significant(alpha),
        ),
    )


async def results(
    config: EngineConfig, sessions: SessionFactory, experiment_id: str, now: datetime
) -> ExperimentResultsView:
    status = await _status(config, sessions, experiment_id)
    async with sessions() as session:
        records = await store.signup_records(session, experiment_id)
        seen = await store.visitors(session, experiment_id)
    computed = analyse(status.experiment, records, seen, now)
    alpha = computed.alpha
    return ExperimentResultsView(
        experiment=await _experiment_view(config, sessions, status),
        alpha=alpha,
        power=computed.power,
        variants=[
            VariantResultView(
                variant=v.variant,
                control=v.control,
                weight=v.weight,
                changes=v.changes,
                visitors=v.visitors,
                signups=v.signups,
                trial_conversion=_metric(v.trial_conversion, alpha),
                arpu_cents=_metric(v.arpu, alpha),
                churn_30d=_metric(v.churn[30], alpha),
                churn_60d=_metric(v.churn[60], alpha),
                churn_90d=_metric(v.churn[90], alpha),
                revenue_per_visitor_cents=_metric(v.revenue_per_visitor, alpha),
                decline_rate=_metric(v.decline_rate, alpha),
                conversion_mde=v.conversion_mde,
                arpu_mde_cents=v.arpu_mde,
                conversion_power=v.conversion_power,
            )
            for v in computed.variants
        ],
        guardrail_breaches=[
            GuardrailBreachView(
                variant=b.variant,
                metric=b.metric,
                difference=b.difference,
                margin=b.margin,
                p_value=b.p_value,
            )
            for b in computed.breaches
        ],
        computed_at=now,
    )


def _conflict(detail: str) -> Problem:
    return Problem(409, detail, type="transition-not-allowed")


async def start(
    config: EngineConfig, sessions: SessionFactory, experiment_id: str, actor: str, now: datetime
) -> ExperimentView:
    """A draft starts assigning new sign-ups."""
    _find(config, experiment_id)
    try:
        status = await starting(config, sessions, experiment_id, actor, now)
    except ExperimentNotStartable as exc:
        raise _conflict(str(exc)) from None
    return await _experiment_view(config, sessions, status)


async def stop(
    config: EngineConfig, sessions: SessionFactory, experiment_id: str, actor: str, now: datetime
) -> ExperimentView:
    """New sign-ups get the config's terms again (a rollout ends too); every assigned
    customer keeps its variant."""
    status = await _status(config, sessions, experiment_id)
    if status.state not in (ExperimentState.RUNNING, ExperimentState.ROLLED_OUT):
        raise _conflict(f"experiment {experiment_id!r} is {status.state.value}; nothing to stop")
    async with sessions.begin() as session:
        await store.set_state(
            session,
            experiment_id,
            ExperimentState.STOPPED.value,
            winner=None,
            winner_terms_version=None,
            by=actor,
            at=now,
        )
    return await _experiment_view(config, sessions, await _status(config, sessions, experiment_id))


async def rollout(
    config: EngineConfig,
    sessions: SessionFactory,
    experiment_id: str,
    variant: str,
    actor: str,
    now: datetime,
) -> ExperimentView:
    """New sign-ups get ``variant``'s terms (pinned like the experiment's customers) until
    the experiment is stopped, once the operator has put the winner in the config."""
    status = await _status(config, sessions, experiment_id)
    experiment = status.experiment
    known = [v.id for v in experiment.variants]
    if variant not in known:
        raise Problem(
            422,
            f"variant: {variant!r} is not a variant of {experiment_id!r} (known: {known})",
            type="validation-error",
            errors=[FieldError("variant", f"unknown variant; known: {', '.join(known)}")],
        )
    if status.state is ExperimentState.DRAFT:
        raise _conflict(f"experiment {experiment_id!r} never ran; nothing to roll out")
    async with sessions.begin() as session:
        version = await register_terms(
            session, variant_terms(config_terms(config), experiment, variant)
        )
        await store.set_state(
            session,
            experiment_id,
            ExperimentState.ROLLED_OUT.value,
            winner=variant,
            winner_terms_version=version,
            by=actor,
            at=now,
        )
    return await _experiment_view(config, sessions, await _status(config, sessions, experiment_id))


async def migrate(
    context: AppContext,
    experiment_id: str,
    customer_id: str,
    body: MigrateRequest,
    actor: str,
    idempotency_key: str | None,
    now: datetime,
) -> MigrationView:
    """Release a customer from its variant to today's terms. A subscribed customer moves
    through the change-subscription path (a plan or interval change, charged or scheduled as
    any change); a trialing or canceled one converts at today's prices when it does."""
    _find(context.config, experiment_id)
    customer = await customer_or_404(context, customer_id)
    async with context.sessions() as session:
        assignment = await store.customer_assignment(session, experiment_id, customer_id)
    if assignment is None:
        raise not_found(f"customer in experiment {experiment_id!r}", customer_id)
    if assignment.migrated_at is not None:
        raise _conflict(
            f"customer {customer_id!r} was migrated on {assignment.migrated_at:%Y-%m-%d}"
        )
    subscribed = customer.status not in SUBSCRIBABLE
    if subscribed and (body.plan is None or body.interval is None):
        raise Problem(
            422,
            "plan: a subscribed customer moves to today's terms with a plan change; give plan "
            "and interval",
            type="validation-error",
            errors=[FieldError("plan", "required (with interval) for a subscribed customer")],
        )
    if not subscribed and body.plan is not None:
        raise Problem(
            422,
            f"plan: the customer is {customer.status}; it is released and picks its plan when "
            "it converts",
            type="validation-error",
            errors=[FieldError("plan", f"not for a {customer.status} customer")],
        )
    if subscribed and body.plan not in context.config.catalog.plans:
        known = ", ".join(sorted(context.config.catalog.plans))
        raise Problem(
            422,
            f"plan: unknown plan {body.plan!r} (known: {known})",
            type="validation-error",
            errors=[FieldError("plan", f"unknown plan; known plans: {known}")],
        )
    # Released first: the provider price of the change comes from the list book.
    async with context.sessions.begin() as session:
        await store.set_migrated(session, experiment_id, customer_id, now)
    if not subscribed:
        return MigrationView(
            experiment=experiment_id,
            customer_id=customer_id,
            variant=assignment.variant,
            outcome="released",
        )
    assert body.plan is not None and body.interval is not None
    try:
        await run_command(
            context,
            customer_id,
            CustomerWorkflow.change_subscription,
            ChangeSubscription(
                plan=body.plan,
                interval=BillingInterval(body.interval),
                actor=actor,
                when=body.when,
                terms_version=await context.engine.terms_version(),
            ),
            idempotency_key=idempotency_key,
        )
    except BaseException:
        async with context.sessions.begin() as session:
            await store.set_migrated(session, experiment_id, customer_id, None)
        raise
    return MigrationView(
        experiment=experiment_id,
        customer_id=customer_id,
        variant=assignment.variant,
        outcome="changed",
    )
