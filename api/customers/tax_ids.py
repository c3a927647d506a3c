"""A customer's tax ids over HTTP (issue 15 part 3): ``GET`` and ``PUT
/v1/customers/{id}/tax-ids``. Each id is checked for format and check digits; a refused
one is a 422 naming ``tax_ids.<i>.value`` and the reason. The ids are copied onto the
provider customer (Stripe's ``tax_ids``), where invoices and Stripe Tax read them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from adapters.payments.base import PaymentError
from api.auth import Principal, require_app
from api.context import AppContext, get_context
from api.errors import PROVIDER_PROBLEMS, not_found, problem_responses, validation_error
from api.payment_errors import payment_problem
from api.schemas import RequestBody
from db.models import CustomerTaxId
from services import tax_ids as service

router = APIRouter(prefix="/v1/customers", tags=["customers"])

# domain.tax.tax_ids.TAX_ID_TYPES (a test keeps the two lists equal).
TaxIdType = Literal["eu_vat", "gb_vat", "au_abn", "in_gst", "ca_bn", "ca_gst_hst", "us_ein"]


class TaxIdIn(RequestBody):
    type: TaxIdType = Field(description="Stripe's tax id type, e.g. 'eu_vat'")
    value: str = Field(min_length=1, max_length=64, description="e.g. 'DE136695976'")


class TaxIdsRequest(RequestBody):
    tax_ids: list[TaxIdIn] = Field(max_length=5, description="The whole set; [] clears it")


class TaxIdView(BaseModel):
    type: str
    value: str
    country: str
    # The provider's TaxId (``txi_...``); none until the provider customer exists.
    provider_tax_id: str | None
    created_at: datetime


class TaxIdsView(BaseModel):
    customer_id: str
    tax_ids: list[TaxIdView]


def _view(customer_id: str, rows: list[CustomerTaxId]) -> TaxIdsView:
    return TaxIdsView(
        customer_id=customer_id,
        tax_ids=[
            TaxIdView(
                type=r.type,
                value=r.value,
                country=r.country,
                provider_tax_id=r.provider_tax_id,
                created_at=r.created_at,
            )
            for r in rows
        ],
    )


@router.get("/{customer_id}/tax-ids", response_model=TaxIdsView, responses=problem_responses(404))
async def get_tax_ids(
    customer_id: str,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> TaxIdsView:
    try:
        rows = await service.list_tax_ids(context.sessions, customer_id)
    except service.UnknownCustomer:
        raise not_found("customer", customer_id) from None
    return _view(customer_id, rows)


@router.put(
    "/{customer_id}/tax-ids",
    response_model=TaxIdsView,
    responses={**problem_responses(404, 422), **PROVIDER_PROBLEMS},
)
async def put_tax_ids(
    customer_id: str,
    body: TaxIdsRequest,
    context: AppContext = Depends(get_context),
    _: Principal = Depends(require_app),
) -> TaxIdsView:
    """Replace the customer's tax ids (a business buyer's VAT number makes an EU invoice a
    reverse charge). Checked with python-stdnum: a wrong check digit is refused here, not
    by the provider later."""
    given = [service.GivenTaxId(t.type, t.value) for t in body.tax_ids]
    try:
        rows = await service.replace_tax_ids(context.sessions, context.payments, customer_id, given)
    except service.TaxIdRefused as exc:
        raise validation_error(f"tax_ids.{exc.index}.value", exc.reason) from None
    except service.UnknownCustomer:
        raise not_found("customer", customer_id) from None
    except PaymentError as exc:
        raise payment_problem(exc) from None
    return _view(customer_id, rows)
