"""`lifecycle demo seed`: a small seeded history through the real workflows and simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from core.settings import Settings
from db.engine import create_engine, session_factory
from db.ledger import AUDIT_KINDS, verify_chain
from db.models import Customer, ExperimentAssignment, Invoice, LedgerEvent, UsageCounter, UsageDaily
from devtools.demo import SeedReport, seed
from devtools.demo.personas import SHOWCASE, Act, plan_customers
from devtools.demo.seeder import default_end
from lifecycle.cli import app
from tests.factories.databases import create_database, drop_database
from tests.factories.tools import tool

CUSTOMERS = len(SHOWCASE) + 2
MONTHS = 3
SEED = 11

# What the showcase personas must leave in the ledger.
EXPECTED_KINDS = {
    "trial_started",
    "trial_converted",
    "trial_expired",
    "trial_extended",
    "plan_changed",
    "plan_change_scheduled",
    "addon_purchased",
    "subscription_renewed",
    "payment_failed",
    "payment_retry_failed",
    "payment_recovered",
    "payment_method_updated",
    "subscription_canceled",
    "cancellation_scheduled",
    "cancellation_withdrawn",
    "subscription_paused",
    "subscription_resumed",
    "subscription_restarted",
    "invoice_paid",
    "webhook_received",
    "email_sent",
    "cancellation_requested",
    "offer_accepted",
}


async def _seeded(pg_admin_url: str, end: datetime) -> AsyncIterator[tuple[str, SeedReport]]:
    url = await create_database(pg_admin_url, prefix="lc_demo")
    try:
        report = await seed(
            Settings(database_url=url), customers=CUSTOMERS, months=MONTHS, seed=SEED, end_at=end
        )
        yield url, report
    finally:
        await drop_database(pg_admin_url, url)


@pytest.fixture(scope="module")
def history_end() -> datetime:
    tool("temporal-test-server")
    return default_end()


@pytest.fixture(scope="module")
async def seeded(pg_admin_url: str, history_end: datetime) -> AsyncIterator[tuple[str, SeedReport]]:
    async for result in _seeded(pg_admin_url, history_end):
        yield result


@pytest.mark.timeout(600)
async def test_every_persona_path_reaches_the_ledger(seeded: tuple[str, SeedReport]) -> None:
    url, report = seeded
    assert report.refused == []
    assert set(report.ledger) >= EXPECTED_KINDS, EXPECTED_KINDS - set(report.ledger)
    assert report.ledger["trial_started"] == CUSTOMERS
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = (await session.execute(select(LedgerEvent.kind, LedgerEvent.data))).all()

            def values(kind: str, key: str) -> set[str]:
                return {str(data.get(key)).lower() for k, data in rows if k == kind}

            # Converted within the trial, after expiry without and with win-back emails.
            converted = [data for kind, data in rows if kind == "trial_converted"]
            assert {c["converted_from"] for c in converted} == {"trialing", "trial_expired"}
            assert any(
                c["winbacks_sent"] == 0 and c["converted_from"] == "trial_expired"
                for c in converted
            )
            assert any(c["winbacks_sent"] > 0 for c in converted)
            assert values("plan_changed", "change") == {"upgrade", "downgrade"}
            assert values("addon_purchased", "kind") == {"recurring", "one_off"}
            assert values("subscription_canceled", "voluntary") == {"true", "false"}
            assert values("subscription_canceled", "reason") >= {
                "dunning_exhausted",
                "canceled_now",
                "cancel_at_period_end",
            }
            assert values("payment_recovered", "via") == {"new_card", "retry"}

            # Invoices were mirrored: first charges, prorations, packs and renewals, each
            # paid one with its invoice_paid ledger row.
            reasons = set(await session.scalars(select(Invoice.billing_reason).distinct()))
            assert {"subscription_create", "subscription_update", "subscription_cycle"} <= reasons
            paid = await session.scalar(
                select(func.count()).select_from(Invoice).where(Invoice.status == "paid")
            )
            assert paid == report.ledger["invoice_paid"]
            assert report.invoices == await session.scalar(
                select(func.count()).select_from(Invoice)
            )

            # The lifecycle history lies in the reported range, which ends in the past.
            first, last = (
                await session.execute(
                    select(
                        func.min(LedgerEvent.occurred_at), func.max(LedgerEvent.occurred_at)
                    ).where(LedgerEvent.kind.not_in(AUDIT_KINDS))
                )
            ).one()
            assert report.ends_in_the_past
            assert report.history_start <= first <= last <= report.history_end
            assert report.history_end <= datetime.now(UTC)
            signed_up = await session.scalar(select(func.min(Customer.created_at)))
            assert signed_up is not None and signed_up >= report.history_start

            # The shipped draft experiment was started: every customer drew a variant (by
            # the hash of its app id, so both appear), and the Pro subscriptions of the
            # "higher" variant's customers are billed at its price.
            drawn = dict(
                (
                    await session.execute(
                        select(ExperimentAssignment.variant, func.count())
                        .where(ExperimentAssignment.experiment_id == "pro_119")
                        .group_by(ExperimentAssignment.variant)
                    )
                ).all()
            )
            assert set(drawn) == {"control", "higher"}
            assert sum(drawn.values()) == CUSTOMERS
            # Conversions to monthly Pro, each variant at its price.
            pro_mrr = await session.execute(
                select(ExperimentAssignment.variant, LedgerEvent.mrr_delta_cents)
                .join(LedgerEvent, LedgerEvent.customer_id == ExperimentAssignment.customer_id)
                .where(
                    LedgerEvent.kind == "trial_converted",
                    LedgerEvent.plan == "pro",
                    LedgerEvent.interval == "month",
                )
            )
            prices: dict[str, set[int]] = {}
            for variant, mrr in pro_mrr.all():
                prices.setdefault(variant, set()).add(mrr)
            assert set(prices) <= {"control", "higher"} and prices, prices
            assert prices.get("control", {9900}) == {9900}
            assert prices.get("higher", {11900}) == {11900}

            chain = await verify_chain(session)
            assert chain.broken is None
            assert chain.rows == sum(report.ledger.values())
    finally:
        await engine.dispose()


@pytest.mark.timeout(600)
async def test_the_seeded_customers_report_usage_and_leavers_use_less(
    seeded: tuple[str, SeedReport],
) -> None:
    """Usage for every trialing or paying day, counted per period as the engine counts it;
    a customer who cancels voluntarily used less in the weeks before."""
    url, report = seeded
    assert report.usage_days > 0
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            daily = {
                (cid, day): quantity
                for cid, day, quantity in await session.execute(
                    select(UsageDaily.customer_id, UsageDaily.day, UsageDaily.quantity).where(
                        UsageDaily.metric == "messages"
                    )
                )
            }
            counted = await session.scalar(
                select(func.sum(UsageCounter.used)).where(UsageCounter.metric == "messages")
            )
            leavers = list(
                await session.execute(
                    select(LedgerEvent.customer_id, LedgerEvent.occurred_at).where(
                        LedgerEvent.kind == "cancellation_scheduled"
                    )
                )
            )
    finally:
        await engine.dispose()
    assert counted == sum(daily.values())

    def mean(cid: str, day: date, first: int, last: int) -> float:
        """Messages a day over days ``first`` .. ``last`` - 1 before ``day``."""
        span = [daily.get((cid, day - timedelta(days=n)), 0) for n in range(first, last)]
        return sum(span) / len(span)

    def used_every_day(cid: str, day: date, first: int, last: int) -> bool:
        return all(daily.get((cid, day - timedelta(days=n)), 0) > 0 for n in range(first, last))

    # Leavers who were using it every day five weeks before deciding (not paused then).
    compared = [
        (cid, at.date()) for cid, at in leavers if used_every_day(str(cid), at.date(), 29, 36)
    ]
    assert compared, "the showcase schedules a cancellation"
    for cid, day in compared:
        assert mean(str(cid), day, 1, 8) < 0.6 * mean(str(cid), day, 29, 36), cid


async def test_the_same_seed_gives_the_same_history(
    pg_admin_url: str, history_end: datetime, seeded: tuple[str, SeedReport]
) -> None:
    _, first = seeded
    async for _, second in _seeded(pg_admin_url, history_end):
        assert second.ledger == first.ledger
        assert second.statuses == first.statuses
        assert (second.invoices, second.emails, second.commands, second.renewals) == (
            first.invoices,
            first.emails,
            first.commands,
            first.renewals,
        )
        assert (second.history_start, second.history_end) == (
            first.history_start,
            first.history_end,
        )


def test_plans_are_deterministic_and_cover_the_showcase() -> None:
    plans = plan_customers(300, 365, seed=5)
    assert plans == plan_customers(300, 365, seed=5)
    assert plans != plan_customers(300, 365, seed=6)
    assert [p.persona for p in plans[: len(SHOWCASE)]] == [name for name, _ in SHOWCASE]
    assert all(0 <= p.signup_day < 365 for p in plans)
    personas = {p.persona.split("/")[0] for p in plans}
    assert {
        "trial_expired",
        "converted_in_trial",
        "converted_after_expiry",
        "converted_after_winback",
    } <= personas
    # After an extension, a conversion never falls on a day the extension sends a reminder.
    for plan in plans:
        steps = plan.steps
        if len(steps) > 1 and steps[0].act is Act.EXTEND_TRIAL:
            extension = steps[0].days
            assert steps[1].act is Act.CONVERT
            assert steps[1].after_days not in {extension - r for r in (7, 3, 1)} | {extension}
    assert len({p.external_id(5) for p in plans}) == 300


def test_cli_help_says_where_the_history_lies() -> None:
    result = CliRunner().invoke(app, ["demo", "seed", "--help"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("\u2502", " ").split())
    for option in ("--customers", "--months", "--seed", "--database-url", "--config"):
        assert option in text
    assert "The history ends about two hours before now" in text
    assert "The database keeps the history" in text
