"""Generated customer histories with a known churn driver: the churn model's tests plant it,
and ``make bench-analytics`` runs the daily analytics on ten thousand of them."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from domain.analytics.features import CustomerHistory, week_start
from domain.reporting.ledger import LedgerRow

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


def daily_messages(history: CustomerHistory) -> dict[date, int]:
    """The weekly totals spread over each week's days (weekdays twice a weekend day)."""
    daily: dict[date, int] = {}
    for (metric, monday), total in history.weekly_usage.items():
        if metric != "messages":
            continue
        for offset, share in enumerate((2, 2, 2, 2, 2, 1, 1)):
            daily[monday + timedelta(days=offset)] = total * share // 12
    return daily
