"""HTTP routes of customers: sign-up (which starts the trial), the customer view and the
emails' locale."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response

from api.auth import Principal, require_app
from api.context import AppContext, get_context
from api.customers import service
from api.customers.schemas import (
    CountryRequest,
    CurrencyRequest,
    CustomerCreate,
    CustomerView,
    LocaleRequest,
)
from api.errors import problem_responses

router = APIRouter(prefix="/v1/customers", tags=["customers"])


@router.post(
    "",
    status_code=201,
    response_model=CustomerView,
    responses={
        200: {
            "model": CustomerView,
            "description": "The customer already existed (same external_id and email)",
        },
        **problem_responses(409, 503),
    },
)
async def create_customer(
    body: CustomerCreate,
    response: Response,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> CustomerView:
    """Sign a customer up: a trial on the trial plan, no card. Idempotent by ``external_id``."""
    view, created = await service.sign_up(context, body)
    if not created:
        response.status_code = 200
    return view


@router.get("", response_model=CustomerView, responses=problem_responses(404))
async def find_customer(
    external_id: str = Query(min_length=1, max_length=255, description="Your id for the customer"),
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> CustomerView:
    return await service.find_by_external_id(context, external_id)


@router.get("/{customer_id}", response_model=CustomerView)
async def get_customer(
    customer_id: str,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> CustomerView:
    return await service.get_customer(context, customer_id)


@router.put("/{customer_id}/locale", response_model=CustomerView, responses=problem_responses(404))
async def set_locale(
    customer_id: str,
    body: LocaleRequest,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> CustomerView:
    """Change the locale the customer's lifecycle emails are written in (e.g. ``de``)."""
    return await service.set_locale(context, customer_id, body)


@router.put(
    "/{customer_id}/currency",
    response_model=CustomerView,
    responses=problem_responses(404, 409, 422),
)
async def set_currency(
    customer_id: str,
    body: CurrencyRequest,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> CustomerView:
    """Choose the currency the customer pays in (one the catalog is sold in). Fixed by the
    first subscription, as at Stripe: another currency afterwards is refused (409)."""
    return await service.set_currency(context, customer_id, body)


@router.put(
    "/{customer_id}/country",
    response_model=CustomerView,
    responses=problem_responses(404, 409, 422, 503),
)
async def set_country(
    customer_id: str,
    body: CountryRequest,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CustomerView:
    """The billing country (ISO 3166-1 alpha-2), which picks the region's prices. A
    subscribed customer keeps its price and currency until its next renewal, which is
    charged at the new region's price in that currency."""
    return await service.set_country(context, customer_id, body, principal.actor)
