"""Pricing experiments' storage: operators' state changes, each sign-up's variant (drawn
once, pinned), exposures, and the sign-ups' histories the results are computed from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, distinct, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Subquery

from db.engine import insert_for
from db.models import (
    Customer,
    ExperimentAssignment,
    ExperimentExposure,
    ExperimentStateRow,
    Invoice,
    LedgerEvent,
)
from db.writes import insert_ignoring_conflict
from domain.experiments.results import SignupRecord

# Where an assignment comes from: the hash, or a sign-up after the winner was rolled out.
FROM_EXPERIMENT = "experiment"
FROM_ROLLOUT = "rollout"


async def states(session: AsyncSession) -> dict[str, ExperimentStateRow]:
    rows = await session.scalars(select(ExperimentStateRow))
    return {row.experiment_id: row for row in rows}


async def set_state(
    session: AsyncSession,
    experiment_id: str,
    state: str,
    *,
    winner: str | None,
    winner_terms_version: str | None,
    by: str,
    at: datetime,
) -> None:
    values = {
        "state": state,
        "winner": winner,
        "winner_terms_version": winner_terms_version,
        "changed_by": by,
        "changed_at": at,
    }
    statement = insert_for(session)(ExperimentStateRow).values(
        experiment_id=experiment_id, **values
    )
    await session.execute(
        statement.on_conflict_do_update(index_elements=["experiment_id"], set_=values)
    )


async def assign_once(
    session: AsyncSession,
    *,
    experiment_id: str,
    subject: str,
    variant: str,
    source: str,
    terms_version: str,
    price_book: str | None,
    customer_id: str,
    at: datetime,
) -> ExperimentAssignment:
    """The subject's assignment: this one if it has none yet, else the first (a retried or
    concurrent sign-up keeps the variant it drew)."""
    await insert_ignoring_conflict(
        session,
        ExperimentAssignment,
        {
            "experiment_id": experiment_id,
            "subject_id": subject,
            "variant": variant,
            "source": source,
            "terms_version": terms_version,
            "price_book": price_book,
            "customer_id": customer_id,
            "assigned_at": at,
        },
        on=["experiment_id", "subject_id"],
    )
    row = await session.scalar(
        select(ExperimentAssignment)
        .where(
            ExperimentAssignment.experiment_id == experiment_id,
            ExperimentAssignment.subject_id == subject,
        )
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def pinned_assignment(session: AsyncSession, customer_id: str) -> ExperimentAssignment | None:
    """The assignment whose terms the customer is held to (the latest, unless an admin
    migrated the customer)."""
    row: ExperimentAssignment | None = await session.scalar(
        select(ExperimentAssignment)
        .where(
            ExperimentAssignment.customer_id == customer_id,
            ExperimentAssignment.migrated_at.is_(None),
        )
        .order_by(ExperimentAssignment.assigned_at.desc())
        .limit(1)
    )
    return row


async def customer_assignment(
    session: AsyncSession, experiment_id: str, customer_id: str
) -> ExperimentAssignment | None:
    row: ExperimentAssignment | None = await session.scalar(
        select(ExperimentAssignment).where(
            ExperimentAssignment.experiment_id == experiment_id,
            ExperimentAssignment.customer_id == customer_id,
        )
    )
    return row


async def set_migrated(
    session: AsyncSession, experiment_id: str, customer_id: str, at: datetime | None
) -> None:
    await session.execute(
        update(ExperimentAssignment)
        .where(
            ExperimentAssignment.experiment_id == experiment_id,
            ExperimentAssignment.customer_id == customer_id,
        )
        .values(migrated_at=at)
    )


async def price_book_of(session: AsyncSession, customer_id: str) -> str | None:
    """The price book the customer's plan prices come from: its pinned variant's, else the
    list prices (None)."""
    pinned = await pinned_assignment(session, customer_id)
    return pinned.price_book if pinned is not None else None


async def record_exposure(
    session: AsyncSession,
    *,
    experiment_id: str,
    subject: str,
    variant: str,
    source: str,
    at: datetime,
) -> None:
    session.add(
        ExperimentExposure(
            experiment_id=experiment_id,
            subject_id=subject,
            variant=variant,
            source=source,
            exposed_at=at,
        )
    )


async def visitors(session: AsyncSession, experiment_id: str) -> dict[str, int]:
    """Distinct subjects shown each variant."""
    rows = await session.execute(
        select(ExperimentExposure.variant, func.count(distinct(ExperimentExposure.subject_id)))
        .where(ExperimentExposure.experiment_id == experiment_id)
        .group_by(ExperimentExposure.variant)
    )
    return {variant: int(count) for variant, count in rows.tuples()}


async def signup_counts(session: AsyncSession, experiment_id: str) -> dict[tuple[str, str], int]:
    """Assignments per (variant, source)."""
    rows = await session.execute(
        select(ExperimentAssignment.variant, ExperimentAssignment.source, func.count())
        .where(ExperimentAssignment.experiment_id == experiment_id)
        .group_by(ExperimentAssignment.variant, ExperimentAssignment.source)
    )
    return {(variant, source): int(count) for variant, source, count in rows.tuples()}


def _first(kind: str) -> Subquery:
    return (
        select(LedgerEvent.customer_id, func.min(LedgerEvent.occurred_at).label("at"))
        .where(LedgerEvent.kind == kind)
        .group_by(LedgerEvent.customer_id)
        .subquery()
    )


async def signup_records(session: AsyncSession, experiment_id: str) -> list[SignupRecord]:
    """The experiment's own sign-ups (not the rollout's), each with its conversion, first
    cancellation, paid revenue and whether a payment of it was declined."""
    converted, canceled, declined = (
        _first("trial_converted"),
        _first("subscription_canceled"),
        _first("payment_failed"),
    )
    revenue = (
        select(Invoice.customer_id, func.sum(Invoice.amount_paid_cents).label("cents"))
        .where(Invoice.status == "paid")
        .group_by(Invoice.customer_id)
        .subquery()
    )
    a = ExperimentAssignment
    rows = await session.execute(
        select(
            a.variant,
            a.assigned_at,
            Customer.trial_ends_at,
            converted.c.at,
            canceled.c.at,
            revenue.c.cents,
            declined.c.at,
        )
        .join(Customer, Customer.id == a.customer_id)
        .outerjoin(converted, converted.c.customer_id == a.customer_id)
        .outerjoin(
            canceled,
            and_(canceled.c.customer_id == a.customer_id, converted.c.at.is_not(None)),
        )
        .outerjoin(revenue, revenue.c.customer_id == a.customer_id)
        .outerjoin(declined, declined.c.customer_id == a.customer_id)
        .where(a.experiment_id == experiment_id, a.source == FROM_EXPERIMENT)
    )
    return [
        SignupRecord(
            variant=variant,
            signed_up_at=assigned_at,
            trial_ends_at=trial_ends_at,
            converted_at=converted_at,
            churned_at=canceled_at,
            revenue_cents=int(cents or 0),
            payment_declined=declined_at is not None,
        )
        for variant, assigned_at, trial_ends_at, converted_at, canceled_at, cents, declined_at in (
            rows.tuples()
        )
    ]
