"""Customers: sign-up (which starts the trial) and the customer view."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.exc import IntegrityError

from api.auth import Principal, require_app
from api.context import AppContext, get_context
from api.errors import FieldError, Problem, not_found, problem_responses
from api.lifecycle_client import start_customer_workflow
from api.schemas import CustomerCreate, CustomerView
from db.customers import new_trial_customer
from db.models import Customer
from db.queries import customer_by_external_id

router = APIRouter(prefix="/v1/customers", tags=["customers"])


def customer_view(customer: Customer) -> CustomerView:
    return CustomerView.model_validate(customer, from_attributes=True)


def _same_email(a: str | None, b: str) -> bool:
    return (a or "").casefold() == b.casefold()


def _email_conflict(external_id: str) -> Problem:
    return Problem(
        409,
        f"a customer with external_id {external_id!r} already exists with a different email",
        type="external-id-conflict",
        errors=[FieldError("external_id", "already used by a customer with another email")],
    )


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
    customer, created = await _find_or_insert(context, body)
    if not created:
        if not _same_email(customer.email, str(body.email)):
            raise _email_conflict(body.external_id)
        response.status_code = 200
    # After the commit, because the workflow's first activity reads the row. Repeating the
    # request repairs a sign-up whose workflow start failed.
    assert customer.trial_started_at is not None
    await start_customer_workflow(
        context, customer_id=customer.id, signed_up_at=customer.trial_started_at
    )
    return customer_view(customer)


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
                    trial=trial,
                    signed_up_at=now,
                )
                session.add(customer)
            return customer, True
        except IntegrityError:
            # A concurrent request with the same external_id committed first; read it.
            continue
    raise Problem(409, "concurrent sign-ups for this external_id; retry", type="conflict")


@router.get("", response_model=CustomerView, responses=problem_responses(404))
async def find_customer(
    external_id: str = Query(min_length=1, max_length=255, description="Your id for the customer"),
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> CustomerView:
    async with context.sessions() as session:
        customer = await customer_by_external_id(session, external_id)
    if customer is None:
        raise not_found("customer with external_id", external_id)
    return customer_view(customer)


@router.get("/{customer_id}", response_model=CustomerView)
async def get_customer(
    customer_id: str,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> CustomerView:
    async with context.sessions() as session:
        customer = await session.get(Customer, customer_id)
    if customer is None:
        raise not_found("customer", customer_id)
    return customer_view(customer)
