"""Sign-up and the customer lookups; ``customer_view`` and ``customer_or_404`` serve every
concern that answers with a customer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from api.context import AppContext
from api.customers.schemas import CustomerCreate, CustomerView, LocaleRequest
from api.errors import FieldError, Problem, not_found
from api.lifecycle_client import temporal_unavailable
from db.customers import new_trial_customer
from db.models import Customer
from db.queries import customer_by_external_id
from services.errors import WorkflowServiceUnavailable
from services.experiments import start_signed_up_workflow


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
                session.add(customer)
            return customer, True
        except IntegrityError:
            # A concurrent request with the same external_id committed first; read it.
            continue
    raise Problem(409, "concurrent sign-ups for this external_id; retry", type="conflict")


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
