"""HTTP routes of the pricing experiments (scope ``admin``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth import Principal, require_admin
from api.billing.routes import IdempotencyKey
from api.context import AppContext, get_context
from api.errors import problem_responses
from api.experiments import service
from api.experiments.schemas import (
    ExperimentResultsView,
    ExperimentView,
    MigrateRequest,
    MigrationView,
    RolloutRequest,
)
from core.clock import utcnow

router = APIRouter(
    prefix="/v1/admin/experiments", tags=["experiments"], dependencies=[Depends(require_admin)]
)


@router.get("", response_model=list[ExperimentView])
async def list_experiments(context: AppContext = Depends(get_context)) -> list[ExperimentView]:
    """Every configured experiment with its state (an operator's stop or rollout wins over
    the config's status), its variants and how many it assigned and showed."""
    return await service.list_experiments(context.config, context.sessions)


@router.get(
    "/{experiment_id}", response_model=ExperimentResultsView, responses=problem_responses(404)
)
async def experiment_results(
    experiment_id: str, context: AppContext = Depends(get_context)
) -> ExperimentResultsView:
    """Results per variant against the control: trial conversion, ARPU, 30/60/90-day churn,
    revenue per visitor, payment decline rate, each with its confidence interval and the
    test's p-value; the effect the sample can detect; guardrail breaches."""
    return await service.results(context.config, context.sessions, experiment_id, utcnow())


@router.post(
    "/{experiment_id}/start", response_model=ExperimentView, responses=problem_responses(404, 409)
)
async def start_experiment(
    experiment_id: str,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> ExperimentView:
    """A draft of the config starts assigning new sign-ups (409 when it is not a draft or
    another experiment runs). Run `lifecycle stripe sync-catalog` first."""
    return await service.start(
        context.config, context.sessions, experiment_id, principal.actor, utcnow()
    )


@router.post(
    "/{experiment_id}/stop", response_model=ExperimentView, responses=problem_responses(404, 409)
)
async def stop_experiment(
    experiment_id: str,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> ExperimentView:
    """New sign-ups get the config's terms; assigned customers keep their variant."""
    return await service.stop(
        context.config, context.sessions, experiment_id, principal.actor, utcnow()
    )


@router.post(
    "/{experiment_id}/rollout",
    response_model=ExperimentView,
    responses=problem_responses(404, 409, 422),
)
async def rollout_experiment(
    experiment_id: str,
    body: RolloutRequest,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> ExperimentView:
    """New sign-ups get the winner's terms until the experiment is stopped (once the config
    carries them); existing customers keep theirs."""
    return await service.rollout(
        context.config, context.sessions, experiment_id, body.variant, principal.actor, utcnow()
    )


@router.post(
    "/{experiment_id}/customers/{customer_id}/migrate",
    response_model=MigrationView,
    responses=problem_responses(402, 404, 409, 422, 503),
)
async def migrate_customer(
    experiment_id: str,
    customer_id: str,
    body: MigrateRequest,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
    idempotency_key: str | None = IdempotencyKey,
) -> MigrationView:
    """Release a customer from its variant to today's terms: a subscribed customer through
    a plan change (the change-subscription path), a trialing one at its conversion."""
    return await service.migrate(
        context, experiment_id, customer_id, body, principal.actor, idempotency_key, utcnow()
    )
