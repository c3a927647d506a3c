"""Bodies of the segments and campaigns endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from api.schemas import RequestBody


class SegmentView(BaseModel):
    id: str
    name: str
    description: str
    computed: bool = Field(description="A usage group of the latest analytics run")
    rules: dict[str, Any] = Field(description="The rules that must all hold")
    size: int | None = Field(default=None, description="Customers in it now")


class SegmentsView(BaseModel):
    data: list[SegmentView]
    as_of: datetime


class MemberView(BaseModel):
    customer_id: str
    plan: str
    status: str
    tenure_days: int
    matched: dict[str, Any] = Field(description="The facts each rule matched on")


class PreviewView(BaseModel):
    segment: SegmentView
    audience: int
    sample: list[MemberView]
    as_of: datetime


class CampaignRequest(RequestBody):
    segment: str = Field(min_length=1, max_length=128, description="A segment id")
    coupon: str = Field(min_length=1, max_length=64, description="A [coupons] id of the config")
    headline: str = Field(
        min_length=1, max_length=200, description="The offer in a sentence (email and notice)"
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="The offer ends then (with a time zone)"
    )
    conversion_days: int = Field(
        default=30, ge=1, le=365, description="A conversion to paid this long after counts"
    )

    @field_validator("expires_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range") from None


class SendRequest(RequestBody):
    dry_run: bool = Field(
        default=False, description="Show who would get the offer; send and record nothing"
    )


class CampaignView(BaseModel):
    id: str
    offer_id: str
    segment_id: str
    segment_name: str
    rules: dict[str, Any]
    coupon: str
    headline: str
    expires_at: datetime | None
    conversion_days: int
    status: str = Field(description="draft, sending or sent")
    created_by: str
    created_at: datetime
    dry_run_at: datetime | None
    dry_run_audience: int | None
    send_requested_at: datetime | None
    audience: int | None = Field(description="Chosen once, when the send starts")
    sent_at: datetime | None


class ResultsView(BaseModel):
    audience: int
    pending: int = Field(description="Recipients whose offer is still being signalled")
    unreachable: int = Field(description="Recipients whose workflow is closed")
    sent: int
    not_sent: int = Field(description="The offer did not fit the customer (status, expiry)")
    opened: int = Field(
        description="Recipients who read the in-app notice; email opens are not tracked"
    )
    accepted: int
    converted_to_paid: int = Field(description="Trials converted within conversion_days")
    converted: int = Field(description="Accepted or converted to paid, each customer once")
    conversion_rate: float | None = Field(description="converted / sent")
    mrr_gained_cents: int = Field(
        description="Net MRR change of converted customers within conversion_days"
    )


class CampaignResultsView(BaseModel):
    campaign: CampaignView
    results: ResultsView


class SendView(BaseModel):
    campaign: CampaignView
    dry_run: bool
    audience: int | None = Field(description="Who the dry run would reach now")
    sample: list[MemberView] = []
