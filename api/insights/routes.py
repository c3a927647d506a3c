"""HTTP routes of the customer insights (scope ``admin``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth import require_admin
from api.context import AppContext, get_context
from api.errors import problem_responses
from api.insights import service
from api.insights.schemas import InsightsView, ModelView, UsageGroupsView
from core.clock import utcnow

router = APIRouter(prefix="/v1/admin", tags=["insights"], dependencies=[Depends(require_admin)])


@router.get("/customers/{customer_id}/insights", response_model=InsightsView)
async def customer_insights(
    customer_id: str, context: AppContext = Depends(get_context)
) -> InsightsView:
    """The customer's churn risk within 30 days, its top reasons, and the facts that weigh
    on it; scored daily by the churn model (see ``GET /v1/admin/analytics/churn-model``)."""
    return await service.insights(context, customer_id, utcnow())


@router.get("/analytics/churn-model", response_model=ModelView, responses=problem_responses(404))
async def churn_model(context: AppContext = Depends(get_context)) -> ModelView:
    """The model behind the scores: its quality on the held-out window, next to the
    baseline rule, and how many customers are in each risk band (404 before the first
    run)."""
    return await service.churn_model(context)


@router.get("/analytics/usage-groups", response_model=UsageGroupsView)
async def usage_groups(context: AppContext = Depends(get_context)) -> UsageGroupsView:
    """Customers grouped by usage shape (k-means on their last twelve weeks and weekday
    rhythm), each group described in words; from the daily analytics run."""
    return await service.groups(context)
