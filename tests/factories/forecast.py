"""Generated ledgers with a planted revenue trend, for the revenue forecast's tests.

Every calendar month ``trials`` trials start at random moments (``slowdown``: from that
month on, ``slowdown_trials``); each converts 14 days
later with probability ``conversion`` (else it expires), onto ``price`` a month, billed
monthly, or with probability ``annual`` onto the same MRR billed yearly (12 x ``price``).
Each month of a paying customer's life it churns with probability ``churn`` (a
cancellation somewhere in that month, before its next bill); otherwise its next bill is
an invoice on the anniversary. So the MRR follows, in expectation,

    MRR(m + 1) = (1 - churn) x MRR(m) + trials x conversion x price

towards ``trials x conversion x price / churn``: the trend the forecast must follow.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from db.engine import create_engine, session_factory
from db.models import Customer, Invoice
from domain.months import add_months
from domain.reporting.ledger import History, InvoiceRow, LedgerRow
from tests.factories.records import append_row

START = datetime(2024, 1, 1, tzinfo=UTC)
TRIAL = timedelta(days=14)


@dataclass(frozen=True)
class Planted:
    rows: list[LedgerRow]
    invoices: list[InvoiceRow]
    start: datetime
    end: datetime
    # Trials a month at the end of the history (what the trend continues with).
    trials: int
    conversion: float
    churn: float
    price: int

    @property
    def new_mrr_per_month(self) -> float:
        return self.trials * self.conversion * self.price

    def expected_mrr(self, starting_cents: float, months: int) -> float:
        """The planted recursion carried ``months`` forward from ``starting_cents``."""
        mrr = starting_cents
        for _ in range(months):
            mrr = (1 - self.churn) * mrr + self.new_mrr_per_month
        return mrr

    def mrr_at(self, moment: datetime) -> int:
        """The replayed ledger's recurring MRR at ``moment`` (what the reports show)."""
        history = History(self.rows)
        return sum(max(s.mrr_cents, 0) for s in history.states(moment).values())

    def invoiced_between(self, start: datetime, end: datetime) -> int:
        return sum(i.total_cents for i in self.invoices if start <= i.created_at < end)


def planted_growth(
    *,
    months: int = 36,
    trials: int = 40,
    conversion: float = 0.5,
    churn: float = 0.04,
    price: int = 4900,
    annual: float = 0.0,
    slowdown: int | None = None,
    slowdown_trials: int = 0,
    seed: int = 11,
    start: datetime = START,
) -> Planted:
    rng = random.Random(seed)
    end = add_months(start, months)
    rows: list[LedgerRow] = []
    invoices: list[InvoiceRow] = []
    number = 0
    for month in range(months):
        month_start = add_months(start, month)
        month_length = add_months(start, month + 1) - month_start
        starting = trials if slowdown is None or month < slowdown else slowdown_trials
        for _ in range(starting):
            number += 1
            cid = f"f{number:05d}"
            began = month_start + month_length * rng.random()
            rows.append(
                LedgerRow(cid, "trial_started", began, None, "trialing", "starter", None, 0)
            )
            decided = began + TRIAL
            if rng.random() >= conversion:
                rows.append(
                    LedgerRow(cid, "trial_expired", decided, "trialing", "trial_expired", "starter")
                )
                continue
            yearly = rng.random() < annual
            interval, every = ("year", 12) if yearly else ("month", 1)
            rows.append(
                LedgerRow(
                    cid, "trial_converted", decided, "trialing", "active", "pro", interval, price
                )
            )
            bills = 0
            life = 1
            while True:
                due = add_months(decided, every * bills)
                if due >= end:
                    break
                invoices.append(_invoice(cid, bills, due, price * every))
                bills += 1
                stop = add_months(decided, every * bills)
                churned = None
                while life <= every * bills:
                    if rng.random() < churn:
                        month_began = add_months(decided, life - 1)
                        churned = month_began + (add_months(decided, life) - month_began) * (
                            rng.random()
                        )
                        break
                    life += 1
                if churned is not None:
                    rows.append(
                        LedgerRow(
                            cid,
                            "subscription_canceled",
                            churned,
                            "active",
                            "canceled",
                            "pro",
                            interval,
                            -price,
                            data={"voluntary": True},
                        )
                    )
                    break
                if stop >= end:
                    break
    rows = [r for r in rows if r.occurred_at < end]
    rows.sort(key=lambda r: r.occurred_at)
    return Planted(
        rows=[
            LedgerRow(
                r.customer_id,
                r.kind,
                r.occurred_at,
                r.from_status,
                r.to_status,
                r.plan,
                r.interval,
                r.mrr_delta_cents,
                r.data,
                "test",
                n,
            )
            for n, r in enumerate(rows, start=1)
        ],
        invoices=invoices,
        start=start,
        end=end,
        trials=trials if slowdown is None else slowdown_trials,
        conversion=conversion,
        churn=churn,
        price=price,
    )


def _invoice(cid: str, n: int, at: datetime, cents: int) -> InvoiceRow:
    return InvoiceRow(
        id=f"in_{cid}_{n}",
        customer_id=cid,
        status="paid",
        currency="usd",
        created_at=at,
        amount_paid_cents=cents,
        amount_due_cents=cents,
        subtotal_cents=cents,
        total_cents=cents,
        billing_reason="subscription_create" if n == 0 else "subscription_cycle",
        period_start=at,
        paid_at=at,
    )


def paying_customer(
    cid: str, converted: datetime, mrr: int, interval: str = "month", *, trial: bool = False
) -> list[LedgerRow]:
    """A customer who starts paying ``mrr`` at ``converted`` and never stops (a trial 14
    days before it, when ``trial``)."""
    rows = []
    if trial:
        rows.append(LedgerRow(cid, "trial_started", converted - TRIAL, None, "trialing", "starter"))
    rows.append(
        LedgerRow(cid, "trial_converted", converted, "trialing", "active", "pro", interval, mrr)
    )
    return rows


def switch_to_annual(cid: str, at: datetime, delta: int) -> LedgerRow:
    return LedgerRow(
        cid, "plan_changed", at, "active", "active", "pro", "year", delta, {"change": "interval"}
    )


async def write_planted(url: str, planted: Planted) -> None:
    """The history in a migrated database: customers, ledger rows through
    ``append_ledger``, invoices straight into the mirror's table."""
    recorded = planted.end
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        first: dict[str, datetime] = {}
        for row in planted.rows:
            assert row.customer_id is not None
            first.setdefault(row.customer_id, row.occurred_at)
        async with sessions.begin() as session:
            session.add_all(
                Customer(
                    id=cid,
                    external_id=f"ext-{cid}",
                    status="active",
                    plan="pro",
                    created_at=at,
                    updated_at=recorded,
                )
                for cid, at in first.items()
            )
        async with sessions.begin() as session:
            for row in planted.rows:
                await append_row(
                    session, row, event_key=f"{row.customer_id}:{row.id}", recorded_at=recorded
                )
            await session.execute(
                insert(Invoice).values(
                    [
                        {
                            "id": i.id,
                            "customer_id": i.customer_id,
                            "status": i.status,
                            "currency": i.currency,
                            "subtotal_cents": i.subtotal_cents,
                            "total_cents": i.total_cents,
                            "amount_due_cents": i.amount_due_cents,
                            "amount_paid_cents": i.amount_paid_cents,
                            "amount_remaining_cents": i.amount_remaining_cents,
                            "billing_reason": i.billing_reason,
                            "period_start": i.period_start,
                            "paid_at": i.paid_at,
                            "created_at": i.created_at,
                            "updated_at": recorded,
                        }
                        for i in planted.invoices
                    ]
                )
            )
    finally:
        await engine.dispose()
