"""``services.fx.report_inputs`` net of tax on a real database, before any invoice: each
customer's share estimated from where the engine knows it is (billing address country and
state, else its sign-up country; its VAT id), in a one-currency deployment (EUR only, no
rate read) as in one with several currencies."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.config import EngineConfig
from db.models import Customer, CustomerTaxId, Invoice
from domain.reporting.ledger import LedgerRow
from domain.reporting.net_of_tax import TaxBasis
from services import fx
from tests.factories.databases import Database
from tests.factories.records import append_row

AT = datetime(2026, 11, 2, 12, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)


async def _customer(
    database: Database, currency: str | None, mrr: int, *, vat: str | None = None, **values: Any
) -> str:
    cid = str(uuid.uuid4())
    async with database.sessions.begin() as session:
        session.add(
            Customer(
                id=cid,
                external_id=f"ext-{cid}",
                email=f"{cid}@example.com",
                status="active",
                plan="pro",
                currency=currency,
                created_at=AT,
                updated_at=AT,
                **values,
            )
        )
        await session.flush()
        if vat is not None:
            session.add(
                CustomerTaxId(
                    customer_id=cid, type="eu_vat", value=vat, country=vat[:2], created_at=AT
                )
            )
    async with database.sessions.begin() as session:
        row = LedgerRow(cid, "trial_converted", AT, "trialing", "active", "pro", "month", mrr)
        await append_row(session, row, event_key=f"{cid}:converted", recorded_at=AT)
    return cid


def _taxed(config: EngineConfig, reporting_currency: str) -> EngineConfig:
    return replace(
        config,
        tax=replace(config.tax, enabled=True),
        reporting_currency=reporting_currency,
    )


async def test_one_currency_is_net_with_estimated_shares(
    own_database: Database, engine_config: EngineConfig
) -> None:
    consumer = await _customer(
        own_database, "eur", 11900, billing_address={"country": "DE", "line1": "x"}
    )
    business = await _customer(own_database, "eur", 11900, country="DE", vat="DE136695976")
    unlocated = await _customer(own_database, "eur", 11900)

    inputs = await fx.report_inputs(_taxed(engine_config, "eur"), own_database.sessions, end=END)

    assert (inputs.currency, inputs.rates) == ("eur", ())
    mrr = {row.customer_id: row.mrr_delta_cents for row in inputs.ledger}
    # 119.00 with German VAT -> 100.00; the business's reverse charge keeps 119.00; a
    # customer the engine cannot place is not taxed (Stripe Tax would not charge it).
    assert mrr == {consumer: 10000, business: 11900, unlocated: 11900}
    assert inputs.tax == TaxBasis("net", from_invoice=0, estimated=2, untaxed=1)

    # Tax off: the same ledger as paid.
    untaxed = await fx.report_inputs(
        replace(engine_config, reporting_currency="eur"), own_database.sessions, end=END
    )
    assert {row.mrr_delta_cents for row in untaxed.ledger} == {11900}


async def test_exclusive_state_tax_leaves_mrr_and_other_currencies_convert(
    own_database: Database, engine_config: EngineConfig
) -> None:
    ny = await _customer(
        own_database, "usd", 2900, billing_address={"country": "US", "state": "NY"}
    )
    consumer = await _customer(
        own_database, "eur", 11900, billing_address={"country": "DE", "line1": "x"}
    )

    # A pack whose invoice the mirror does not hold: 10.00 plus New York's 4 %.
    pack = LedgerRow(
        ny,
        "addon_purchased",
        AT,
        "active",
        "active",
        "pro",
        "month",
        data={"kind": "one_off", "amount_paid_cents": 1040, "invoice_id": "in_elsewhere"},
    )
    async with own_database.sessions.begin() as session:
        await append_row(session, pack, event_key=f"{ny}:pack", recorded_at=AT)

    inputs = await fx.report_inputs(_taxed(engine_config, "usd"), own_database.sessions, end=END)

    assert inputs.currency == "usd"
    (eur,) = inputs.rates
    assert eur.currency == "eur"
    mrr = {r.customer_id: r.mrr_delta_cents for r in inputs.ledger if r.kind == "trial_converted"}
    # USD prices exclude tax: MRR is net already. EUR: 100.00 net at the rate, rounded once.
    assert mrr[ny] == 2900
    (paid,) = [r.data["amount_paid_cents"] for r in inputs.ledger if r.kind == "addon_purchased"]
    assert paid == 1000  # the state's 4 % estimated from the billing address
    assert mrr[consumer] == int((10000 * eur.rate).quantize(Decimal(1), ROUND_HALF_UP))


async def test_the_currency_report_converts_an_invoice_in_another_currency_than_its_group(
    own_database: Database, engine_config: EngineConfig
) -> None:
    """A customer whose currency changed since (its row still in the catalog's USD group)
    with an invoice in yen: converted into the group's currency at the rate of ``to``, not
    a 422 for the whole report (CI found it on the shared test database)."""
    cid = await _customer(own_database, None, 2900)
    async with own_database.sessions.begin() as session:
        session.add(
            Invoice(
                id=f"in_{uuid.uuid4().hex[:16]}",
                customer_id=cid,
                subscription_id="sub_x",
                status="paid",
                currency="jpy",
                subtotal_cents=4400,
                total_cents=4400,
                amount_due_cents=4400,
                amount_paid_cents=4400,
                amount_remaining_cents=0,
                billing_reason="subscription_create",
                created_at=AT,
                updated_at=AT,
                paid_at=AT,
            )
        )
    report = await fx.currency_report(
        replace(engine_config, reporting_currency="usd"),
        own_database.sessions,
        start=AT.replace(day=1),
        end=END,
    )
    assert report.tax is not None and report.tax.basis == "net"
