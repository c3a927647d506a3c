"""The billing use cases. Lifecycle commands go through the customer's workflow (a Temporal
Update) and answer the new customer view; reads (preview, invoices, the billing page) and
the customer's personal data (billing address) do not pass through the workflow, which
carries no PII."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from adapters.payments.addresses import sync_billing_address
from adapters.payments.base import PaymentError
from api.billing.schemas import (
    AddonPurchaseRequest,
    AddonsView,
    BillingAddressRequest,
    BillingView,
    CancelRequest,
    HeldAddonView,
    InvoiceView,
    NextInvoiceView,
    PauseRequest,
    PaymentMethodRequest,
    PaymentMethodView,
    PlanOption,
    PreviewLine,
    PreviewView,
    SubscriptionRequest,
)
from api.context import AppContext
from api.customers.schemas import CustomerView
from api.customers.service import customer_or_404, customer_view
from api.errors import FieldError, Problem
from api.lifecycle_client import run_command
from api.payment_errors import payment_problem
from db.models import Customer, CustomerAddon, Invoice
from domain.changes import SUBSCRIBABLE
from domain.lifecycle import BillingInterval, Status
from domain.payments import PriceRef
from services.experiments import customer_terms
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


def require_plan(context: AppContext, plan: str, *, field: str = "plan") -> None:
    found = context.config.catalog.plans.get(plan)
    if found is None:
        known = ", ".join(sorted(context.config.catalog.plans))
        raise Problem(
            422,
            f"{field}: unknown plan {plan!r} (known: {known})",
            type="validation-error",
            errors=[FieldError(field, f"unknown plan; known plans: {known}")],
        )


async def fresh_view(context: AppContext, customer_id: str) -> CustomerView:
    return customer_view(await customer_or_404(context, customer_id))


async def _command(
    context: AppContext,
    customer_id: str,
    update: Any,
    command: Any,
    idempotency_key: str | None,
) -> CustomerView:
    """404 for an unknown customer, the workflow's answer otherwise, then the fresh view."""
    await customer_or_404(context, customer_id)
    await run_command(context, customer_id, update, command, idempotency_key=idempotency_key)
    return await fresh_view(context, customer_id)


async def change_subscription(
    context: AppContext,
    customer_id: str,
    body: SubscriptionRequest,
    actor: str,
    idempotency_key: str | None,
) -> CustomerView:
    """Convert a trial (or expired trial) to a paid plan, or change an active plan."""
    await customer_or_404(context, customer_id)
    require_plan(context, body.plan)
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
            actor=actor,
            payment_method=body.payment_method,
            when=body.when,
        ),
        idempotency_key=idempotency_key,
    )
    return await fresh_view(context, customer_id)


async def cancel(
    context: AppContext,
    customer_id: str,
    body: CancelRequest,
    actor: str,
    idempotency_key: str | None,
) -> CustomerView:
    return await _command(
        context,
        customer_id,
        CustomerWorkflow.cancel,
        CancelSubscription(actor=actor, at_period_end=body.at_period_end),
        idempotency_key,
    )


async def reactivate(
    context: AppContext, customer_id: str, actor: str, idempotency_key: str | None
) -> CustomerView:
    """Withdraw a cancellation scheduled for the period end."""
    return await _command(
        context,
        customer_id,
        CustomerWorkflow.reactivate,
        ReactivateSubscription(actor=actor),
        idempotency_key,
    )


async def pause(
    context: AppContext,
    customer_id: str,
    body: PauseRequest,
    actor: str,
    idempotency_key: str | None,
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
        PauseSubscription(actor=actor, resumes_at=body.resumes_at),
        idempotency_key,
    )


async def resume(
    context: AppContext, customer_id: str, actor: str, idempotency_key: str | None
) -> CustomerView:
    return await _command(
        context,
        customer_id,
        CustomerWorkflow.resume,
        ResumeSubscription(actor=actor),
        idempotency_key,
    )


async def update_payment_method(
    context: AppContext,
    customer_id: str,
    body: PaymentMethodRequest,
    actor: str,
    idempotency_key: str | None,
) -> CustomerView:
    return await _command(
        context,
        customer_id,
        CustomerWorkflow.update_payment_method,
        UpdatePaymentMethod(actor=actor, payment_method=body.payment_method),
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


async def purchase_addon(
    context: AppContext,
    customer_id: str,
    body: AddonPurchaseRequest,
    actor: str,
    idempotency_key: str | None,
) -> AddonsView:
    """Buy an add-on through the workflow; the view shows the add-ons held after it."""
    await customer_or_404(context, customer_id)
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
        PurchaseAddon(addon=body.addon, quantity=body.quantity, actor=actor),
        idempotency_key=idempotency_key,
    )
    return await list_addons(context, customer_id)


async def list_addons(context: AppContext, customer_id: str) -> AddonsView:
    customer = await customer_or_404(context, customer_id)
    return AddonsView(
        customer=customer_view(customer), addons=await _held_addons(context, customer)
    )


async def update_billing_address(
    context: AppContext, customer_id: str, body: BillingAddressRequest
) -> CustomerView:
    """Store the address and sync it to the provider customer, where invoices show it."""
    customer = await customer_or_404(context, customer_id)
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
    return await fresh_view(context, customer_id)


async def preview_change(
    context: AppContext, customer_id: str, plan: str, interval: BillingInterval
) -> PreviewView:
    """What the change would charge now and on the next invoice; nothing is charged."""
    customer = await customer_or_404(context, customer_id)
    require_plan(context, plan)
    # The customer's own prices: an experiment may have pinned it to a variant's.
    catalog = (await customer_terms(context.config, context.sessions, customer_id)).catalog
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
            price=PriceRef(plan, interval, book=catalog.price_book),
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


async def _invoices(context: AppContext, customer_id: str, limit: int) -> list[InvoiceView]:
    async with context.sessions() as session:
        rows = await session.scalars(
            select(Invoice)
            .where(Invoice.customer_id == customer_id)
            # Provider times are whole seconds; numbers break ties in issue order.
            .order_by(Invoice.created_at.desc(), Invoice.number.desc(), Invoice.id.desc())
            .limit(limit)
        )
        return [InvoiceView.model_validate(row, from_attributes=True) for row in rows]


async def list_invoices(context: AppContext, customer_id: str, limit: int) -> list[InvoiceView]:
    await customer_or_404(context, customer_id)
    return await _invoices(context, customer_id, limit)


async def billing_page(context: AppContext, customer_id: str) -> BillingView:
    """Everything a billing page needs in one call."""
    customer = await customer_or_404(context, customer_id)
    catalog = (await customer_terms(context.config, context.sessions, customer_id)).catalog
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
