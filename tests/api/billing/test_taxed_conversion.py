"""A business buyer converts through Checkout with tax on (issue 15 parts 3 and 6), over
HTTP with a real worker and the embedded simulator: the VAT id given during the trial
reaches the provider customer when Checkout creates it, the first invoice is a reverse
charge numbered in the account's sequence, and the engine's mirror keeps its tax detail."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig, load_config
from core.settings import REPO_ROOT
from db.engine import SessionFactory
from db.models import Invoice
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.polling import eventually
from tests.factories.responses import ok
from tests.factories.settings import auth, make_settings
from tests.factories.workers import make_worker

WAIT = 30.0


@pytest.fixture
def prefix() -> str:
    return "T" + uuid.uuid4().hex[:8].upper()


@pytest.fixture
def taxed_config(tmp_path: Path, prefix: str) -> Path:
    text = (REPO_ROOT / "lifecycle.toml").read_text()
    text = text.replace("enabled = false\n# Whether prices", "enabled = true\n# Whether prices", 1)
    text = text.replace('# invoice_prefix = "CHAT"', f'invoice_prefix = "{prefix}"', 1)
    path = tmp_path / "lifecycle.toml"
    path.write_text(text)
    return path


@pytest.fixture
async def http(
    database_url: str,
    dev_server_env: WorkflowEnvironment,
    sessions: SessionFactory,
    task_queue: str,
    taxed_config: Path,
) -> AsyncIterator[httpx.AsyncClient]:
    config: EngineConfig = load_config(taxed_config)
    assert config.tax.enabled
    settings = make_settings(
        database_url=database_url,
        task_queue=task_queue,
        config_path=taxed_config,
        stripe_api_key=None,
    )
    async with (
        make_worker(dev_server_env.client, task_queue=task_queue, sessions=sessions, config=config),
        api_client(settings, dev_server_env.client) as client,
    ):
        yield client


async def test_a_german_business_converts_with_the_reverse_charge(
    http: httpx.AsyncClient, sessions: SessionFactory, prefix: str
) -> None:
    created = await http.post(
        "/v1/customers",
        json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email("vat"), "country": "DE"},
        headers=auth(),
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    ok(
        await http.put(
            f"/v1/customers/{customer_id}/billing-address",
            json={
                "line1": "Unter den Linden 1",
                "city": "Berlin",
                "postal_code": "10117",
                "country": "DE",
            },
            headers=auth(),
        )
    )
    given = ok(
        await http.put(
            f"/v1/customers/{customer_id}/tax-ids",
            json={"tax_ids": [{"type": "eu_vat", "value": "DE 136,695,976"}]},
            headers=auth(),
        )
    )
    assert given["tax_ids"][0]["provider_tax_id"] is None  # no provider customer yet

    checkout = ok(
        await http.post(
            f"/v1/customers/{customer_id}/checkout-session",
            json={
                "return_url": "https://app.example.com/billing",
                "plan": "starter",
                "interval": "month",
            },
            headers=auth(),
        )
    )
    synced = ok(await http.get(f"/v1/customers/{customer_id}/tax-ids", headers=auth()))
    assert synced["tax_ids"][0]["provider_tax_id"].startswith("txi_")
    session_id = httpx.URL(checkout["url"]).path.rsplit("/", 1)[-1]
    ok(
        await http.post(
            f"/v1/simulator/checkout/{session_id}/complete", json={"payment_method": "pm_card_visa"}
        )
    )

    async def mirrored() -> list[Invoice]:
        async with sessions() as session:
            rows = await session.scalars(select(Invoice).where(Invoice.customer_id == customer_id))
            return list(rows)

    (invoice,) = await eventually(mirrored, lambda rows: len(rows) == 1, timeout=WAIT)
    assert invoice.number == f"{prefix}-0001"
    assert (invoice.currency, invoice.total_cents, invoice.tax_cents) == ("eur", 2700, 0)
    assert invoice.tax_details is not None
    assert invoice.tax_details["reverse_charge"] is True
    assert invoice.tax_details["customer_tax_ids"] == [{"type": "eu_vat", "value": "DE136695976"}]
    assert invoice.tax_details["taxes"][0]["taxability_reason"] == "reverse_charge"


async def test_a_direct_conversion_needs_a_place_to_tax(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """As with Stripe Tax: no billing address, no subscription (a problem saying why, and
    the trial goes on); with a New York address the first invoice carries the state's tax."""
    created = await http.post(
        "/v1/customers",
        json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email("nyc")},
        headers=auth(),
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    convert = {"plan": "starter", "interval": "month", "payment_method": "pm_card_visa"}
    refused = await http.post(
        f"/v1/customers/{customer_id}/subscription", json=convert, headers=auth()
    )
    assert 400 <= refused.status_code < 500, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "tax location" in refused.json()["detail"]
    view = ok(await http.get(f"/v1/customers/{customer_id}", headers=auth()))
    assert view["status"] == "trialing"

    ok(
        await http.put(
            f"/v1/customers/{customer_id}/billing-address",
            json={
                "line1": "1 Main St",
                "city": "New York",
                "postal_code": "10001",
                "state": "NY",
                "country": "US",
            },
            headers=auth(),
        )
    )
    converted = ok(
        await http.post(f"/v1/customers/{customer_id}/subscription", json=convert, headers=auth())
    )
    assert converted["status"] == "active"

    async def first() -> Invoice | None:
        async with sessions() as session:
            return await session.scalar(select(Invoice).where(Invoice.customer_id == customer_id))

    invoice = await eventually(first, lambda row: row is not None, timeout=WAIT)
    assert invoice is not None and invoice.tax_cents == 116  # 4% of 29.00
