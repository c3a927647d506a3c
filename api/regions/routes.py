"""HTTP routes of regions: the configured regions and an admin's region for a customer.

A customer's own country is set by the app (``PUT /v1/customers/{id}/country``); an admin
may put it in another region, or in none (list prices), whatever its country."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.auth import Principal, require_admin
from api.context import AppContext, get_context
from api.customers import service
from api.customers.schemas import CustomerView, RegionRequest
from api.errors import problem_responses

router = APIRouter(prefix="/v1/admin", tags=["regions"])


class RegionView(BaseModel):
    id: str
    name: str
    countries: list[str]
    price_multiplier: str
    currency: str | None
    book: str


@router.get("/regions", response_model=list[RegionView])
async def list_regions(
    context: AppContext = Depends(get_context), _: Principal = Depends(require_admin)
) -> list[RegionView]:
    return [
        RegionView(
            id=r.id,
            name=r.name,
            countries=list(r.countries),
            price_multiplier=str(float(r.multiplier)),
            currency=r.currency,
            book=r.book,
        )
        for r in context.config.regions
    ]


@router.put(
    "/customers/{customer_id}/region",
    response_model=CustomerView,
    responses=problem_responses(404, 409, 422, 503),
)
async def set_region(
    customer_id: str,
    body: RegionRequest,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_admin),
) -> CustomerView:
    """Put the customer in a region (its prices from the next renewal when subscribed),
    ``none`` for the list prices, or null to follow its billing country again."""
    return await service.set_region(context, customer_id, body, principal.actor)
