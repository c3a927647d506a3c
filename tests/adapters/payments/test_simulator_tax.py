"""Tax on the simulator's invoices (issue 15 parts 3 and 6), Stripe-shaped and valid against
the pinned spec, read into the engine's invoice mirror: an EU B2B reverse charge, a New
York sales tax, a tax-inclusive EU consumer price, a zero-decimal (JPY) invoice with two
Canadian taxes; customers' TaxIds; invoice numbers sequential per prefix without gaps under
concurrent finalizations, voided invoices keeping theirs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from adapters.payments.base import CardDeclined, PaymentRequestRejected
from adapters.payments.simulator import SimulatedGateway
from adapters.payments.simulator.models import SimInvoice
from adapters.payments.stripe_objects import parse_invoice
from core.config import EngineConfig
from db.engine import SessionFactory
from db.invoices import upsert_invoice
from db.models import Invoice
from domain.invoice_numbers import check_sequence
from domain.lifecycle import BillingInterval
from domain.payments import Address, PriceRef, addon_lookup_key
from domain.tax.calculation import REVERSE_CHARGE_NOTE, TaxBehavior
from domain.tax.settings import LegalEntity, TaxSettings
from domain.tax.tax_ids import validate_tax_id
from tests.adapters.payments.test_simulator import FrozenClock, new_customer
from tests.factories.stripe_schema import validate, validate_event

Json = dict[str, Any]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
STARTER_MONTH = PriceRef("starter", BillingInterval.MONTH)
DE_VAT = "DE 136,695,976"


def tax_settings(prefix: str | None = None) -> TaxSettings:
    return TaxSettings(
        enabled=True,
        seller=LegalEntity(
            name="ChatbotCloud Ltd",
            address_lines=("1 Grand Canal Square", "Dublin D02 P820", "Ireland"),
            country="IE",
            tax_ids=(validate_tax_id("eu_vat", "IE6388047V"),),
            invoice_prefix=prefix,
        ),
        behavior=TaxBehavior.EXCLUSIVE,
        behavior_by_currency={"eur": TaxBehavior.INCLUSIVE, "gbp": TaxBehavior.INCLUSIVE},
    )


def unique_prefix() -> str:
    # Numbers are per prefix across the whole database: each test its own sequence.
    return "T" + uuid.uuid4().hex[:8].upper()


@pytest.fixture
def sim(sessions: SessionFactory, engine_config: EngineConfig) -> SimulatedGateway:
    return SimulatedGateway(
        sessions,
        engine_config.catalog,
        base_url="http://sim.test",
        clock=FrozenClock(T0),
        tax=tax_settings(unique_prefix()),
    )


async def buyer(
    sim: SimulatedGateway,
    sessions: SessionFactory,
    config: EngineConfig,
    *,
    country: str,
    state: str | None = None,
    tax_id: tuple[str, str] | None = None,
    card: str = "pm_card_visa",
) -> tuple[str, str]:
    engine_id, provider_id = await new_customer(sim, sessions, config)
    await sim.update_customer(
        provider_id,
        idempotency_key=f"address:{provider_id}",
        address=Address(
            line1="1 Street", city="City", postal_code="1000", country=country, state=state
        ),
    )
    if tax_id is not None:
        await sim.add_tax_id(provider_id, *tax_id, idempotency_key=f"txi:{provider_id}")
    await sim.attach_payment_method(provider_id, card, idempotency_key=f"pm:{provider_id}")
    return engine_id, provider_id


async def first_invoice(
    sim: SimulatedGateway, engine_id: str, provider_id: str, currency: str
) -> Json:
    """The subscription's first invoice as its ``invoice.paid`` event carried it, checked
    against the spec (every event of the customer too)."""
    await sim.create_subscription(
        provider_customer_id=provider_id,
        customer_id=engine_id,
        price=STARTER_MONTH,
        idempotency_key=f"sub:{engine_id}",
        currency=currency,
    )
    events = await sim.events(provider_id)
    for event in events:
        validate_event(event)
    paid = [e["data"]["object"] for e in events if e["type"] == "invoice.paid"]
    assert len(paid) == 1
    invoice: Json = paid[0]
    validate("invoice", invoice)
    return invoice


async def mirrored(sessions: SessionFactory, engine_id: str, obj: Json) -> Invoice:
    async with sessions.begin() as session:
        await upsert_invoice(session, engine_id, parse_invoice(obj), now=T0)
    async with sessions() as session:
        row = await session.get(Invoice, obj["id"])
    assert row is not None
    return row


async def test_eu_b2b_reverse_charge(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id = await buyer(
        sim, sessions, engine_config, country="DE", tax_id=("eu_vat", DE_VAT)
    )
    invoice = await first_invoice(sim, engine_id, provider_id, "eur")
    # No VAT: the buyer accounts for it; the invoice says so and names both VAT ids.
    assert (invoice["subtotal"], invoice["total"], invoice["amount_paid"]) == (2700, 2700, 2700)
    assert invoice["customer_tax_exempt"] == "reverse"
    assert invoice["footer"] == REVERSE_CHARGE_NOTE
    assert invoice["customer_tax_ids"] == [{"type": "eu_vat", "value": "DE136695976"}]
    assert invoice["account_name"] == "ChatbotCloud Ltd"
    assert len(invoice["account_tax_ids"]) == 1
    [tax] = invoice["total_taxes"]
    assert (tax["amount"], tax["taxability_reason"], tax["taxable_amount"]) == (
        0,
        "reverse_charge",
        2700,
    )
    assert invoice["lines"]["data"][0]["taxes"][0]["taxability_reason"] == "reverse_charge"

    row = await mirrored(sessions, engine_id, invoice)
    assert (row.currency, row.subtotal_cents, row.tax_cents, row.total_cents) == (
        "eur",
        2700,
        0,
        2700,
    )
    assert row.tax_details is not None
    assert row.tax_details["reverse_charge"] is True
    assert row.tax_details["customer_tax_ids"] == [{"type": "eu_vat", "value": "DE136695976"}]


async def test_the_same_buyer_without_a_vat_id_pays_german_vat_inside_the_price(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    """An inclusive EU consumer price: the total stays the price, the VAT is inside it."""
    engine_id, provider_id = await buyer(sim, sessions, engine_config, country="FR")
    invoice = await first_invoice(sim, engine_id, provider_id, "eur")
    # 27.00 EUR incl. 20 % VAT: 22.50 net + 4.50 VAT.
    assert (invoice["subtotal"], invoice["total"]) == (2700, 2700)
    assert (invoice["total_excluding_tax"], invoice["subtotal_excluding_tax"]) == (2250, 2250)
    [tax] = invoice["total_taxes"]
    assert (tax["amount"], tax["tax_behavior"], tax["taxable_amount"]) == (450, "inclusive", 2250)
    assert tax["tax_rate_details"]["tax_rate"]["percentage"] == 20.0
    assert invoice["customer_tax_exempt"] == "none" and invoice["footer"] is None

    row = await mirrored(sessions, engine_id, invoice)
    assert (row.total_cents, row.tax_cents) == (2700, 450)
    assert row.tax_details is not None
    assert row.tax_details["total_excluding_tax_cents"] == 2250
    assert row.tax_details["taxes"][0]["percentage"] == "20.0"


async def test_new_york_sales_tax_is_added_to_a_usd_price(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id = await buyer(sim, sessions, engine_config, country="US", state="NY")
    invoice = await first_invoice(sim, engine_id, provider_id, "usd")
    # $29.00 + 4 % New York state sales tax.
    assert (invoice["subtotal"], invoice["total"], invoice["amount_paid"]) == (2900, 3016, 3016)
    [tax] = invoice["total_taxes"]
    assert (tax["amount"], tax["tax_behavior"]) == (116, "exclusive")
    assert tax["tax_rate_details"]["tax_rate"]["jurisdiction"] == "US-NY"
    assert tax["tax_rate_details"]["tax_rate"]["state"] == "NY"
    # The Price says so too, as sync-catalog sets it in production.
    line_price = invoice["lines"]["data"][0]["pricing"]["price_details"]["price"]
    assert line_price["tax_behavior"] == "exclusive"
    row = await mirrored(sessions, engine_id, invoice)
    assert (row.subtotal_cents, row.tax_cents, row.total_cents) == (2900, 116, 3016)


async def test_a_jpy_invoice_in_quebec_rounds_each_tax_to_whole_yen(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id = await buyer(sim, sessions, engine_config, country="CA", state="QC")
    invoice = await first_invoice(sim, engine_id, provider_id, "jpy")
    # ¥4,400 + GST 5 % (220) + QST 9.975 % (438.9 -> 439).
    taxes = [
        (t["amount"], t["tax_rate_details"]["tax_rate"]["display_name"])
        for t in invoice["total_taxes"]
    ]
    assert taxes == [(220, "GST"), (439, "QST")]
    assert (invoice["currency"], invoice["total"]) == ("jpy", 4400 + 220 + 439)
    row = await mirrored(sessions, engine_id, invoice)
    assert (row.currency, row.tax_cents, row.total_cents) == ("jpy", 659, 5059)


async def test_tax_ids_are_stripe_tax_id_objects_and_bad_ones_are_refused(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    _, provider_id = await new_customer(sim, sessions, engine_config)
    with pytest.raises(PaymentRequestRejected, match="check digits") as refused:
        await sim.add_tax_id(provider_id, "eu_vat", "DE136695977", idempotency_key="bad")
    assert refused.value.code == "tax_id_invalid"
    txi = await sim.add_tax_id(provider_id, "gb_vat", "GB 980 7806 84", idempotency_key="gb")
    [obj] = await sim.customer_tax_ids(provider_id)
    validate("tax_id", obj)
    assert (obj["id"], obj["value"], obj["country"]) == (txi, "980780684", "GB")
    await sim.delete_tax_id(provider_id, txi)
    await sim.delete_tax_id(provider_id, txi)  # gone already: nothing to do
    assert await sim.customer_tax_ids(provider_id) == []
    for event in await sim.events(provider_id):
        validate_event(event)


async def test_no_tax_when_tax_is_off_and_no_subscription_without_a_tax_location(
    sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    off = SimulatedGateway(sessions, engine_config.catalog, clock=FrozenClock(T0))
    engine_id, provider_id = await buyer(off, sessions, engine_config, country="US", state="NY")
    invoice = await first_invoice(off, engine_id, provider_id, "usd")
    assert (invoice["total"], invoice["total_taxes"], invoice["automatic_tax"]["enabled"]) == (
        2900,
        [],
        False,
    )
    assert invoice["number"].startswith("SIM-")  # per-customer numbers without a prefix
    line_price = invoice["lines"]["data"][0]["pricing"]["price_details"]["price"]
    assert line_price["tax_behavior"] == "unspecified"

    on = SimulatedGateway(
        sessions, engine_config.catalog, clock=FrozenClock(T0), tax=tax_settings()
    )
    engine_id, provider_id = await new_customer(on, sessions, engine_config)
    await on.attach_payment_method(provider_id, "pm_card_visa", idempotency_key=f"pm:{provider_id}")
    # As Stripe Tax does: no address, no place to tax, no subscription (nothing is left).
    with pytest.raises(PaymentRequestRejected) as refused:
        await first_invoice(on, engine_id, provider_id, "usd")
    assert refused.value.code == "customer_tax_location_invalid"
    assert [
        e["type"]
        for e in await on.events(provider_id)
        if e["type"].startswith(("invoice.", "customer.subscription."))
    ] == []


# -- invoice numbers --------------------------------------------------------------------------


async def test_numbers_are_gapless_and_in_order_under_concurrent_finalizations(
    sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    prefix = unique_prefix()
    sim = SimulatedGateway(
        sessions, engine_config.catalog, clock=FrozenClock(T0), tax=tax_settings(prefix)
    )
    customers = [
        await buyer(sim, sessions, engine_config, country="US", state="NY") for _ in range(4)
    ]
    declining = await buyer(
        sim, sessions, engine_config, country="US", card="pm_card_chargeCustomerFail"
    )
    pack = addon_lookup_key("message_pack")

    async def buy(provider_id: str, n: int) -> None:
        for i in range(n):
            await sim.charge_one_off(provider_id, pack, 1, idempotency_key=f"{provider_id}:{i}")

    async def declined_subscription() -> None:
        # A declined first payment leaves nothing behind: its number is given back.
        with pytest.raises(CardDeclined):
            await sim.create_subscription(
                provider_customer_id=declining[1],
                customer_id=declining[0],
                price=STARTER_MONTH,
                idempotency_key=f"sub:{declining[0]}",
            )

    async def declined_one_off() -> None:
        # A declined one-off is voided and keeps its number.
        with pytest.raises(CardDeclined):
            await sim.charge_one_off(declining[1], pack, 1, idempotency_key=f"{declining[1]}:x")

    await asyncio.gather(
        *(buy(provider_id, 3) for _, provider_id in customers),
        declined_subscription(),
        declined_one_off(),
    )
    async with sessions() as session:
        rows = list(
            (
                await session.execute(
                    select(SimInvoice).where(SimInvoice.number.like(f"{prefix}-%"))
                )
            ).scalars()
        )
    numbers = sorted(int(r.number.rsplit("-", 1)[1]) for r in rows)
    assert numbers == list(range(1, 4 * 3 + 1 + 1))
    assert [r.status for r in rows].count("void") == 1
    report = check_sequence(r.number for r in rows)
    assert report.ok and report.sequences[0].count == 13
    # In order: within a customer, later invoices carry later numbers.
    for _, provider_id in customers:
        own = sorted((r for r in rows if r.customer_id == provider_id), key=lambda r: r.sequence)
        assert [r.number for r in own] == sorted(r.number for r in own)


async def test_the_invoice_pdf_carries_what_the_law_asks(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id = await buyer(
        sim, sessions, engine_config, country="DE", tax_id=("eu_vat", DE_VAT)
    )
    invoice = await first_invoice(sim, engine_id, provider_id, "eur")
    text = await sim.invoice_text(invoice["id"])
    for expected in (
        f"Invoice {invoice['number']}",
        "Date of issue: 2026-01-01",
        "Service period: 2026-01-01 to 2026-02-01",
        "ChatbotCloud Ltd",
        "1 Grand Canal Square",
        "Tax id (eu_vat): IE6388047V",  # the seller's
        "1 Street, 1000, City, DE",
        "Tax id (eu_vat): DE136695976",  # the buyer's
        "VAT 0% (DE) on €27.00: €0.00",
        "Total: €27.00",
        REVERSE_CHARGE_NOTE,
    ):
        assert expected in text, text

    engine_id, provider_id = await buyer(sim, sessions, engine_config, country="CA", state="QC")
    invoice = await first_invoice(sim, engine_id, provider_id, "jpy")
    text = await sim.invoice_text(invoice["id"])
    assert "GST 5% (CA) on ¥4,400: ¥220" in text
    assert "QST 9.975% (CA-QC) on ¥4,400: ¥439" in text
    assert REVERSE_CHARGE_NOTE not in text


async def test_the_upcoming_invoice_preview_shows_the_renewals_tax(
    sim: SimulatedGateway, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    engine_id, provider_id = await buyer(sim, sessions, engine_config, country="US", state="NY")
    sub = await sim.create_subscription(
        provider_customer_id=provider_id,
        customer_id=engine_id,
        price=STARTER_MONTH,
        idempotency_key=f"sub:{engine_id}",
    )
    (upcoming,) = await sim.emit_upcoming_invoice(sub.id)
    validate_event(upcoming)
    preview = upcoming["data"]["object"]
    assert (preview["subtotal"], preview["total"], preview["number"]) == (2900, 3016, None)
    assert [t["amount"] for t in preview["total_taxes"]] == [116]
