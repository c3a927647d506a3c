"""HTTP routes of the public catalog: plans with monthly and annual prices and the annual
saving."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from api.auth import Principal, require_app
from api.context import AppContext, get_context
from api.errors import problem_responses
from api.plans import service
from api.plans.schemas import CatalogView

router = APIRouter(prefix="/v1/plans", tags=["plans"])


@router.get("", response_model=CatalogView, responses=problem_responses(404, 422))
async def list_plans(
    visitor_id: str | None = Query(
        default=None,
        min_length=1,
        max_length=255,
        description="The app's id for a visitor about to sign up (the external_id it will "
        "sign up with): the prices of the pricing experiment's variant it will get, and "
        "the visit is logged as an exposure.",
    ),
    customer_id: str | None = Query(
        default=None,
        min_length=1,
        max_length=36,
        description="A customer's own prices (an experiment variant's, kept after the "
        "experiment); logged as an exposure while its experiment runs.",
    ),
    currency: str | None = Query(
        default=None,
        min_length=3,
        max_length=3,
        description="Prices in this currency (ISO 4217, one the catalog is sold in); a "
        "customer's are in its own.",
    ),
    country: str | None = Query(
        default=None,
        max_length=8,
        description="A visitor's billing country (ISO 3166-1 alpha-2): its region's prices "
        "and annual saving, in the region's (or the country's) currency unless `currency`.",
    ),
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> CatalogView:
    return await service.plans_page(
        context, visitor_id=visitor_id, customer_id=customer_id, currency=currency, country=country
    )
