"""Billing: subscribe and change plans, cancel, pause, payment method, address, invoices.

Lifecycle commands go through the customer's workflow (a Temporal Update) and answer the
new customer view, 409 when the state does not allow it, 402 when the card is declined.
Reads (preview, invoices, the billing page) and the customer's personal data (billing
address) do not pass through the workflow, which carries no PII.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Header, Query
from sqlalchemy import select, update

from adapters.payments.addresses import sync_billing_address
from adapters.payments.base import (
    PaymentError,
    PriceRef,
)
from api.auth import Principal, require_app
from api.context import AppContext, get_context
from api.errors import (
    COMMAND_PROBLEMS,
    PROVIDER_PROBLEMS,
    FieldError,
    Problem,
    not_found,
    problem_responses,
)
from api.lifecycle_client import run_command
from api.payment_errors import payment_problem
from api.routers.customers import customer_view
from api.schemas import (
    AddonPurchaseRequest,
    AddonsView,
    BillingAddressRequest,
    BillingView,
    CancelRequest,
    CheckoutRequest,
    CustomerView,
    HeldAddonView,
    InvoiceView,
    ListEnvelope,
    NextInvoiceView,
    PauseRequest,
    PaymentMethodRequest,
    PaymentMethodView,
    PlanOption,
    PreviewLine,
    PreviewView,
    ReturnUrlRequest,
    SubscriptionRequest,
    UrlView,
)
from db.models import Customer, CustomerAddon, Invoice
from domain.changes import SUBSCRIBABLE
from domain.lifecycle import BillingInterval, Status
from domain.provider_keys import checkout_key, provider_customer_key
from workflows.customer import CustomerWorkflow
from workflows.messages import (
    CancelSubscription,
    ChangeSubscription,
    PauseSubscription,
    PurchaseAddon,
    ReactivateSubscription,
    ResumeSubscription,
    UpdatePaymentMethod,
)

router = APIRouter(prefix="/v1/customers/{customer_id}", tags=["billing"])

IdempotencyKey = Header(
    default=None,
    alias="Idempotency-Key",
    max_length=255,
    description="Repeat a request with the same key to get the first outcome, not a second run",
)


async def _customer(context: AppContext, customer_id: str) -> Customer:
    async with context.sessions() as session:
        customer = await session.get(Customer, customer_id)
    if customer is None:
        raise not_found("customer", customer_id)
    return customer


def _require_plan(context: AppContext, plan: str, *, field: str = "plan") -> None:
    found = context.config.catalog.plans.get(plan)
    if found is None:
        known = ", ".join(sorted(context.config.catalog.plans))
        raise Problem(
            422,
            f"{field}: unknown plan {plan!r} (known: {known})",
            type="validation-error",
            errors=[FieldError(field, f"unknown plan; known plans: {known}")],
        )


async def _command_result(context: AppContext, customer_id: str) -> CustomerView:
    return customer_view(await _customer(context, customer_id))


async def _command(
    context: AppContext,
    customer_id: str,
    update: Any,
    command: Any,
    idempotency_key: str | None,
) -> CustomerView:
    """404 for an unknown customer, the workflow's answer otherwise, then the fresh view."""
    await _customer(context, customer_id)
    await run_command(context, customer_id, update, command, idempotency_key=idempotency_key)
    return await _command_result(context, customer_id)


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
    await _customer(context, customer_id)
    _require_plan(context, body.plan)
    if not context.config.catalog.plan(body.plan).self_serve:
        raise Problem(
            409,
            f"plan {body.plan!r} is sales-led; contact sales to subscribe",
            type="transition-not-allowed",
        )
    await run_command(
        context,
        customer_id,
        CustomerWorkflow.change_subscription,
        ChangeSubscription(
            plan=body.plan,
            interval=BillingInterval(body.interval),
            actor=principal.actor,
            payment_method=body.payment_method,
            when=body.when,
        ),
        idempotency_key=idempotency_key,
    )
    return await _command_result(context, customer_id)


@router.get("/subscription/preview", response_model=PreviewView, responses=PROVIDER_PROBLEMS)
async def preview_subscription(
    customer_id: str,
    plan: str = Query(min_length=1, max_length=64),
    interval: BillingInterval = Query(default=BillingInterval.MONTH),
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> PreviewView:
    """What the change would charge now and on the next invoice; nothing is charged."""
    customer = await _customer(context, customer_id)
    _require_plan(context, plan)
    catalog = context.config.catalog
    price = PriceRef(plan, interval)
    subscription_id = (
        customer.provider_subscription_id if customer.status not in SUBSCRIBABLE else None
    )
    if customer.provider_customer_id is None:
        # No provider customer yet: the first invoice is the plan's full price.
        amount = catalog.price_cents(catalog.plan(plan), interval) or 0
        return PreviewView(
            plan=plan,
            interval=interval.value,
            currency=catalog.currency,
            amount_due_now_cents=amount,
            next_invoice_amount_cents=amount,
            next_invoice_at=None,
            lines=[
                PreviewLine(
                    description=f"{catalog.plan(plan).name} ({interval.value}ly)",
                    amount_cents=amount,
                    proration=False,
                    period_start=None,
                    period_end=None,
                )
            ],
        )
    try:
        preview = await context.payments.preview_change(
            provider_customer_id=customer.provider_customer_id,
            subscription_id=subscription_id,
            price=price,
            proration="always_invoice",
        )
    except PaymentError as exc:
        raise payment_problem(exc) from None
    return PreviewView(
        plan=plan,
        interval=interval.value,
        currency=preview.currency,
        amount_due_now_cents=preview.amount_due_now_cents,
        next_invoice_amount_cents=preview.next_invoice_amount_cents,
        next_invoice_at=preview.next_invoice_at,
        lines=[
            PreviewLine(
                description=line.description,
                amount_cents=line.amount_cents,
                proration=line.proration,
                period_start=line.period_start,
                period_end=line.period_end,
            )
            for line in preview.lines
        ],
    )


@router.post("/cancel", response_model=CustomerView, responses=COMMAND_PROBLEMS)
async def cancel_subscription(
    customer_id: str,
    body: CancelRequest,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CustomerView:
    return await _command(
        context,
        customer_id,
        CustomerWorkflow.cancel,
        CancelSubscription(actor=principal.actor, at_period_end=body.at_period_end),
        idempotency_key,
    )


@router.post("/reactivate", response_model=CustomerView, responses=COMMAND_PROBLEMS)
async def reactivate_subscription(
    customer_id: str,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CustomerView:
    """Withdraw a cancellation scheduled for the period end."""
    return await _command(
        context,
        customer_id,
        CustomerWorkflow.reactivate,
        ReactivateSubscription(actor=principal.actor),
        idempotency_key,
    )


@router.post("/pause", response_model=CustomerView, responses=COMMAND_PROBLEMS)
async def pause_subscription(
    customer_id: str,
    body: PauseRequest,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CustomerView:
    if body.resumes_at is not None and body.resumes_at <= datetime.now(UTC):
        raise Problem(
            422,
            "resumes_at: must be in the future",
            type="validation-error",
            errors=[FieldError("resumes_at", "must be in the future")],
        )
    return await _command(
        context,
        customer_id,
        CustomerWorkflow.pause,
        PauseSubscription(actor=principal.actor, resumes_at=body.resumes_at),
        idempotency_key,
    )


@router.post("/resume", response_model=CustomerView, responses=COMMAND_PROBLEMS)
async def resume_subscription(
    customer_id: str,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CustomerView:
    return await _command(
        context,
        customer_id,
        CustomerWorkflow.resume,
        ResumeSubscription(actor=principal.actor),
        idempotency_key,
    )


async def _held_addons(context: AppContext, customer: Customer) -> list[HeldAddonView]:
    async with context.sessions() as session:
        rows = await session.scalars(
            select(CustomerAddon)
            .where(CustomerAddon.customer_id == customer.id, CustomerAddon.active.is_(True))
            .order_by(CustomerAddon.id)
        )
        held: dict[tuple[str, datetime | None], HeldAddonView] = {}
        for row in rows:
            if row.kind == "one_off" and row.period_start != customer.current_period_start:
                continue
            key = (row.addon, row.period_start)
            if key in held:
                held[key].quantity += row.quantity
            else:
                held[key] = HeldAddonView(
                    addon=row.addon,
                    kind=row.kind,
                    quantity=row.quantity,
                    period_start=row.period_start,
                    period_end=row.period_end,
                )
        return list(held.values())


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
    await _customer(context, customer_id)
    if body.addon not in context.config.catalog.addons:
        known = ", ".join(sorted(context.config.catalog.addons))
        raise Problem(
            422,
            f"addon: unknown add-on {body.addon!r} (known: {known})",
            type="validation-error",
            errors=[FieldError("addon", f"unknown add-on; known: {known}")],
        )
    await run_command(
        context,
        customer_id,
        CustomerWorkflow.purchase_addon,
        PurchaseAddon(addon=body.addon, quantity=body.quantity, actor=principal.actor),
        idempotency_key=idempotency_key,
    )
    customer = await _customer(context, customer_id)
    return AddonsView(
        customer=customer_view(customer), addons=await _held_addons(context, customer)
    )


@router.get("/addons", response_model=AddonsView)
async def list_addons(
    customer_id: str,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> AddonsView:
    customer = await _customer(context, customer_id)
    return AddonsView(
        customer=customer_view(customer), addons=await _held_addons(context, customer)
    )


@router.put("/payment-method", response_model=CustomerView, responses=COMMAND_PROBLEMS)
async def update_payment_method(
    customer_id: str,
    body: PaymentMethodRequest,
    idempotency_key: str | None = IdempotencyKey,
    context: AppContext = Depends(get_context),
    principal: Principal = Depends(require_app),
) -> CustomerView:
    return await _command(
        context,
        customer_id,
        CustomerWorkflow.update_payment_method,
        UpdatePaymentMethod(actor=principal.actor, payment_method=body.payment_method),
        idempotency_key,
    )


@router.put("/billing-address", response_model=CustomerView, responses=PROVIDER_PROBLEMS)
async def update_billing_address(
    customer_id: str,
    body: BillingAddressRequest,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> CustomerView:
    """Store the address and sync it to the provider customer, where invoices show it."""
    customer = await _customer(context, customer_id)
    address = body.model_dump()
    stored_at = datetime.now(UTC)
    if customer.provider_customer_id is not None:
        try:
            await sync_billing_address(
                context.payments,
                customer.provider_customer_id,
                customer_id=customer_id,
                address=address,
                stored_at=stored_at,
            )
        except PaymentError as exc:
            raise payment_problem(exc) from None
    async with context.sessions.begin() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == customer_id)
            .values(billing_address=address, updated_at=stored_at)
        )
    return await _command_result(context, customer_id)


async def _provider_customer(context: AppContext, customer: Customer) -> str:
    """The provider customer, created on demand: Checkout and the portal need one."""
    if customer.provider_customer_id:
        return customer.provider_customer_id
    try:
        provider_id = await context.payments.ensure_customer(
            customer_id=customer.id,
            email=customer.email,
            name=customer.name,
            idempotency_key=provider_customer_key(customer.id),
        )
    except PaymentError as exc:
        raise payment_problem(exc) from None
    async with context.sessions.begin() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == customer.id, Customer.provider_customer_id.is_(None))
            .values(provider_customer_id=provider_id, updated_at=datetime.now(UTC))
        )
    if customer.billing_address:
        await sync_billing_address(
            context.payments,
            provider_id,
            customer_id=customer.id,
            address=customer.billing_address,
            stored_at=customer.updated_at,
        )
    return provider_id


def _with_query(url: str, value: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}checkout={value}"


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
    customer = await _customer(context, customer_id)
    if customer.status not in SUBSCRIBABLE:
        raise Problem(
            409,
            f"checkout converts trials; the customer is {customer.status}",
            type="transition-not-allowed",
        )
    plan = body.plan or context.config.policy.trial.plan
    _require_plan(context, plan)
    provider_id = await _provider_customer(context, customer)
    return_url = str(body.return_url)
    interval = BillingInterval(body.interval)
    try:
        url = await context.payments.create_checkout_session(
            provider_customer_id=provider_id,
            customer_id=customer.id,
            price=PriceRef(plan, interval),
            success_url=_with_query(return_url, "success"),
            cancel_url=_with_query(return_url, "canceled"),
            idempotency_key=checkout_key(
                customer.id, plan, interval.value, return_url, customer.updated_at
            ),
        )
    except PaymentError as exc:
        raise payment_problem(exc) from None
    return UrlView(url=url)


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
    customer = await _customer(context, customer_id)
    provider_id = await _provider_customer(context, customer)
    try:
        url = await context.payments.create_portal_session(
            provider_customer_id=provider_id, return_url=str(body.return_url)
        )
    except PaymentError as exc:
        raise payment_problem(exc) from None
    return UrlView(url=url)


def _invoice_view(row: Invoice) -> InvoiceView:
    return InvoiceView.model_validate(row, from_attributes=True)


async def _invoices(context: AppContext, customer_id: str, limit: int) -> list[InvoiceView]:
    async with context.sessions() as session:
        rows = await session.scalars(
            select(Invoice)
            .where(Invoice.customer_id == customer_id)
            # Provider times are whole seconds; numbers break ties in issue order.
            .order_by(Invoice.created_at.desc(), Invoice.number.desc(), Invoice.id.desc())
            .limit(limit)
        )
        return [_invoice_view(row) for row in rows]


@router.get("/invoices", response_model=ListEnvelope[InvoiceView])
async def list_invoices(
    customer_id: str,
    limit: int = Query(default=24, ge=1, le=100),
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> ListEnvelope[InvoiceView]:
    await _customer(context, customer_id)
    return ListEnvelope(data=await _invoices(context, customer_id, limit))


@router.get("/billing", response_model=BillingView)
async def billing_page(
    customer_id: str,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> BillingView:
    """Everything a billing page needs in one call."""
    customer = await _customer(context, customer_id)
    catalog = context.config.catalog
    now = datetime.now(UTC)
    trial_days_left = None
    if customer.status == Status.TRIALING and customer.trial_ends_at is not None:
        trial_days_left = max(0, math.ceil((customer.trial_ends_at - now).total_seconds() / 86400))
    next_invoice = None
    if (
        customer.status in (Status.ACTIVE, Status.PAST_DUE)
        and not customer.cancel_at_period_end
        and customer.current_period_end is not None
        and customer.interval is not None
    ):
        change = customer.scheduled_change or {}
        plan_id = change.get("plan", customer.plan)
        interval = BillingInterval(change.get("interval", customer.interval))
        next_invoice = NextInvoiceView(
            amount_cents=catalog.price_cents(catalog.plan(plan_id), interval) or 0,
            at=customer.current_period_end,
            plan=plan_id,
            interval=interval.value,
        )
    payment_method = (
        PaymentMethodView(
            brand=customer.payment_method_brand,
            last4=customer.payment_method_last4,
            exp_month=customer.payment_method_exp_month,
            exp_year=customer.payment_method_exp_year,
        )
        if customer.payment_method_id
        else None
    )
    plan = catalog.plans.get(customer.plan)
    return BillingView(
        customer=customer_view(customer),
        status=customer.status,
        plan=customer.plan,
        plan_name=plan.name if plan else customer.plan,
        interval=customer.interval,
        trial_days_left=trial_days_left,
        mrr_cents=customer.mrr_cents,
        currency=catalog.currency,
        next_invoice=next_invoice,
        payment_method=payment_method,
        billing_address=customer.billing_address,
        recent_invoices=await _invoices(context, customer_id, 5),
        plans=[
            PlanOption(
                plan=p.id,
                name=p.name,
                monthly_price_cents=p.monthly_price_cents,
                annual_price_cents=catalog.annual_price_cents(p),
                annual_saving_cents=catalog.annual_saving_cents(p),
                limits=dict(p.limits),
                current=p.id == customer.plan,
            )
            for p in catalog.plans.values()
        ],
    )
