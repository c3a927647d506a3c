"""HTTP routes of billing: subscribe and change plans, cancel, pause, payment method,
address, invoices.

Lifecycle commands go through the customer's workflow (a Temporal Update) and answer the
new customer view, 409 when the state does not allow it, 402 when the card is declined.
Reads (preview, invoices, the billing page) and the customer's personal data (billing
address) do not pass through the workflow, which carries no PII. Thin: each route hands
its use case to ``api.billing.service`` or ``api.billing.hosted``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Query

from api.auth import Principal, require_app
from api.billing import hosted, service
from api.billing.schemas import (
    AddonPurchaseRequest,
    AddonsView,
    BillingAddressRequest,
    BillingView,
    CancelRequest,
    CheckoutRequest,
    InvoiceView,
    PauseRequest,
    PaymentMethodRequest,
    PreviewView,
    ReturnUrlRequest,
    SubscriptionRequest,
    UrlView,
)
from api.context import AppContext, get_context
from api.customers.schemas import CustomerView
from api.errors import COMMAND_PROBLEMS, PROVIDER_PROBLEMS, problem_responses
from api.schemas import ListEnvelope
from domain.lifecycle import BillingInterval

router = APIRouter(prefix="/v1/customers/{customer_id}", tags=["billing"])

IdempotencyKey = Header(
    default=None,
    alias="Idempotency-Key",
    max_length=255,
    description="Repeat a request with the same key to get the first outcome, not a second run",
)


@router.post("/subscription", response_model=CustomerView, responses=COMMAND_PROBLEMS)
async def change_subscription(
    customer_id: str,
    body: SubscriptionRequest,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CustomerView:
    """Convert a trial (or expired trial) to a paid plan, or change an active plan.

    Upgrades apply now and charge the proration now; downgrades wait for the period end
    (``scheduled_change``) unless ``when`` is ``now``. A declined card answers 402 with
    the decline code and changes nothing.
    """
    return await service.change_subscription(
        context, customer_id, body, principal.actor, idempotency_key
    )


@router.get("/subscription/preview", response_model=PreviewView, responses=PROVIDER_PROBLEMS)
async def preview_subscription(
    customer_id: str,
    plan: str = Query(min_length=1, max_length=64),
    interval: BillingInterval = Query(default=BillingInterval.MONTH),
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> PreviewView:
    """What the change would charge now and on the next invoice; nothing is charged."""
    return await service.preview_change(context, customer_id, plan, interval)


@router.post("/cancel", response_model=CustomerView, responses=COMMAND_PROBLEMS)
async def cancel_subscription(
    customer_id: str,
    body: CancelRequest,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CustomerView:
    return await service.cancel(context, customer_id, body, principal.actor, idempotency_key)


@router.post("/reactivate", response_model=CustomerView, responses=COMMAND_PROBLEMS)
async def reactivate_subscription(
    customer_id: str,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CustomerView:
    """Withdraw a cancellation scheduled for the period end."""
    return await service.reactivate(context, customer_id, principal.actor, idempotency_key)


@router.post("/pause", response_model=CustomerView, responses=COMMAND_PROBLEMS)
async def pause_subscription(
    customer_id: str,
    body: PauseRequest,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CustomerView:
    return await service.pause(context, customer_id, body, principal.actor, idempotency_key)


@router.post("/resume", response_model=CustomerView, responses=COMMAND_PROBLEMS)
async def resume_subscription(
    customer_id: str,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CustomerView:
    return await service.resume(context, customer_id, principal.actor, idempotency_key)


@router.post("/addons", response_model=AddonsView, responses=COMMAND_PROBLEMS)
async def purchase_addon(
    customer_id: str,
    body: AddonPurchaseRequest,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> AddonsView:
    """Buy an add-on: extra chatbots and feature add-ons join the subscription (prorated
    now), a message pack is charged now for the current period. Limits rise at once."""
    return await service.purchase_addon(
        context, customer_id, body, principal.actor, idempotency_key
    )


@router.get("/addons", response_model=AddonsView)
async def list_addons(
    customer_id: str,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> AddonsView:
    return await service.list_addons(context, customer_id)


@router.put("/payment-method", response_model=CustomerView, responses=COMMAND_PROBLEMS)
async def update_payment_method(
    customer_id: str,
    body: PaymentMethodRequest,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CustomerView:
    return await service.update_payment_method(
        context, customer_id, body, principal.actor, idempotency_key
    )


@router.put("/billing-address", response_model=CustomerView, responses=PROVIDER_PROBLEMS)
async def update_billing_address(
    customer_id: str,
    body: BillingAddressRequest,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> CustomerView:
    """Store the address and sync it to the provider customer, where invoices show it."""
    return await service.update_billing_address(context, customer_id, body)


@router.post(
    "/checkout-session",
    response_model=UrlView,
    responses=PROVIDER_PROBLEMS | problem_responses(409),
)
async def create_checkout_session(
    customer_id: str,
    body: CheckoutRequest,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> UrlView:
    """A Stripe Checkout page where the customer converts with their card."""
    return await hosted.create_checkout_session(context, customer_id, body)


@router.post(
    "/portal-session", response_model=UrlView, responses=PROVIDER_PROBLEMS | problem_responses(409)
)
async def create_portal_session(
    customer_id: str,
    body: ReturnUrlRequest,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> UrlView:
    """The Stripe Customer Portal: cards, plan and invoices, self-serve."""
    return await hosted.create_portal_session(context, customer_id, body)


@router.get("/invoices", response_model=ListEnvelope[InvoiceView])
async def list_invoices(
    customer_id: str,
    limit: int = Query(default=24, ge=1, le=100),
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> ListEnvelope[InvoiceView]:
    return ListEnvelope(data=await service.list_invoices(context, customer_id, limit))


@router.get("/billing", response_model=BillingView)
async def billing_page(
    customer_id: str,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> BillingView:
    """Everything a billing page needs in one call."""
    return await service.billing_page(context, customer_id)
