"""HTTP routes of the cancellation save flow. Thin: ``api.retention.service`` owns them."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth import Principal, require_app
from api.billing.routes import IdempotencyKey
from api.context import AppContext, get_context
from api.customers.schemas import CustomerView
from api.errors import COMMAND_PROBLEMS
from api.retention import service
from api.retention.schemas import AcceptOfferRequest, CancellationOffersView, CancellationRequest

router = APIRouter(prefix="/v1/customers/{customer_id}", tags=["retention"])


@router.post(
    "/cancellation-request", response_model=CancellationOffersView, responses=COMMAND_PROBLEMS
)
async def request_cancellation(
    customer_id: str,
    body: CancellationRequest,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CancellationOffersView:
    """The customer asked to cancel: record the exit reason (ledger
    ``cancellation_requested``) and answer the offers that fit, best first for that reason.
    Cancels nothing: the app shows the offers, then takes one (``POST .../offers/accept``)
    or cancels (``POST .../cancel``)."""
    return await service.request_cancellation(
        context, customer_id, body, principal.actor, idempotency_key
    )


@router.post("/offers/accept", response_model=CustomerView, responses=COMMAND_PROBLEMS)
async def accept_offer(
    customer_id: str,
    body: AcceptOfferRequest,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CustomerView:
    """Take an offer in one call: a save-flow offer (``kind`` and the ``reason`` given) or
    one sent earlier by email or in-app notice (``offer_id``). A cancellation scheduled
    for the period end is withdrawn; the ledger records ``offer_accepted``."""
    return await service.accept_offer(context, customer_id, body, principal.actor, idempotency_key)
