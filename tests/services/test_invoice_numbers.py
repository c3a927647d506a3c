"""The invoice-numbering check on the engine's invoice mirror: a planted gap and a
duplicate are found in the account prefix's sequence, each customer's own sequence is
checked without a prefix, and the admin report answers it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import Invoice
from services.invoice_numbers import numbering_report
from tests.factories.apps import api_client
from tests.factories.customers import make_customer
from tests.factories.responses import ok
from tests.factories.settings import ADMIN_KEY, auth, make_settings

NOW = datetime(2026, 3, 1, tzinfo=UTC)


async def mirror(sessions: SessionFactory, customer_id: str, *numbers: str) -> None:
    async with sessions.begin() as session:
        for number in numbers:
            session.add(
                Invoice(
                    id=f"in_{uuid.uuid4().hex[:16]}",
                    customer_id=customer_id,
                    number=number,
                    status="paid",
                    currency="eur",
                    subtotal_cents=100,
                    total_cents=100,
                    amount_due_cents=100,
                    amount_paid_cents=100,
                    amount_remaining_cents=0,
                    lines=[],
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


async def test_a_planted_gap_and_a_duplicate_are_found(
    sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    prefix = "G" + uuid.uuid4().hex[:8].upper()
    first = await make_customer(sessions, engine_config)
    second = await make_customer(sessions, engine_config)
    await mirror(sessions, first, f"{prefix}-0001", f"{prefix}-0002", f"{prefix}-0005")
    await mirror(sessions, second, f"{prefix}-0003", f"{prefix}-0005")
    report = await numbering_report(sessions, prefix)
    [sequence] = report.sequences
    assert (sequence.gaps, sequence.duplicates, sequence.count) == ((4,), (5,), 5)
    assert not report.ok

    await mirror(sessions, second, f"{prefix}-0004")
    healed = await numbering_report(sessions, prefix)
    assert healed.sequences[0].gaps == ()


@pytest.fixture
async def http(
    database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=database_url, task_queue=task_queue, stripe_api_key=None)
    async with api_client(settings, dev_server_env.client) as client:
        yield client


async def test_without_an_account_prefix_each_customer_is_its_own_sequence(
    http: httpx.AsyncClient, sessions: SessionFactory, engine_config: EngineConfig
) -> None:
    customer = await make_customer(sessions, engine_config)
    await mirror(sessions, customer, "SIM-0001", "SIM-0003")
    other = await make_customer(sessions, engine_config)
    await mirror(sessions, other, "SIM-0001", "SIM-0002")
    body = ok(await http.get("/v1/admin/reports/invoice-numbers", headers=auth(ADMIN_KEY)))
    assert body["account_prefix"] is None  # lifecycle.toml numbers per customer
    by_prefix = {s["prefix"]: s for s in body["sequences"]}
    assert by_prefix[f"{customer}:SIM"]["gaps"] == [2]
    assert by_prefix[f"{other}:SIM"]["gaps"] == []
    assert body["ok"] is False
    refused = await http.get("/v1/admin/reports/invoice-numbers", headers=auth())
    assert refused.status_code == 403
