"""The reports net of tax over HTTP (issue 15): a German consumer pays the EUR starter
price (27.00, VAT included) through a real worker and the simulator's Stripe Tax; with
EUR as the only (and reporting) currency, ``/v1/admin/metrics``, its payments CSV and
``/v1/admin/reports/currencies`` count 22.69 of MRR and of revenue (27.00 less 4.31 of
VAT), and say where the customers' net shares came from.

A database of its own: the figures are exact, and the deployment has one currency."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from core.config import load_config
from core.settings import REPO_ROOT
from db.models import Invoice
from tests.factories.apps import api_with_worker
from tests.factories.customers import unique_email
from tests.factories.databases import Database
from tests.factories.polling import eventually
from tests.factories.responses import ok
from tests.factories.settings import ADMIN_KEY, auth, make_settings

WAIT = 30.0


@pytest.fixture
def taxed_eur_config(tmp_path: Path) -> Path:
    text = (REPO_ROOT / "lifecycle.toml").read_text()
    for old, new in (
        ("enabled = false\n# Whether prices", "enabled = true\n# Whether prices"),
        ('reporting_currency = "usd"', 'reporting_currency = "eur"'),
    ):
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "lifecycle.toml"
    path.write_text(text)
    return path


@pytest.fixture
async def http(
    own_database: Database,
    dev_server_env: WorkflowEnvironment,
    task_queue: str,
    taxed_eur_config: Path,
) -> AsyncIterator[httpx.AsyncClient]:
    config = load_config(taxed_eur_config)
    assert config.tax.enabled and config.reporting_currency == "eur"
    settings = make_settings(
        database_url=own_database.url,
        task_queue=task_queue,
        config_path=taxed_eur_config,
        stripe_api_key=None,
    )
    async with api_with_worker(
        settings, dev_server_env.client, sessions=own_database.sessions, config=config
    ) as client:
        yield client


async def german_consumer(http: httpx.AsyncClient) -> str:
    created = await http.post(
        "/v1/customers",
        json={
            "external_id": f"ext-{uuid.uuid4()}",
            "email": unique_email("net"),
            "country": "DE",
            "currency": "eur",
        },
        headers=auth(),
    )
    assert created.status_code == 201, created.text
    customer_id = str(created.json()["id"])
    ok(
        await http.put(
            f"/v1/customers/{customer_id}/billing-address",
            json={"line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117"}
            | {"country": "DE"},
            headers=auth(),
        )
    )
    return customer_id


async def test_metrics_count_mrr_and_revenue_net_of_vat(
    http: httpx.AsyncClient, own_database: Database
) -> None:
    paying = await german_consumer(http)
    await german_consumer(http)  # still in its trial: no invoice, a share estimated
    ok(
        await http.post(
            f"/v1/customers/{paying}/subscription",
            json={"plan": "starter", "interval": "month", "payment_method": "pm_card_visa"},
            headers=auth(),
        )
    )

    async def mirrored() -> Invoice | None:
        async with own_database.sessions() as session:
            return await session.scalar(select(Invoice).where(Invoice.customer_id == paying))

    invoice = await eventually(
        mirrored, lambda row: row is not None and row.status == "paid", timeout=WAIT
    )
    assert invoice is not None
    # Stripe Tax's inclusive price: 27.00 holds 19 % VAT, 22.69 net.
    assert (invoice.currency, invoice.total_cents, invoice.tax_cents) == ("eur", 2700, 431)
    end = str((datetime.now(UTC) + timedelta(days=1)).date())

    body = ok(await http.get("/v1/admin/metrics", params={"to": end}, headers=auth(ADMIN_KEY)))

    assert (body["currency"], body["exchange_rates"]) == ("eur", [])
    assert body["tax_basis"] == "net"
    assert body["tax_shares"] == {"from_invoice": 1, "estimated": 1, "untaxed": 0}
    assert (body["mrr_cents"], body["recurring_mrr_cents"], body["arpu_cents"]) == (
        2269,
        2269,
        2269,
    )
    assert body["mrr_movements"]["new"]["cents"] == 2269
    assert (body["revenue"]["payments_cents"], body["revenue"]["net_revenue_cents"]) == (
        2269,
        2269,
    )
    assert body["cohorts"][0]["revenue_cents"] == 2269
    payments = await http.get(
        "/v1/admin/reports/payments.csv", params={"to": end}, headers=auth(ADMIN_KEY)
    )
    assert payments.status_code == 200, payments.text
    (row,) = list(csv.DictReader(io.StringIO(payments.text)))
    assert row["amount_paid_cents"] == "2269"

    currencies = ok(
        await http.get(
            "/v1/admin/reports/currencies",
            params={"to": end, "by": "currency"},
            headers=auth(ADMIN_KEY),
        )
    )
    assert currencies["tax_basis"] == "net"
    assert currencies["tax_shares"] == body["tax_shares"]
    assert currencies["mrr"]["cents"] == 2269
    assert currencies["by_currency"][0]["mrr_cents"] == 2269
