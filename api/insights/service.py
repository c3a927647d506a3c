"""Customer insights: the stored churn score with its reasons, the facts the model leaves
out, and the model behind the scores."""

from __future__ import annotations

from datetime import datetime, timedelta

from api.context import AppContext
from api.customers.service import customer_or_404
from api.errors import not_found
from api.insights.schemas import (
    ChurnInsight,
    InsightsView,
    ModelView,
    ReasonView,
    UsageGroupsView,
    UsageGroupView,
    UsagePatternView,
)
from db.analytics import (
    latest_model,
    load_daily_messages,
    risk_counts,
    score_of,
    usage_group_of,
    usage_groups,
)
from db.models import ChurnModelRow, Customer, UsageGroupRow
from db.usage.context import load_contexts
from domain.analytics.usage_patterns import WEEKDAYS, WEEKS, limits_reached, pattern_of

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
    return InsightsView(
        customer_id=customer_id,
        churn=churn,
        usage=await _usage(context, customer_id, now),
        facts=_facts(customer, now),
    )


def _group_view(row: UsageGroupRow) -> UsageGroupView:
    return UsageGroupView(
        group=row.group_id,
        description=row.description,
        customers=row.customers,
        trend=row.trend,
        rhythm=row.rhythm,
        median_weekly_messages=row.median_weekly_messages,
    )


async def _usage(context: AppContext, customer_id: str, now: datetime) -> UsagePatternView:
    today = now.date()
    async with context.sessions() as session:
        daily = await load_daily_messages(
            session, since=today - timedelta(weeks=WEEKS), end=today, customer_id=customer_id
        )
        group = await usage_group_of(session, customer_id)
        contexts = await load_contexts(session, [customer_id], with_counters=True)
    pattern = pattern_of(daily.get(customer_id, {}), today)
    usage = contexts.get(customer_id)
    return UsagePatternView(
        trend=pattern.trend,
        weekly_change=pattern.weekly_change,
        rhythm=pattern.rhythm,
        weekday_shares=dict(zip(WEEKDAYS, pattern.weekday_shares, strict=True)),
        bursts=list(pattern.bursts),
        weekly_messages=list(pattern.weekly_messages),
        limits_reached=sorted(limits_reached(usage.counters)) if usage is not None else [],
        group=_group_view(group) if group is not None else None,
    )


async def groups(context: AppContext) -> UsageGroupsView:
    async with context.sessions() as session:
        rows = await usage_groups(session)
    return UsageGroupsView(
        groups=[_group_view(r) for r in rows],
        silhouette=rows[0].silhouette if rows else None,
        computed_at=rows[0].computed_at if rows else None,
    )


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
