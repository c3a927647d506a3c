"""The daily analytics run: the churn model trained on the history so far and every paying
customer scored, and customers grouped by usage shape. One use case, run by ``lifecycle
analytics train`` and by the daily Schedule's activity."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from temporalio import activity

from db.analytics import (
    load_daily_messages,
    load_histories,
    save_grouping,
    save_model,
    save_scores,
)
from db.engine import SessionFactory
from db.models import ChurnScore
from db.segments import save_usage_trends
from domain.analytics.churn import ChurnModel, Score, score, train
from domain.analytics.features import PAYING, CustomerHistory, features_at, state_at
from domain.analytics.usage_patterns import WEEKS, Grouping, group_customers, pattern_of
from domain.catalog import Catalog
from domain.terms import Terms


@dataclass(frozen=True)
class TrainingOutcome:
    version: str
    method: str
    note: str
    metrics: dict[str, Any]
    scored: int
    risks: dict[str, int]
    # Customers whose band changed, and how many of their workflows were told.
    changed: int = 0
    told: int = 0
    # Groups of customers by usage shape, and how their number was chosen (or why none).
    groups: int = 0
    grouping_note: str = ""


def model_version(as_of: datetime) -> str:
    """Stable per run: a retried run stores the same model once."""
    return f"churn-{as_of:%Y%m%dT%H%M%SZ}"


def _analyse(
    histories: list[CustomerHistory],
    daily: dict[str, dict[date, int]],
    catalog: Catalog,
    as_of: datetime,
) -> tuple[ChurnModel, list[tuple[str, Score]], Grouping, dict[str, str]]:
    model = train(histories, catalog, now=as_of, version=model_version(as_of))
    scores = [
        (h.customer_id, score(model, features_at(h, as_of, catalog)))
        for h in histories
        if state_at(h, as_of).status in PAYING
    ]
    today = as_of.date()
    patterns = {cid: pattern_of(days, today) for cid, days in daily.items()}
    return model, scores, group_customers(patterns), {c: p.trend for c, p in patterns.items()}


# Tells customers' workflows their new risk band (services.churn_signals); answers how
# many heard it.
TellRisks = Callable[[Sequence[tuple[str, str]]], Awaitable[int]]


async def train_and_score(
    sessions: SessionFactory,
    catalog: Catalog,
    as_of: datetime,
    *,
    tell: TellRisks | None = None,
) -> TrainingOutcome:
    """Train on the history before ``as_of``, store the model, and replace every customer's
    score with one from it (a customer no longer paying keeps none). Customers whose band
    changed are told first, so a run that fails after telling tells them again when
    retried (a band set twice changes nothing), and one that fails before storing has
    stored nothing."""
    async with sessions() as session:
        histories = await load_histories(session, end=as_of)
        daily = await load_daily_messages(
            session, since=as_of.date() - timedelta(weeks=WEEKS), end=as_of.date()
        )
        previous = dict(
            (await session.execute(select(ChurnScore.customer_id, ChurnScore.risk))).all()
        )
    # Seconds of CPU on a large history: off the event loop (a worker's heartbeats and
    # other activities go on).
    model, scores, grouping, trends = await asyncio.to_thread(
        _analyse, histories, daily, catalog, as_of
    )
    changed = [(cid, s.risk) for cid, s in scores if previous.get(cid) != s.risk]
    told = await tell(changed) if tell is not None else 0
    async with sessions.begin() as session:
        await save_model(session, model)
        await session.execute(delete(ChurnScore))
        scored = await save_scores(session, model, scores, as_of)
        await save_grouping(session, grouping, as_of)
        # Each customer's trend, for segments (``db.segments``).
        await save_usage_trends(session, trends, as_of)
    risks: dict[str, int] = {}
    for _, s in scores:
        risks[s.risk] = risks.get(s.risk, 0) + 1
    return TrainingOutcome(
        model.version,
        model.method,
        model.note,
        model.metrics,
        scored,
        risks,
        len(changed),
        told,
        groups=len(grouping.groups),
        grouping_note=grouping.note
        or f"k = {grouping.k} by the best silhouette score ({grouping.silhouette})",
    )


@dataclass(frozen=True)
class ChurnRunInput:
    # The Schedule's run time, so a retried activity trains the same model version.
    as_of: datetime


@dataclass(frozen=True)
class ChurnRunResult:
    version: str
    method: str
    scored: int
    roc_auc: float | None


class AnalyticsActivities:
    def __init__(
        self,
        load_terms: Callable[[], Awaitable[Terms]],
        sessions: SessionFactory,
        tell: TellRisks | None = None,
    ) -> None:
        self._load_terms = load_terms
        self._sessions = sessions
        self._tell = tell

    @activity.defn(name="train_churn_model")
    async def train_churn_model(self, request: ChurnRunInput) -> ChurnRunResult:
        terms = await self._load_terms()
        outcome = await train_and_score(
            self._sessions, terms.catalog, request.as_of, tell=self._tell
        )
        return ChurnRunResult(
            version=outcome.version,
            method=outcome.method,
            scored=outcome.scored,
            roc_auc=outcome.metrics.get("roc_auc"),
        )
