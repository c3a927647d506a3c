"""Request and response bodies of the payment simulator's endpoints (test clock, hosted
checkout)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.customers.schemas import CustomerView
from api.schemas import RequestBody


class TestClockAdvance(RequestBody):
    customer_id: str = Field(min_length=1)
    to: Literal["period_end"] = "period_end"


class TestClockResult(BaseModel):
    events: list[str]
    customer: CustomerView


class CheckoutCompletion(RequestBody):
    payment_method: str = Field(default="pm_card_visa", min_length=1)
