"""Reconciliation with the payment provider (scope ``admin``): the latest recorded run
(the daily Schedule's, or one asked for here or by ``lifecycle report reconciliation``)
and a run now."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from adapters.payments.base import PaymentError
from api.auth import require_admin
from api.context import AppContext, get_context
from api.errors import Problem, problem_response
from api.payment_errors import payment_problem
from services.reconciliation import ReconciliationReport, latest_report, reconcile_now

router = APIRouter(prefix="/v1/admin", tags=["reports"], dependencies=[Depends(require_admin)])

DEFINITIONS = """
Compares the engine's invoice mirror and its customers' subscriptions with the payment
provider's (every object, all pages). Each difference names the object (`invoice`,
`payment` = the amount paid on an invoice, `subscription`), its id, the customer (the
engine's id; null when the provider's customer is unknown to the engine, then
`provider_customer_id` says whose) and its kind: `missing_in_engine`, `missing_at_provider`,
`amount_mismatch`, `status_mismatch`, `period_mismatch`, `plan_mismatch`, with the field and
both values. Provider drafts, voided invoices on which nothing was paid and ended
subscriptions no customer references are not differences; objects younger than the grace
period are left to the next run (a webhook may be on its way).
"""


class DifferenceView(BaseModel):
    object: str
    object_id: str
    kind: str
    customer_id: str | None
    provider_customer_id: str | None
    field: str | None
    engine: str | int | bool | None
    provider: str | int | bool | None


class ReconciliationView(BaseModel):
    run_key: str
    trigger: str
    provider: str
    as_of: datetime
    finished_at: datetime
    invoices_compared: int
    subscriptions_compared: int
    difference_count: int
    differences: list[DifferenceView]


def reconciliation_view(report: ReconciliationReport) -> ReconciliationView:
    return ReconciliationView(
        run_key=report.run_key,
        trigger=report.trigger,
        provider=report.provider,
        as_of=report.as_of,
        finished_at=report.finished_at,
        invoices_compared=report.invoices_compared,
        subscriptions_compared=report.subscriptions_compared,
        difference_count=len(report.differences),
        differences=[DifferenceView.model_validate(d) for d in report.differences],
    )


@router.get(
    "/reports/reconciliation",
    response_model=ReconciliationView,
    summary="The latest reconciliation with the payment provider",
    description=DEFINITIONS,
    responses={404: problem_response(404, "No reconciliation has run yet")},
)
async def latest_reconciliation(
    context: Annotated[AppContext, Depends(get_context)],
) -> ReconciliationView:
    report = await latest_report(context.sessions)
    if report is None:
        raise Problem(
            404,
            "no reconciliation has run yet: POST /v1/admin/reports/reconciliation runs one",
            type="not-found",
        )
    return reconciliation_view(report)


@router.post(
    "/reports/reconciliation",
    response_model=ReconciliationView,
    summary="Reconcile with the payment provider now (recorded like the daily run)",
    description=DEFINITIONS,
    responses={503: problem_response(503, "The payment provider could not be listed")},
)
async def run_reconciliation(
    context: Annotated[AppContext, Depends(get_context)],
    grace_minutes: Annotated[
        int,
        Query(ge=0, le=1440, description="Objects younger than this are left out."),
    ] = 15,
) -> ReconciliationView:
    try:
        report = await reconcile_now(
            context.sessions,
            context.payments,
            trigger="api",
            grace=timedelta(minutes=grace_minutes),
        )
    except PaymentError as exc:
        # The provider could not be listed (an outage): the problem says so, not a 500.
        raise payment_problem(exc) from None
    return reconciliation_view(report)
