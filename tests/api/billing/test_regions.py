"""Regional prices over HTTP (issue 15 part 2): the real app, a real worker, the embedded
simulator. The billing country picks the region's price book; a subscribed customer who
moves keeps its price for the period under way and its currency, and renews at the new
region's price in that currency.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from db.engine import SessionFactory
from tests.factories.billing import customer_row, invoices_of, renew
from tests.factories.customers import unique_email
from tests.factories.histories import record_customer_history
from tests.factories.polling import eventually
from tests.factories.responses import ok, problem_naming
from tests.factories.settings import ADMIN_KEY, auth

WAIT = 30.0

Json = dict[str, Any]


def plan(catalog: Json, plan_id: str) -> Json:
    found: Json = next(p for p in catalog["plans"] if p["id"] == plan_id)
    return found


async def signed_up(http: httpx.AsyncClient, **extra: Any) -> Json:
    response = await http.post(
        "/v1/customers",
        json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email("region"), **extra},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    body: Json = response.json()
    return body


async def test_regional_price_list_for_india_and_the_us(http: httpx.AsyncClient) -> None:
    india = ok(await http.get("/v1/plans", params={"country": "in"}, headers=auth()))
    assert (india["country"], india["region"], india["currency"]) == ("IN", "india", "inr")
    starter, pro = plan(india, "starter"), plan(india, "pro")
    # India's explicit rupee prices (lifecycle.toml), not the list's 2,499 and 8,299.
    assert (starter["monthly_price_cents"], pro["monthly_price_cents"]) == (99900, 349900)
    assert starter["annual_price_cents"] == 1018980  # 12 x 999 less 15 %
    assert starter["annual_saving_cents"] == 12 * 99900 - 1018980
    assert starter["annual_saving_percent"] == 15

    us = ok(await http.get("/v1/plans", params={"country": "US"}, headers=auth()))
    assert (us["region"], us["currency"]) == (None, "usd")
    assert plan(us, "starter")["monthly_price_cents"] == 2900
    assert plan(us, "pro")["annual_saving_cents"] == 12 * 9900 - 100980

    # India's region in dollars: the list price times its multiplier (0.4).
    in_usd = ok(
        await http.get("/v1/plans", params={"country": "IN", "currency": "usd"}, headers=auth())
    )
    assert plan(in_usd, "pro")["monthly_price_cents"] == 3960
    # A tier of several countries, each in its own currency where the catalog sells it.
    assert ok(await http.get("/v1/plans", params={"country": "VN"}, headers=auth()))["region"] == (
        "tier-c"
    )

    problem_naming(
        await http.get("/v1/plans", params={"country": "XX"}, headers=auth()), 422, "country"
    )
    problem_naming(
        await http.get("/v1/plans", params={"country": "USA"}, headers=auth()), 422, "country"
    )


async def test_a_customer_signing_up_in_india_pays_indias_rupee_price(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer = await signed_up(http, country="IN")
    assert (customer["region"], customer["currency"]) == ("india", "inr")
    response = await http.post(
        f"/v1/customers/{customer['id']}/subscription",
        json={"plan": "starter", "interval": "month", "payment_method": "pm_card_visa"},
        headers=auth(),
    )
    assert response.status_code == 200, response.text
    assert [
        (i["currency"], i["amount_paid_cents"]) for i in await invoices_of(http, customer["id"])
    ] == [("inr", 99900)]
    assert (await customer_row(sessions, customer["id"])).mrr_cents == 99900


async def test_moving_country_reprices_at_the_renewal_in_the_same_currency(
    http: httpx.AsyncClient, sessions: SessionFactory, dev_server_env: WorkflowEnvironment
) -> None:
    customer = await signed_up(http, country="US")
    customer_id = customer["id"]
    response = await http.post(
        f"/v1/customers/{customer_id}/subscription",
        json={"plan": "pro", "interval": "month", "payment_method": "pm_card_visa"},
        headers=auth(),
    )
    assert response.status_code == 200, response.text
    assert (await customer_row(sessions, customer_id)).mrr_cents == 9900

    problem_naming(
        await http.put(
            f"/v1/customers/{customer_id}/country", json={"country": "ZZ"}, headers=auth()
        ),
        422,
        "country",
    )
    moved = ok(
        await http.put(
            f"/v1/customers/{customer_id}/country", json={"country": "IN"}, headers=auth()
        )
    )
    # The region changes; the currency is fixed by the subscription; the price waits.
    assert (moved["country"], moved["region"], moved["currency"]) == ("IN", "india", "usd")
    assert moved["scheduled_change"] is not None
    assert moved["scheduled_change"]["plan"] == "pro"
    assert [i["amount_paid_cents"] for i in await invoices_of(http, customer_id)] == [9900]
    assert (await customer_row(sessions, customer_id)).mrr_cents == 9900

    invoices = await renew(http, customer_id, invoices=2)
    # India's price in the customer's own currency: 99 dollars x 0.4.
    assert [(i["billing_reason"], i["currency"], i["amount_paid_cents"]) for i in invoices] == [
        ("subscription_cycle", "usd", 3960),
        ("subscription_create", "usd", 9900),
    ]
    row = await eventually(
        lambda: customer_row(sessions, customer_id), lambda c: c.mrr_cents == 3960, timeout=WAIT
    )
    assert (row.plan, row.interval, row.scheduled_change) == ("pro", "month", None)
    await record_customer_history(dev_server_env.client, customer_id, "region_repriced_at_renewal")


async def test_an_admin_overrides_the_region(http: httpx.AsyncClient) -> None:
    customer = await signed_up(http, country="IN")
    url = f"/v1/admin/customers/{customer['id']}/region"
    assert (await http.put(url, json={"region": "none"}, headers=auth())).status_code == 403
    listed = ok(await http.put(url, json={"region": "none"}, headers=auth(ADMIN_KEY)))
    assert (listed["region"], listed["region_override"], listed["country"]) == (
        None,
        "none",
        "IN",
    )
    brazil = ok(await http.put(url, json={"region": "brazil"}, headers=auth(ADMIN_KEY)))
    assert brazil["region"] == "brazil"
    # The override wins over a new country; clearing it follows the country again.
    moved = ok(
        await http.put(
            f"/v1/customers/{customer['id']}/country", json={"country": "VN"}, headers=auth()
        )
    )
    assert moved["region"] == "brazil"
    cleared = ok(await http.put(url, json={"region": None}, headers=auth(ADMIN_KEY)))
    assert (cleared["region"], cleared["region_override"]) == ("tier-c", None)
    problem_naming(
        await http.put(url, json={"region": "mars"}, headers=auth(ADMIN_KEY)), 422, "region"
    )
    listed_regions = await http.get("/v1/admin/regions", headers=auth(ADMIN_KEY))
    assert listed_regions.status_code == 200
    assert [r["id"] for r in listed_regions.json()] == ["india", "brazil", "tier-c"]
