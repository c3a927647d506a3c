"""The invoice-numbering check (scope ``admin``): gaps and duplicates in the provider's
invoice numbers per legal entity's prefix (``services.invoice_numbers``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.auth import require_admin
from api.context import AppContext, get_context
from services.invoice_numbers import numbering_report

router = APIRouter(prefix="/v1/admin", tags=["reports"], dependencies=[Depends(require_admin)])


class SequenceView(BaseModel):
    # The account prefix, or ``<customer id>:<prefix>`` with per-customer numbering.
    prefix: str
    first: int
    last: int
    count: int
    gaps: list[int]
    duplicates: list[int]


class NumberingView(BaseModel):
    ok: bool
    # The prefix checked as one sequence; none: each customer's own.
    account_prefix: str | None
    sequences: list[SequenceView]
    unparsed: list[str]


@router.get("/reports/invoice-numbers", response_model=NumberingView)
async def invoice_numbers(context: AppContext = Depends(get_context)) -> NumberingView:
    """Numbers missing between a sequence's first and last, and numbers issued twice."""
    seller = context.config.tax.seller
    prefix = seller.invoice_prefix if seller is not None else None
    report = await numbering_report(context.sessions, prefix)
    return NumberingView(
        ok=report.ok,
        account_prefix=prefix,
        sequences=[
            SequenceView(
                prefix=s.prefix,
                first=s.first,
                last=s.last,
                count=s.count,
                gaps=list(s.gaps),
                duplicates=list(s.duplicates),
            )
            for s in report.sequences
        ],
        unparsed=list(report.unparsed),
    )
