"""The provider's hosted pages: a Checkout session to convert a trial with a card, and the
Customer Portal. Both need a provider customer, created here on demand."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from adapters.payments.addresses import sync_billing_address
from adapters.payments.base import PaymentError
from adapters.payments.tax_ids import sync_tax_ids
from api.billing.schemas import CheckoutRequest, ReturnUrlRequest, UrlView
from api.billing.service import require_plan
from api.context import AppContext
from api.customers.service import customer_or_404
from api.errors import Problem
from api.payment_errors import payment_problem
from db.models import Customer
from domain.changes import SUBSCRIBABLE
from domain.lifecycle import BillingInterval
from domain.payments import PriceRef
from domain.provider_keys import checkout_key, provider_customer_key
from domain.regions import region_book
from services.experiments import customer_price_book


async def _provider_customer(context: AppContext, customer: Customer) -> str:
    """The provider customer, created on demand: Checkout and the portal need one."""
    if customer.provider_customer_id:
        return customer.provider_customer_id
    # The address goes to the provider before the id is stored, as in the billing
    # activity: a failed sync stores nothing, so the next call ensures the same customer
    # (same idempotency key) and syncs again, instead of finding the id and skipping it.
    try:
        provider_id = await context.payments.ensure_customer(
            customer_id=customer.id,
            email=customer.email,
            name=customer.name,
            idempotency_key=provider_customer_key(customer.id),
        )
        if customer.billing_address:
            await sync_billing_address(
                context.payments,
                provider_id,
                customer_id=customer.id,
                address=customer.billing_address,
                stored_at=customer.updated_at,
            )
        # Tax ids given during the trial: Stripe Tax and the invoices read them there.
        await sync_tax_ids(
            context.payments,
            context.sessions,
            customer_id=customer.id,
            provider_customer_id=provider_id,
        )
    except PaymentError as exc:
        raise payment_problem(exc) from None
    async with context.sessions.begin() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == customer.id, Customer.provider_customer_id.is_(None))
            .values(provider_customer_id=provider_id, updated_at=datetime.now(UTC))
        )
    return provider_id


def _with_query(url: str, value: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}checkout={value}"


async def create_checkout_session(
    context: AppContext, customer_id: str, body: CheckoutRequest
) -> UrlView:
    """A Stripe Checkout page where the customer converts with their card."""
    customer = await customer_or_404(context, customer_id)
    if customer.status not in SUBSCRIBABLE:
        raise Problem(
            409,
            f"checkout converts trials; the customer is {customer.status}",
            type="transition-not-allowed",
        )
    plan = body.plan or context.config.policy.trial.plan
    require_plan(context, plan)
    provider_id = await _provider_customer(context, customer)
    return_url = str(body.return_url)
    interval = BillingInterval(body.interval)
    try:
        url = await context.payments.create_checkout_session(
            provider_customer_id=provider_id,
            customer_id=customer.id,
            price=PriceRef(
                plan,
                interval,
                book=region_book(customer.region)
                if customer.region
                else await customer_price_book(context.sessions, customer.id),
            ),
            success_url=_with_query(return_url, "success"),
            cancel_url=_with_query(return_url, "canceled"),
            idempotency_key=checkout_key(
                customer.id, plan, interval.value, return_url, customer.updated_at
            ),
            # The customer's chosen currency: Stripe charges the prices' currency_options.
            currency=customer.currency,
            # With the currency, where the customer is says which local methods fit.
            country=customer.country,
        )
    except PaymentError as exc:
        raise payment_problem(exc) from None
    return UrlView(url=url)


async def create_portal_session(
    context: AppContext, customer_id: str, body: ReturnUrlRequest
) -> UrlView:
    """The Stripe Customer Portal: cards, plan and invoices, self-serve."""
    customer = await customer_or_404(context, customer_id)
    provider_id = await _provider_customer(context, customer)
    try:
        url = await context.payments.create_portal_session(
            provider_customer_id=provider_id, return_url=str(body.return_url)
        )
    except PaymentError as exc:
        raise payment_problem(exc) from None
    return UrlView(url=url)
