"""A customer's tax ids over HTTP (issue 15 part 3): checked with python-stdnum (a refused
id is a 422 naming ``tax_ids.<i>.value`` or ``.type`` and why), stored, and kept in step
with the simulated Stripe customer's TaxIds; a customer with no provider customer yet gets
them when it is created."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import update
from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator import SimulatedGateway
from adapters.payments.simulator.models import SimCustomer
from adapters.payments.tax_ids import sync_tax_ids
from api.customers.tax_ids import TaxIdType
from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import Customer
from domain.tax.tax_ids import TAX_ID_TYPES
from tests.factories.apps import api_client
from tests.factories.customers import make_customer
from tests.factories.responses import assert_problem, fields, ok
from tests.factories.settings import auth, make_settings

DE_VAT, GB_VAT = "DE 136,695,976", "GB 980 7806 84"


@pytest.fixture
async def http(
    database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=database_url, task_queue=task_queue, stripe_api_key=None)
    async with api_client(settings, dev_server_env.client) as client:
        yield client


async def with_provider_customer(
    sessions: SessionFactory, config: EngineConfig, simulator: SimulatedGateway
) -> tuple[str, str]:
    customer_id = await make_customer(sessions, config)
    provider_id = await simulator.ensure_customer(
        customer_id=customer_id, email=None, name=None, idempotency_key=f"c:{customer_id}"
    )
    async with sessions.begin() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == customer_id)
            .values(provider_customer_id=provider_id)
        )
    return customer_id, provider_id


async def provider_ids(sessions: SessionFactory, provider_id: str) -> list[tuple[str, str]]:
    async with sessions() as session:
        customer = await session.get(SimCustomer, provider_id)
        assert customer is not None
        return [(t["type"], t["value"]) for t in customer.tax_ids or []]


def put(customer_id: str, *ids: tuple[str, str]) -> dict[str, typing.Any]:
    return {
        "url": f"/v1/customers/{customer_id}/tax-ids",
        "json": {"tax_ids": [{"type": t, "value": v} for t, v in ids]},
        "headers": auth(),
    }


async def test_tax_ids_are_validated_stored_and_synced(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    simulator: SimulatedGateway,
) -> None:
    customer_id, provider_id = await with_provider_customer(sessions, engine_config, simulator)

    refused = assert_problem(
        await http.put(**put(customer_id, ("gb_vat", GB_VAT), ("eu_vat", "DE136695977"))), 422
    )
    assert fields(refused) == ["tax_ids.1.value"]
    assert "check digits" in refused["errors"][0]["message"]
    short = assert_problem(await http.put(**put(customer_id, ("eu_vat", "DE1234"))), 422)
    assert "wrong length" in short["errors"][0]["message"]
    unknown = assert_problem(await http.put(**put(customer_id, ("xx_vat", "1"))), 422)
    assert fields(unknown) == ["tax_ids.0.type"]
    assert await provider_ids(sessions, provider_id) == []  # nothing stored or sent

    body = ok(await http.put(**put(customer_id, ("eu_vat", DE_VAT), ("gb_vat", GB_VAT))))
    assert [(t["type"], t["value"], t["country"]) for t in body["tax_ids"]] == [
        ("eu_vat", "DE136695976", "DE"),
        ("gb_vat", "980780684", "GB"),
    ]
    assert all(t["provider_tax_id"].startswith("txi_") for t in body["tax_ids"])
    assert await provider_ids(sessions, provider_id) == [
        ("eu_vat", "DE136695976"),
        ("gb_vat", "980780684"),
    ]
    gb = body["tax_ids"][1]["provider_tax_id"]

    # Replacing the set removes the German id at the provider; the British one stays as is.
    again = ok(await http.put(**put(customer_id, ("gb_vat", "GB980780684"))))
    assert [t["provider_tax_id"] for t in again["tax_ids"]] == [gb]
    assert await provider_ids(sessions, provider_id) == [("gb_vat", "980780684")]
    listed = ok(await http.get(f"/v1/customers/{customer_id}/tax-ids", headers=auth()))
    assert listed == again

    ok(await http.put(**put(customer_id)))
    assert await provider_ids(sessions, provider_id) == []
    assert_problem(await http.get("/v1/customers/nope/tax-ids", headers=auth()), 404)
    assert_problem(await http.put(**put("nope", ("gb_vat", GB_VAT))), 404)


async def test_ids_given_before_the_provider_customer_exists_are_synced_on_creation(
    http: httpx.AsyncClient,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    simulator: SimulatedGateway,
) -> None:
    customer_id = await make_customer(sessions, engine_config)
    body = ok(await http.put(**put(customer_id, ("eu_vat", DE_VAT))))
    assert body["tax_ids"][0]["provider_tax_id"] is None
    provider_id = await simulator.ensure_customer(
        customer_id=customer_id, email=None, name=None, idempotency_key=f"c:{customer_id}"
    )
    # What the billing activity does once it has created the provider customer; twice is
    # once (each id's key is its row).
    for _ in range(2):
        await sync_tax_ids(
            simulator, sessions, customer_id=customer_id, provider_customer_id=provider_id
        )
    assert await provider_ids(sessions, provider_id) == [("eu_vat", "DE136695976")]


def test_the_api_accepts_exactly_the_types_the_domain_validates() -> None:
    assert set(typing.get_args(TaxIdType)) == set(TAX_ID_TYPES)
