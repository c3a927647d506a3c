"""Customers in other currencies over HTTP (issue 15 part 1): the real app, a real worker,
the embedded simulator. The currency is chosen at sign-up (explicitly or from the billing
country), charged through the prices' currency options, fixed by the first subscription,
and every amount the engine keeps (invoices, MRR) is in it.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from adapters.payments.simulator.models import SimCharge, SimCheckoutSession
from db.engine import SessionFactory
from tests.factories.billing import customer_row, invoices_of, renew
from tests.factories.customers import unique_email
from tests.factories.polling import eventually
from tests.factories.responses import ok, problem_naming
from tests.factories.settings import auth

WAIT = 30.0
RETURN_URL = "https://app.example.com/settings/billing"

Json = dict[str, Any]


async def sign_up(http: httpx.AsyncClient, **extra: Any) -> httpx.Response:
    return await http.post(
        "/v1/customers",
        json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email("fx"), **extra},
        headers=auth(),
    )


async def signed_up(http: httpx.AsyncClient, **extra: Any) -> Json:
    response = await sign_up(http, **extra)
    assert response.status_code == 201, response.text
    body: Json = response.json()
    return body


async def sim_charges(sessions: SessionFactory, customer_id: str) -> list[tuple[int, str]]:
    provider = (await customer_row(sessions, customer_id)).provider_customer_id
    async with sessions() as session:
        rows = await session.scalars(
            select(SimCharge)
            .where(SimCharge.customer_id == provider)
            .order_by(SimCharge.created_at)
        )
        return [(c.amount_cents, c.currency) for c in rows]


async def test_a_jpy_customer_converts_in_checkout_and_renews_in_whole_yen(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer = await signed_up(http, currency="JPY")
    customer_id = customer["id"]
    assert customer["currency"] == "jpy"

    created = ok(
        await http.post(
            f"/v1/customers/{customer_id}/checkout-session",
            json={"return_url": RETURN_URL, "plan": "starter", "interval": "month"},
            headers=auth(),
        )
    )
    session_id = httpx.URL(created["url"]).path.rsplit("/", 1)[-1]
    async with sessions() as session:
        checkout = await session.get(SimCheckoutSession, session_id)
    assert checkout is not None and checkout.currency == "jpy"
    ok(
        await http.post(
            f"/v1/simulator/checkout/{session_id}/complete", json={"payment_method": "pm_card_visa"}
        )
    )
    view = await eventually(
        lambda: http.get(f"/v1/customers/{customer_id}", headers=auth()),
        lambda r: r.json()["status"] == "active",
        timeout=WAIT,
    )
    assert view.json()["currency"] == "jpy"
    # Stripe's minor unit for JPY is the yen: 4,400 yen, not 44.00.
    assert [
        (i["currency"], i["amount_paid_cents"]) for i in await invoices_of(http, customer_id)
    ] == [("jpy", 4400)]
    # The workflow's MRR comes from its terms' catalog, which is in yen.
    row = await eventually(
        lambda: customer_row(sessions, customer_id), lambda c: c.mrr_cents == 4400, timeout=WAIT
    )
    assert row.currency == "jpy"

    invoices = await renew(http, customer_id, invoices=2)
    assert [(i["billing_reason"], i["currency"], i["amount_paid_cents"]) for i in invoices] == [
        ("subscription_cycle", "jpy", 4400),
        ("subscription_create", "jpy", 4400),
    ]
    assert await sim_charges(sessions, customer_id) == [(4400, "jpy"), (4400, "jpy")]


async def test_a_eur_customer_cannot_switch_to_usd_after_subscribing(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    # No currency given: the billing country's, since the catalog sells in it.
    customer = await signed_up(http, country="de")
    customer_id = customer["id"]
    assert (customer["currency"], customer["country"]) == ("eur", "DE")
    # Before the first subscription the choice may change, and change back.
    assert (
        ok(
            await http.put(
                f"/v1/customers/{customer_id}/currency", json={"currency": "gbp"}, headers=auth()
            )
        )["currency"]
        == "gbp"
    )
    assert (
        ok(
            await http.put(
                f"/v1/customers/{customer_id}/currency", json={"currency": "eur"}, headers=auth()
            )
        )["currency"]
        == "eur"
    )

    response = await http.post(
        f"/v1/customers/{customer_id}/subscription",
        json={"plan": "pro", "interval": "month", "payment_method": "pm_card_visa"},
        headers=auth(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["currency"] == "eur"
    assert [
        (i["currency"], i["amount_paid_cents"]) for i in await invoices_of(http, customer_id)
    ] == [("eur", 9200)]
    assert (await customer_row(sessions, customer_id)).mrr_cents == 9200

    refused = problem_naming(
        await http.put(
            f"/v1/customers/{customer_id}/currency", json={"currency": "usd"}, headers=auth()
        ),
        409,
        "currency",
    )
    assert refused["type"].endswith("/currency-fixed")
    assert "EUR" in refused["detail"]
    # The same currency again is no change.
    same = await http.put(
        f"/v1/customers/{customer_id}/currency", json={"currency": "eur"}, headers=auth()
    )
    assert ok(same)["currency"] == "eur"


async def test_currency_and_country_are_validated_naming_the_field(
    http: httpx.AsyncClient,
) -> None:
    problem_naming(await sign_up(http, currency="xyz"), 422, "currency")
    # A real currency the catalog is not sold in.
    problem_naming(await sign_up(http, currency="chf"), 422, "currency")
    problem_naming(await sign_up(http, country="XX"), 422, "country")
    problem_naming(await sign_up(http, country="India"), 422, "country")
    # A country whose currency is not sold pays in the catalog's own.
    assert (await signed_up(http, country="CH"))["currency"] == "usd"
    assert (await signed_up(http, country="IN"))["currency"] == "inr"
    # An explicit choice wins over the country.
    assert (await signed_up(http, country="IN", currency="usd"))["currency"] == "usd"
    customer = await signed_up(http)
    assert customer["currency"] == "usd"
    problem_naming(
        await http.put(
            f"/v1/customers/{customer['id']}/currency", json={"currency": "chf"}, headers=auth()
        ),
        422,
        "currency",
    )


async def test_plans_in_another_currency(http: httpx.AsyncClient) -> None:
    body = ok(await http.get("/v1/plans", params={"currency": "jpy"}, headers=auth()))
    assert body["currency"] == "jpy"
    assert body["currencies"] == ["usd", "eur", "gbp", "inr", "brl", "jpy"]
    starter = next(p for p in body["plans"] if p["id"] == "starter")
    assert (starter["monthly_price_cents"], starter["annual_price_cents"]) == (4400, 44880)
    assert starter["annual_saving_cents"] == 12 * 4400 - 44880
    problem_naming(
        await http.get("/v1/plans", params={"currency": "chf"}, headers=auth()), 422, "currency"
    )
    # A customer sees its own currency's prices.
    customer = await signed_up(http, currency="gbp")
    mine = ok(await http.get("/v1/plans", params={"customer_id": customer["id"]}, headers=auth()))
    assert mine["currency"] == "gbp"
    assert next(p for p in mine["plans"] if p["id"] == "pro")["monthly_price_cents"] == 7900
