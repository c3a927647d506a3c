"""Generated customer histories with a known churn driver (for the churn model's tests)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert

from db.engine import SessionFactory
from db.models import Customer, UsageDaily
from domain.analytics.features import CustomerHistory, state_at, week_start
from domain.reporting.ledger import LedgerRow
from tests.factories.records import append_row

START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
PRO_CENTS = 4900


def generated_histories(
    customers: int = 400, weeks: int = 52, *, seed: int = 7, start: datetime = START
) -> list[CustomerHistory]:
    """Pro customers signing up over the first eight weeks, using messages at random levels
    that do not depend on anything. The planted driver: a third of them have a fragile card
    (a failed payment, recovered within hours, in a quarter of their weeks) and leave, after
    dunning runs out, at 4 % a week; the others fail a payment in 1 % of their weeks and
    cancel, voluntarily, at 0.2 % a week. Usage goes on until the day they leave."""
    rng = random.Random(seed)
    end = start + timedelta(weeks=weeks)
    histories = []
    for n in range(customers):
        cid = f"c{n:04d}"
        fragile = rng.random() < 1 / 3
        failures, hazard = (0.25, 0.04) if fragile else (0.01, 0.002)
        joined = start + timedelta(days=rng.randrange(0, 7 * 8))
        rows = [
            LedgerRow(
                cid, "trial_converted", joined, "trialing", "active", "pro", "month", PRO_CENTS
            )
        ]
        usage: dict[tuple[str, date], int] = {}
        level = rng.randint(200, 3000)
        moment = joined
        while moment < end:
            usage[("messages", week_start(moment))] = max(0, int(rng.gauss(level, level * 0.2)))
            gone = moment + timedelta(days=rng.randrange(7)) if rng.random() < hazard else None
            if gone is not None and gone >= end:
                break
            if rng.random() < failures:
                failed = moment + timedelta(days=rng.randrange(7))
                if failed + timedelta(hours=6) < (gone or end):
                    rows += [
                        LedgerRow(
                            cid, "payment_failed", failed, "active", "past_due", "pro", "month"
                        ),
                        LedgerRow(
                            cid,
                            "payment_recovered",
                            failed + timedelta(hours=6),
                            "past_due",
                            "active",
                            "pro",
                            "month",
                        ),
                    ]
            if gone is not None:
                rows.append(
                    LedgerRow(
                        cid,
                        "subscription_canceled",
                        gone,
                        "active",
                        "canceled",
                        "pro",
                        "month",
                        -PRO_CENTS,
                        data={"voluntary": not fragile},
                    )
                )
                break
            moment += timedelta(weeks=1)
        rows.sort(key=lambda r: r.occurred_at)
        histories.append(CustomerHistory(cid, rows, usage))
    return histories


async def write_histories(
    sessions: SessionFactory, histories: list[CustomerHistory], *, now: datetime
) -> None:
    """Customers (in the state their ledger leaves them), their ledger rows through
    ``append_ledger`` and their weekly usage as one daily total on each week's Monday."""
    async with sessions.begin() as session:
        for history in histories:
            state = state_at(history, now)
            session.add(
                Customer(
                    id=history.customer_id,
                    external_id=f"ext-{history.customer_id}",
                    status=state.status or "trialing",
                    plan=state.plan or "starter",
                    interval=state.interval,
                    created_at=history.ledger[0].occurred_at,
                    updated_at=now,
                )
            )
    async with sessions.begin() as session:
        for history in histories:
            for n, row in enumerate(history.ledger):
                await append_row(session, row, event_key=f"{row.customer_id}:{n}", recorded_at=now)
        usage = [
            {"customer_id": h.customer_id, "metric": metric, "day": week, "quantity": quantity}
            for h in histories
            for (metric, week), quantity in h.weekly_usage.items()
        ]
        for start in range(0, len(usage), 2000):
            await session.execute(insert(UsageDaily).values(usage[start : start + 2000]))
