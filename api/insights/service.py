"""Customer insights: the stored churn score with its reasons, the facts the model leaves
out, and the model behind the scores."""

from __future__ import annotations

from datetime import datetime

from api.context import AppContext
from api.customers.service import customer_or_404
from api.errors import not_found
from api.insights.schemas import ChurnInsight, InsightsView, ModelView, ReasonView
from db.analytics import latest_model, risk_counts, score_of
from db.models import ChurnModelRow, Customer

# A card expiring within this many days is flagged.
_CARD_NOTICE_DAYS = 60


def _facts(customer: Customer, now: datetime) -> list[str]:
    facts = []
    if customer.cancel_at_period_end:
        facts.append("cancellation scheduled at the end of the period")
    year, month = customer.payment_method_exp_year, customer.payment_method_exp_month
    if year and month:
        # A card works through the last day of its expiry month.
        first_day_after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=now.tzinfo)
        days = (first_day_after - now).days
        if days < 0:
            facts.append("the card on file has expired")
        elif days <= _CARD_NOTICE_DAYS:
            facts.append(f"the card on file expires in {days} days")
    return facts


async def insights(context: AppContext, customer_id: str, now: datetime) -> InsightsView:
    customer = await customer_or_404(context, customer_id)
    async with context.sessions() as session:
        score = await score_of(session, customer_id)
        model = await session.get(ChurnModelRow, score.model_version) if score else None
    churn = None
    if score is not None:
        churn = ChurnInsight(
            probability=round(score.probability, 4),
            risk=score.risk,  # type: ignore[arg-type]
            reasons=[ReasonView(**r) for r in score.reasons],
            method=model.method if model else "unknown",
            model_version=score.model_version,
            model_note=model.note if model else "",
            scored_at=score.scored_at,
        )
    return InsightsView(customer_id=customer_id, churn=churn, facts=_facts(customer, now))


async def churn_model(context: AppContext) -> ModelView:
    view = await churn_model_or_none(context)
    if view is None:
        raise not_found("churn model", "latest")
    return view


async def churn_model_or_none(context: AppContext) -> ModelView | None:
    async with context.sessions() as session:
        model = await latest_model(session)
        risks = await risk_counts(session)
    if model is None:
        return None
    return ModelView(
        version=model.version,
        method=model.method,
        trained_at=model.trained_at,
        note=model.note,
        metrics=model.metrics,
        risks=risks,
    )
