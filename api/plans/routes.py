"""HTTP routes of the public catalog: plans with monthly and annual prices and the annual
saving."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth import Principal, require_app
from api.context import AppContext, get_context
from api.plans import service
from api.plans.schemas import CatalogView

router = APIRouter(prefix="/v1/plans", tags=["plans"])


@router.get("", response_model=CatalogView)
async def list_plans(
    context: AppContext = Depends(get_context), _: Principal = Depends(require_app)
) -> CatalogView:
    return service.catalog_view(context.config.catalog)
