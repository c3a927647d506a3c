"""The churn prevention report's use case and response body: the ledger's save-flow and
offer rows from the range's start, handed to ``domain.growth.save_flow``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel

from api.context import AppContext
from api.reports.service import report_range
from db.retention import retention_events
from domain.growth.save_flow import SaveFlowReport, save_flow_report


class ReasonOutcomesView(BaseModel):
    reason: str
    requests: int
    saved: int
    canceled: int
    undecided: int
    save_rate: Decimal | None


class OfferTakeUpView(BaseModel):
    kind: str
    shown: int
    accepted: int
    acceptance_rate: Decimal | None
    stayed: int
    pending: int
    stayed_rate: Decimal | None


class SentOffersView(BaseModel):
    source: str
    sent: int
    not_sent: int
    accepted: int
    acceptance_rate: Decimal | None


class SaveFlowView(BaseModel):
    start: datetime
    end: datetime
    requests: int
    saved: int
    save_rate: Decimal | None
    reasons: list[ReasonOutcomesView]
    offers: list[OfferTakeUpView]
    sent: list[SentOffersView]


async def build_save_flow_report(
    context: AppContext, *, start: datetime | None, end: datetime | None
) -> SaveFlowReport:
    first, last = report_range(start, end)
    async with context.sessions() as session:
        events = await retention_events(session, first)
    return save_flow_report(events, first, last, datetime.now(UTC))


def save_flow_view(report: SaveFlowReport) -> SaveFlowView:
    return SaveFlowView.model_validate(report, from_attributes=True)
