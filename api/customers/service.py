"""Sign-up and the customer lookups; ``customer_view`` and ``customer_or_404`` serve every
concern that answers with a customer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from api.context import AppContext
from api.customers.schemas import (
    CountryRequest,
    CurrencyRequest,
    CustomerCreate,
    CustomerView,
    LocaleRequest,
    RegionRequest,
)
from api.errors import FieldError, Problem, not_found
from api.lifecycle_client import run_command, temporal_unavailable
from db.customers import new_trial_customer
from db.models import Customer
from db.queries import customer_by_external_id
from domain.lifecycle import BillingInterval, Status
from domain.regions import (
    NO_REGION,
    CurrencyFixed,
    CurrencyNotSold,
    Region,
    change_currency,
    effective_region,
    region_for,
    signup_currency,
)
from services.errors import WorkflowServiceUnavailable
from services.experiments import start_signed_up_workflow
from services.region_override import record_region_override
from workflows.customer import CustomerWorkflow
from workflows.messages import ChangeSubscription


def customer_view(customer: Customer) -> CustomerView:
    return CustomerView.model_validate(customer, from_attributes=True)


async def customer_or_404(context: AppContext, customer_id: str) -> Customer:
    async with context.sessions() as session:
        customer = await session.get(Customer, customer_id)
    if customer is None:
        raise not_found("customer", customer_id)
    return customer


def _same_email(a: str | None, b: str) -> bool:
    return (a or "").casefold() == b.casefold()


def _email_conflict(external_id: str) -> Problem:
    return Problem(
        409,
        f"a customer with external_id {external_id!r} already exists with a different email",
        type="external-id-conflict",
        errors=[FieldError("external_id", "already used by a customer with another email")],
    )


async def sign_up(context: AppContext, body: CustomerCreate) -> tuple[CustomerView, bool]:
    """The customer, and whether this request created it. Idempotent by ``external_id``."""
    customer, created = await _find_or_insert(context, body)
    if not created and not _same_email(customer.email, str(body.email)):
        raise _email_conflict(body.external_id)
    # After the commit, because the workflow's first activity reads the row. Repeating the
    # request repairs a sign-up whose workflow start failed.
    assert customer.trial_started_at is not None
    try:
        await start_signed_up_workflow(
            context.engine,
            customer_id=customer.id,
            subject=customer.external_id,
            signed_up_at=customer.trial_started_at,
        )
    except WorkflowServiceUnavailable as exc:
        raise temporal_unavailable(exc) from exc
    return customer_view(customer), created


async def _find_or_insert(context: AppContext, body: CustomerCreate) -> tuple[Customer, bool]:
    trial = context.config.policy.trial
    for _ in range(3):
        now = datetime.now(UTC)
        try:
            async with context.sessions.begin() as session:
                existing = await customer_by_external_id(session, body.external_id)
                if existing is not None:
                    return existing, False
                customer = new_trial_customer(
                    customer_id=str(uuid.uuid4()),
                    external_id=body.external_id,
                    email=str(body.email),
                    name=body.name,
                    locale=body.locale,
                    trial=trial,
                    signed_up_at=now,
                )
                customer.country = body.country
                region = region_for(context.config.regions, body.country)
                customer.region = region.id if region else None
                customer.currency = _signup_currency(context, body, region)
                session.add(customer)
            return customer, True
        except IntegrityError:
            # A concurrent request with the same external_id committed first; read it.
            continue
    raise Problem(409, "concurrent sign-ups for this external_id; retry", type="conflict")


def _signup_currency(context: AppContext, body: CustomerCreate, region: Region | None) -> str:
    try:
        return signup_currency(
            context.config.catalog, currency=body.currency, country=body.country, region=region
        )
    except CurrencyNotSold as exc:
        raise _currency_problem(exc) from None


def _currency_problem(exc: CurrencyNotSold | CurrencyFixed) -> Problem:
    if isinstance(exc, CurrencyFixed):
        return Problem(
            409,
            f"currency: {exc}",
            type="currency-fixed",
            errors=[FieldError("currency", str(exc))],
        )
    return Problem(
        422, f"currency: {exc}", type="validation-error", errors=[FieldError("currency", str(exc))]
    )


async def set_currency(
    context: AppContext, customer_id: str, body: CurrencyRequest
) -> CustomerView:
    """Choose the currency before the first subscription; afterwards only the same one (409).
    A trial's new currency reaches its workflow with the conversion (the terms it carries)."""
    async with context.sessions.begin() as session:
        customer = await session.get(Customer, customer_id, with_for_update=True)
        if customer is None:
            raise not_found("customer", customer_id)
        try:
            customer.currency = change_currency(
                context.config.catalog,
                wanted=body.currency,
                current=customer.currency,
                subscribed=customer.provider_subscription_id is not None,
            )
        except (CurrencyNotSold, CurrencyFixed) as exc:
            raise _currency_problem(exc) from None
        customer.updated_at = datetime.now(UTC)
    return await get_customer(context, customer_id)


async def find_by_external_id(context: AppContext, external_id: str) -> CustomerView:
    async with context.sessions() as session:
        customer = await customer_by_external_id(session, external_id)
    if customer is None:
        raise not_found("customer with external_id", external_id)
    return customer_view(customer)


async def get_customer(context: AppContext, customer_id: str) -> CustomerView:
    return customer_view(await customer_or_404(context, customer_id))


async def set_locale(context: AppContext, customer_id: str, body: LocaleRequest) -> CustomerView:
    """Change the language of the customer's next emails; emails already written keep theirs."""
    async with context.sessions.begin() as session:
        changed = await session.execute(
            update(Customer)
            .where(Customer.id == customer_id)
            .values(locale=body.locale, updated_at=datetime.now(UTC))
            .returning(Customer.id)
        )
        if changed.scalar_one_or_none() is None:
            raise not_found("customer", customer_id)
    return await get_customer(context, customer_id)


# -- the billing country and the region -----------------------------------------------------


async def set_country(
    context: AppContext, customer_id: str, body: CountryRequest, actor: str
) -> CustomerView:
    """The billing country, and with it the region (unless an admin set one)."""
    return await _move(context, customer_id, actor, country=body.country)


async def set_region(
    context: AppContext, customer_id: str, body: RegionRequest, actor: str
) -> CustomerView:
    """An admin's region: a configured one, ``none`` (list prices) or null (the country's)."""
    known = [r.id for r in context.config.regions]
    if body.region is not None and body.region not in (*known, NO_REGION):
        raise Problem(
            422,
            f"region: unknown region {body.region!r}",
            type="validation-error",
            errors=[FieldError("region", f"one of {[*known, NO_REGION]} or null")],
        )
    return await _move(context, customer_id, actor, override=body.region, set_override=True)


async def _move(
    context: AppContext,
    customer_id: str,
    actor: str,
    *,
    country: str | None = None,
    override: str | None = None,
    set_override: bool = False,
) -> CustomerView:
    """Store the country or override and the region they give. A subscribed customer whose
    region changes keeps its price (and currency) for the period under way: its workflow
    schedules the region's price for the renewal (``domain.regions``). A trial takes it at
    conversion, whose command carries the terms."""
    async with context.sessions.begin() as session:
        customer = await session.get(Customer, customer_id, with_for_update=True)
        if customer is None:
            raise not_found("customer", customer_id)
        if country is not None:
            customer.country = country
        overridden = customer.region_override
        if set_override:
            customer.region_override = override
        region = effective_region(
            context.config.regions, country=customer.country, override=customer.region_override
        )
        was = customer.region
        customer.region = region.id if region else None
        customer.updated_at = datetime.now(UTC)
        if set_override and override != overridden:
            await record_region_override(
                session,
                customer_id=customer_id,
                actor=actor,
                override=(overridden, override),
                region=(was, customer.region),
                now=customer.updated_at,
            )
        reprice = (
            customer.region != was
            and customer.status == Status.ACTIVE.value
            and customer.interval is not None
            and customer.provider_subscription_id is not None
        )
        plan, interval = customer.plan, customer.interval
    if reprice and interval is not None:
        await run_command(
            context,
            customer_id,
            CustomerWorkflow.change_subscription,
            ChangeSubscription(
                plan=plan, interval=BillingInterval(interval), actor=actor, when="period_end"
            ),
        )
    return await get_customer(context, customer_id)
