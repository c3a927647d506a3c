"""The simulator's invoice PDF and hosted invoice page over HTTP show the invoice's legal
content (issue 15 part 6): number, parties with their tax ids, tax per rate, the
reverse-charge mention; an unknown invoice is a 404."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator import SimulatedGateway
from core.config import EngineConfig
from db.engine import SessionFactory
from domain.lifecycle import BillingInterval
from domain.payments import Address, PriceRef
from domain.tax.calculation import REVERSE_CHARGE_NOTE
from tests.adapters.payments.test_simulator import new_customer
from tests.adapters.payments.test_simulator_tax import DE_VAT, tax_settings, unique_prefix
from tests.factories.apps import api_client
from tests.factories.settings import make_settings


@pytest.fixture
async def http(
    database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=database_url, task_queue=task_queue, stripe_api_key=None)
    async with api_client(settings, dev_server_env.client) as client:
        yield client


async def test_pdf_and_page_show_the_legal_content(
    http: httpx.AsyncClient, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    sim = SimulatedGateway(sessions, engine_config.catalog, tax=tax_settings(unique_prefix()))
    engine_id, provider_id = await new_customer(sim, sessions, engine_config)
    await sim.update_customer(
        provider_id,
        idempotency_key=f"a:{provider_id}",
        address=Address(
            line1="Unter den Linden 1", city="Berlin", postal_code="10117", country="DE"
        ),
    )
    await sim.add_tax_id(provider_id, "eu_vat", DE_VAT, idempotency_key=f"t:{provider_id}")
    await sim.attach_payment_method(provider_id, "pm_card_visa", idempotency_key=f"p:{provider_id}")
    sub = await sim.create_subscription(
        provider_customer_id=provider_id,
        customer_id=engine_id,
        price=PriceRef("starter", BillingInterval.MONTH),
        idempotency_key=f"s:{engine_id}",
        currency="eur",
    )
    invoice = sub.latest_invoice
    assert invoice is not None and invoice.number is not None

    pdf = await http.get(f"/v1/simulator/invoices/{invoice.id}/pdf")
    assert pdf.status_code == 200, pdf.text
    for expected in (
        f"Invoice {invoice.number}",
        "ChatbotCloud Ltd",
        "Tax id (eu_vat): IE6388047V",
        "Unter den Linden 1, 10117, Berlin, DE",
        "Tax id (eu_vat): DE136695976",
        REVERSE_CHARGE_NOTE,
    ):
        assert expected in pdf.text, pdf.text
    page = await http.get(f"/v1/simulator/invoices/{invoice.id}")
    assert page.status_code == 200
    assert html.escape(REVERSE_CHARGE_NOTE) in page.text
    assert (await http.get("/v1/simulator/invoices/in_missing/pdf")).status_code == 404
