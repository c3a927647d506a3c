"""Request and response bodies of the save flow."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.customers.schemas import CustomerView
from api.schemas import RequestBody
from domain.retention import ExitReason, OfferKind


class CancellationRequest(RequestBody):
    reason: ExitReason = Field(description="Why the customer wants to leave")


class OfferView(BaseModel):
    kind: OfferKind
    headline: str
    days: int | None = None
    coupon: str | None = None
    plan: str | None = None
    interval: str | None = None
    monthly_saving_cents: int | None = None


class CancellationOffersView(BaseModel):
    reason: ExitReason
    # Best first for the reason; empty when none fits (then cancel with POST .../cancel).
    offers: list[OfferView]
    customer: CustomerView


class AcceptOfferRequest(RequestBody):
    kind: OfferKind
    reason: ExitReason | None = Field(
        default=None, description="The exit reason given; required for a save-flow offer"
    )
    offer_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="An offer sent earlier (email, in-app notice); absent in the save flow",
    )
