"""The save flow's use cases. The offers come from today's ``[save_flow]`` config and the
customer's read model; the workflow records the reason, checks an accepted offer against
its own state and carries it out."""

from __future__ import annotations

from datetime import UTC, datetime

from api.context import AppContext
from api.customers.schemas import CustomerView
from api.customers.service import customer_or_404, customer_view
from api.errors import FieldError, Problem
from api.lifecycle_client import run_command
from api.retention.schemas import (
    AcceptOfferRequest,
    CancellationOffersView,
    CancellationRequest,
    OfferView,
)
from db.models import Customer
from db.retention import save_offers_taken
from domain.lifecycle import BillingInterval, Status
from domain.retention import (
    SAVE_OFFER_EVERY,
    CustomerPosition,
    ExitReason,
    OfferKind,
    RetentionOffer,
    offers_for,
)
from workflows.customer import CustomerWorkflow
from workflows.messages import AcceptOffer, RequestCancellation


async def _offers(
    context: AppContext, customer: Customer, reason: ExitReason
) -> list[RetentionOffer]:
    async with context.sessions() as session:
        taken = await save_offers_taken(session, customer.id, datetime.now(UTC) - SAVE_OFFER_EVERY)
    position = CustomerPosition(
        status=Status(customer.status),
        plan=customer.plan,
        interval=BillingInterval(customer.interval) if customer.interval else None,
        recently_taken=frozenset(k for k in OfferKind if k.value in taken),
    )
    config = context.config
    return offers_for(position, reason, config.catalog, config.save_flow)


def _view(offer: RetentionOffer) -> OfferView:
    return OfferView(
        kind=offer.kind,
        headline=offer.headline,
        days=offer.days,
        coupon=offer.coupon,
        plan=offer.plan,
        interval=offer.interval.value if offer.interval else None,
        monthly_saving_cents=offer.monthly_saving_cents,
    )


async def request_cancellation(
    context: AppContext,
    customer_id: str,
    body: CancellationRequest,
    actor: str,
    idempotency_key: str | None,
) -> CancellationOffersView:
    """Record why the customer wants to leave and answer the offers that fit; cancels
    nothing."""
    customer = await customer_or_404(context, customer_id)
    offers = await _offers(context, customer, body.reason)
    await run_command(
        context,
        customer_id,
        CustomerWorkflow.request_cancellation,
        RequestCancellation(
            reason=body.reason.value,
            offers=tuple(offer.kind.value for offer in offers),
            actor=actor,
        ),
        idempotency_key=idempotency_key,
    )
    return CancellationOffersView(
        reason=body.reason,
        offers=[_view(offer) for offer in offers],
        customer=customer_view(await customer_or_404(context, customer_id)),
    )


async def accept_offer(
    context: AppContext,
    customer_id: str,
    body: AcceptOfferRequest,
    actor: str,
    idempotency_key: str | None,
) -> CustomerView:
    """Take an offer in one call: one sent earlier (``offer_id``) or one the save flow
    shows for the reason given."""
    customer = await customer_or_404(context, customer_id)
    if body.offer_id is not None:
        if body.kind is not OfferKind.COUPON:
            raise Problem(
                422,
                "kind: offers sent to customers are coupon offers",
                type="validation-error",
                errors=[FieldError("kind", "must be coupon with an offer_id")],
            )
        command = AcceptOffer(
            kind=body.kind.value,
            actor=actor,
            offer_id=body.offer_id,
            reason=body.reason.value if body.reason else None,
        )
    else:
        if body.reason is None:
            raise Problem(
                422,
                "reason: required to take a save-flow offer",
                type="validation-error",
                errors=[FieldError("reason", "required without offer_id")],
            )
        fitting = await _offers(context, customer, body.reason)
        offer = next((o for o in fitting if o.kind is body.kind), None)
        if offer is None:
            shown = ", ".join(o.kind.value for o in fitting) or "none"
            raise Problem(
                409,
                f"kind: no {body.kind.value} offer fits this customer now (offers: {shown})",
                type="transition-not-allowed",
            )
        command = AcceptOffer(
            kind=offer.kind.value,
            actor=actor,
            reason=body.reason.value,
            coupon=offer.coupon,
            plan=offer.plan,
            interval=offer.interval,
            days=offer.days,
        )
    await run_command(
        context,
        customer_id,
        CustomerWorkflow.accept_offer,
        command,
        idempotency_key=idempotency_key,
    )
    return customer_view(await customer_or_404(context, customer_id))
