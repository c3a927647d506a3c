"""The billing endpoints over HTTP: the real app, a real worker, the embedded simulator.

Convert, change plans, preview, cancel and reactivate, pause and resume, payment method,
billing address, Checkout and the portal, invoices, the billing page, the test clock and
Idempotency-Key. Every error answer is an RFC 9457 problem.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from adapters.payments.base import PaymentProviderUnavailable
from adapters.payments.simulator import SimulatedGateway
from adapters.payments.simulator.models import SimCharge, SimCustomer
from core.settings import Settings
from db.engine import SessionFactory
from db.models import Customer, Invoice
from domain.lifecycle import BillingInterval
from domain.proration import add_interval
from tests.factories.customers import unique_email
from tests.factories.polling import eventually
from tests.factories.responses import assert_problem, fields, ok
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth

WAIT = 30.0
RETURN_URL = "https://app.example.com/settings/billing"

Json = dict[str, Any]


# -- helpers -------------------------------------------------------------------------------


def iso(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


async def sign_up(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "/v1/customers",
        json={
            "external_id": f"ext-{uuid.uuid4()}",
            "email": unique_email("billing"),
            "name": "Ada",
        },
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def subscribe(
    http: httpx.AsyncClient,
    customer_id: str,
    plan: str = "starter",
    interval: str = "month",
    *,
    payment_method: str | None = "pm_card_visa",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    body: Json = {"plan": plan, "interval": interval, **extra}
    if payment_method is not None:
        body["payment_method"] = payment_method
    return await http.post(
        f"/v1/customers/{customer_id}/subscription",
        json=body,
        headers={**auth(), **(headers or {})},
    )


async def active_customer(http: httpx.AsyncClient, plan: str = "starter") -> tuple[str, Json]:
    customer_id = await sign_up(http)
    view = ok(await subscribe(http, customer_id, plan))
    assert view["status"] == "active"
    return customer_id, view


async def view_of(http: httpx.AsyncClient, customer_id: str) -> Json:
    return ok(await http.get(f"/v1/customers/{customer_id}", headers=auth()))


async def billing_of(http: httpx.AsyncClient, customer_id: str) -> Json:
    return ok(await http.get(f"/v1/customers/{customer_id}/billing", headers=auth()))


async def invoices_of(http: httpx.AsyncClient, customer_id: str) -> list[Json]:
    data: list[Json] = ok(await http.get(f"/v1/customers/{customer_id}/invoices", headers=auth()))[
        "data"
    ]
    return data


async def ledger_of(http: httpx.AsyncClient, customer_id: str) -> list[Json]:
    rows: list[Json] = ok(
        await http.get(
            f"/v1/admin/customers/{customer_id}/events?audit=false", headers=auth(ADMIN_KEY)
        )
    )["data"]
    return rows


async def ledger_kinds(http: httpx.AsyncClient, customer_id: str) -> list[str]:
    return [row["kind"] for row in await ledger_of(http, customer_id)]


async def customer_row(sessions: SessionFactory, customer_id: str) -> Customer:
    async with sessions() as session:
        row = await session.get(Customer, customer_id)
    assert row is not None
    return row


async def invoice_count(sessions: SessionFactory, customer_id: str) -> int:
    async with sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Invoice).where(Invoice.customer_id == customer_id)
            )
            or 0
        )


async def charges(sessions: SessionFactory, customer_id: str) -> list[SimCharge]:
    """What the simulator actually charged (succeeded or not)."""
    provider_customer = (await customer_row(sessions, customer_id)).provider_customer_id
    if provider_customer is None:
        return []
    async with sessions() as session:
        rows = await session.scalars(
            select(SimCharge)
            .where(SimCharge.customer_id == provider_customer)
            .order_by(SimCharge.created_at)
        )
        return list(rows)


async def sim_customer(sessions: SessionFactory, customer_id: str) -> SimCustomer:
    provider_customer = (await customer_row(sessions, customer_id)).provider_customer_id
    assert provider_customer is not None
    async with sessions() as session:
        row = await session.get(SimCustomer, provider_customer)
    assert row is not None
    return row


# -- converting --------------------------------------------------------------------------------


async def test_convert_answers_the_active_view_and_charges_once(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer_id = await sign_up(http)

    view = ok(await subscribe(http, customer_id, "pro", "year"))

    assert (view["id"], view["status"], view["plan"], view["interval"]) == (
        customer_id,
        "active",
        "pro",
        "year",
    )
    assert view["cancel_at_period_end"] is False
    assert view["scheduled_change"] is None
    assert iso(view["current_period_end"]) > datetime.now(UTC) + timedelta(days=360)
    assert await view_of(http, customer_id) == view
    invoices = await invoices_of(http, customer_id)
    assert [(i["status"], i["billing_reason"], i["amount_paid_cents"]) for i in invoices] == [
        ("paid", "subscription_create", 100980)
    ]
    converted = [r for r in await ledger_of(http, customer_id) if r["kind"] == "trial_converted"]
    assert len(converted) == 1
    assert (converted[0]["from_status"], converted[0]["to_status"]) == ("trialing", "active")
    assert converted[0]["data"]["via"] == "api"
    assert converted[0]["mrr_delta_cents"] == 8415  # 100980 / 12


async def test_declined_card_is_402_and_the_customer_stays_trialing(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer_id = await sign_up(http)
    before = await view_of(http, customer_id)

    response = await subscribe(http, customer_id, payment_method="pm_card_chargeDeclined")

    problem = assert_problem(response, 402, "card-declined")
    assert problem["decline_code"] == "generic_decline"
    assert problem["code"] == "card_declined"
    assert "declined" in problem["detail"]
    assert await view_of(http, customer_id) == before
    assert before["status"] == "trialing"
    assert await invoices_of(http, customer_id) == []
    assert "trial_converted" not in await ledger_kinds(http, customer_id)
    # The customer fixes the card and converts: the refusal left nothing in the way.
    assert ok(await subscribe(http, customer_id))["status"] == "active"


async def test_convert_without_a_payment_method_is_402(http: httpx.AsyncClient) -> None:
    customer_id = await sign_up(http)
    problem = assert_problem(
        await subscribe(http, customer_id, payment_method=None), 402, "payment-method-required"
    )
    assert "payment method" in problem["detail"]
    assert (await view_of(http, customer_id))["status"] == "trialing"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"plan": "platinum", "interval": "month"}, "plan"),
        ({"plan": "", "interval": "month"}, "plan"),
        ({"interval": "month"}, "plan"),
        ({"plan": "starter", "interval": "week"}, "interval"),
        ({"plan": "starter", "when": "tomorrow"}, "when"),
        ({"plan": "starter", "coupon": "FREE100"}, "coupon"),
    ],
)
async def test_bad_subscription_requests_are_422_naming_the_field(
    http: httpx.AsyncClient, body: Json, field: str
) -> None:
    customer_id = await sign_up(http)
    response = await http.post(
        f"/v1/customers/{customer_id}/subscription",
        json={**body, "payment_method": "pm_card_visa"},
        headers=auth(),
    )
    problem = assert_problem(response, 422, "validation-error")
    assert field in fields(problem)
    assert field in problem["detail"]
    assert (await view_of(http, customer_id))["status"] == "trialing"


async def test_unknown_plan_names_the_known_plans(http: httpx.AsyncClient) -> None:
    customer_id = await sign_up(http)
    problem = assert_problem(await subscribe(http, customer_id, "platinum"), 422)
    assert fields(problem) == ["plan"]
    assert "platinum" in problem["detail"] and "starter" in problem["detail"]


async def test_enterprise_is_sales_led_409(http: httpx.AsyncClient) -> None:
    customer_id = await sign_up(http)
    problem = assert_problem(
        await subscribe(http, customer_id, "enterprise"), 409, "transition-not-allowed"
    )
    assert "sales" in problem["detail"]
    assert (await view_of(http, customer_id))["status"] == "trialing"


async def test_unknown_customer_is_404_everywhere(http: httpx.AsyncClient) -> None:
    missing = str(uuid.uuid4())
    base = f"/v1/customers/{missing}"
    for method, path, body in [
        ("POST", "/subscription", {"plan": "starter"}),
        ("GET", "/subscription/preview?plan=starter", None),
        ("POST", "/cancel", {}),
        ("POST", "/reactivate", None),
        ("POST", "/pause", {}),
        ("POST", "/resume", None),
        ("PUT", "/payment-method", {"payment_method": "pm_card_visa"}),
        (
            "PUT",
            "/billing-address",
            {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"},
        ),
        ("POST", "/checkout-session", {"return_url": RETURN_URL}),
        ("POST", "/portal-session", {"return_url": RETURN_URL}),
        ("GET", "/invoices", None),
        ("GET", "/billing", None),
    ]:
        response = await http.request(method, base + path, json=body, headers=auth())
        problem = assert_problem(response, 404, "not-found")
        assert missing in problem["detail"], path


# -- commands refused during the trial ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("cancel", {}),
        ("cancel", {"at_period_end": False}),
        ("reactivate", None),
        ("pause", {}),
        ("resume", None),
    ],
)
async def test_subscription_commands_during_the_trial_are_409_naming_the_state(
    http: httpx.AsyncClient, path: str, body: Json | None
) -> None:
    customer_id = await sign_up(http)
    response = await http.post(f"/v1/customers/{customer_id}/{path}", json=body, headers=auth())
    problem = assert_problem(response, 409, "transition-not-allowed")
    assert "trialing" in problem["detail"]
    assert (await view_of(http, customer_id))["status"] == "trialing"


# -- preview ------------------------------------------------------------------------------------


async def test_preview_for_a_trialing_customer_is_the_full_price(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer_id = await sign_up(http)
    base = f"/v1/customers/{customer_id}/subscription/preview"

    monthly = ok(await http.get(base, params={"plan": "pro"}, headers=auth()))
    annual = ok(
        await http.get(base, params={"plan": "starter", "interval": "year"}, headers=auth())
    )

    assert (monthly["plan"], monthly["interval"], monthly["currency"]) == ("pro", "month", "usd")
    assert monthly["amount_due_now_cents"] == monthly["next_invoice_amount_cents"] == 9900
    assert [(line["amount_cents"], line["proration"]) for line in monthly["lines"]] == [
        (9900, False)
    ]
    assert annual["amount_due_now_cents"] == 29580
    assert annual["interval"] == "year"
    assert await invoice_count(sessions, customer_id) == 0
    assert (await view_of(http, customer_id))["status"] == "trialing"
    # Bad previews are problems too.
    problem = assert_problem(await http.get(base, params={"plan": "gold"}, headers=auth()), 422)
    assert fields(problem) == ["plan"]
    problem = assert_problem(await http.get(base, headers=auth()), 422)
    assert fields(problem) == ["plan"]
    problem = assert_problem(
        await http.get(base, params={"plan": "pro", "interval": "week"}, headers=auth()), 422
    )
    assert fields(problem) == ["interval"]


async def test_preview_of_an_upgrade_shows_proration_and_charges_nothing(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer_id, view = await active_customer(http, "starter")
    invoices_before = await invoices_of(http, customer_id)
    charged_before = len(await charges(sessions, customer_id))

    preview = ok(
        await http.get(
            f"/v1/customers/{customer_id}/subscription/preview",
            params={"plan": "pro", "interval": "month"},
            headers=auth(),
        )
    )

    due = preview["amount_due_now_cents"]
    # Nearly the whole month is left: about 99.00 - 29.00, never more.
    assert 6900 < due <= 7000, preview
    prorations = [line for line in preview["lines"] if line["proration"]]
    assert len(prorations) == 2, preview["lines"]
    assert sorted(line["amount_cents"] < 0 for line in prorations) == [False, True]
    assert sum(line["amount_cents"] for line in preview["lines"]) == due
    assert preview["next_invoice_amount_cents"] == 9900
    assert iso(preview["next_invoice_at"]) == iso(view["current_period_end"])
    assert await invoices_of(http, customer_id) == invoices_before
    assert len(await charges(sessions, customer_id)) == charged_before
    assert (await view_of(http, customer_id))["plan"] == "starter"

    # The upgrade then charges what the preview said (give or take a cent of elapsed time).
    upgraded = ok(await subscribe(http, customer_id, "pro", payment_method=None))
    assert upgraded["plan"] == "pro"
    [upgrade] = [
        i
        for i in await invoices_of(http, customer_id)
        if i["billing_reason"] == "subscription_update"
    ]
    assert abs(upgrade["amount_paid_cents"] - due) <= 1


# -- plan changes and invoices --------------------------------------------------------------


async def test_upgrade_charges_now_and_lists_both_invoices_with_links(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer_id, _ = await active_customer(http, "starter")

    upgraded = ok(await subscribe(http, customer_id, "pro", payment_method=None))

    assert (upgraded["status"], upgraded["plan"], upgraded["interval"]) == (
        "active",
        "pro",
        "month",
    )
    assert upgraded["scheduled_change"] is None
    listed = await invoices_of(http, customer_id)
    # Both were created within the same second here, and the list orders by creation time
    # only (ties fall back to the random id), so compare them in the order they were issued.
    invoices = sorted(listed, key=lambda i: i["number"])
    assert [(i["billing_reason"], i["status"]) for i in invoices] == [
        ("subscription_create", "paid"),
        ("subscription_update", "paid"),
    ]
    for invoice in invoices:
        assert invoice["hosted_invoice_url"].startswith("http"), invoice
        assert invoice["invoice_pdf"].startswith("http"), invoice
        assert invoice["number"].startswith("SIM-")
    assert invoices[0]["amount_paid_cents"] == 2900
    assert 0 < invoices[1]["amount_paid_cents"] <= 7000
    assert len(listed) == await invoice_count(sessions, customer_id)
    limited = ok(await http.get(f"/v1/customers/{customer_id}/invoices?limit=1", headers=auth()))[
        "data"
    ]
    assert len(limited) == 1 and limited[0] in listed
    assert_problem(
        await http.get(f"/v1/customers/{customer_id}/invoices?limit=0", headers=auth()), 422
    )
    changed = [r for r in await ledger_of(http, customer_id) if r["kind"] == "plan_changed"]
    assert [(r["data"]["change"], r["data"]["from_plan"], r["plan"]) for r in changed] == [
        ("upgrade", "starter", "pro")
    ]
    # Asking for the plan the customer is on is refused.
    problem = assert_problem(await subscribe(http, customer_id, "pro", payment_method=None), 409)
    assert "already on pro" in problem["detail"]


async def test_downgrade_waits_for_the_period_end(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer_id, converted = await active_customer(http, "pro")

    view = ok(await subscribe(http, customer_id, "starter", payment_method=None))

    assert (view["status"], view["plan"]) == ("active", "pro")
    change = view["scheduled_change"]
    assert change is not None
    assert (change["plan"], change["interval"]) == ("starter", "month")
    assert iso(change["effective_at"]) == iso(converted["current_period_end"])
    assert await invoice_count(sessions, customer_id) == 1
    billing = await billing_of(http, customer_id)
    assert billing["next_invoice"]["plan"] == "starter"
    assert billing["next_invoice"]["amount_cents"] == 2900
    assert "plan_change_scheduled" in await ledger_kinds(http, customer_id)

    # Asking for the current plan again withdraws the pending downgrade.
    kept = ok(await subscribe(http, customer_id, "pro", payment_method=None))
    assert kept["scheduled_change"] is None and kept["plan"] == "pro"
    assert "plan_change_withdrawn" in await ledger_kinds(http, customer_id)


# -- cancel, reactivate, pause, resume ------------------------------------------------------


async def test_cancel_at_period_end_then_reactivate(http: httpx.AsyncClient) -> None:
    customer_id, converted = await active_customer(http)
    base = f"/v1/customers/{customer_id}"

    canceled = ok(await http.post(f"{base}/cancel", json={}, headers=auth()))

    assert (canceled["status"], canceled["cancel_at_period_end"]) == ("active", True)
    assert canceled["current_period_end"] == converted["current_period_end"]
    assert (await billing_of(http, customer_id))["next_invoice"] is None
    again = assert_problem(
        await http.post(f"{base}/cancel", json={"at_period_end": True}, headers=auth()), 409
    )
    assert "already scheduled" in again["detail"]

    reactivated = ok(await http.post(f"{base}/reactivate", headers=auth()))

    assert (reactivated["status"], reactivated["cancel_at_period_end"]) == ("active", False)
    assert (await billing_of(http, customer_id))["next_invoice"] is not None
    problem = assert_problem(await http.post(f"{base}/reactivate", headers=auth()), 409)
    assert "nothing to reactivate" in problem["detail"]
    kinds = await ledger_kinds(http, customer_id)
    assert kinds.count("cancellation_scheduled") == kinds.count("cancellation_withdrawn") == 1


async def test_cancel_now_ends_the_subscription(http: httpx.AsyncClient) -> None:
    customer_id, _ = await active_customer(http)
    base = f"/v1/customers/{customer_id}"

    view = ok(await http.post(f"{base}/cancel", json={"at_period_end": False}, headers=auth()))

    assert (view["status"], view["cancel_at_period_end"]) == ("canceled", False)
    billing = await billing_of(http, customer_id)
    assert (billing["mrr_cents"], billing["next_invoice"]) == (0, None)
    problem = assert_problem(await http.post(f"{base}/reactivate", headers=auth()), 409)
    assert "canceled" in problem["detail"]
    assert_problem(
        await http.post(f"{base}/cancel", json={"at_period_end": "soon"}, headers=auth()), 422
    )


async def test_pause_and_resume(http: httpx.AsyncClient) -> None:
    customer_id, _ = await active_customer(http)
    base = f"/v1/customers/{customer_id}"
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    problem = assert_problem(
        await http.post(f"{base}/pause", json={"resumes_at": past}, headers=auth()), 422
    )
    assert fields(problem) == ["resumes_at"]
    naive = assert_problem(
        await http.post(
            f"{base}/pause", json={"resumes_at": "2030-01-01T00:00:00"}, headers=auth()
        ),
        422,
    )
    assert fields(naive) == ["resumes_at"]

    paused = ok(await http.post(f"{base}/pause", json={}, headers=auth()))

    assert paused["status"] == "paused"
    assert (await billing_of(http, customer_id))["mrr_cents"] == 0
    assert_problem(await http.post(f"{base}/pause", json={}, headers=auth()), 409)
    assert_problem(await subscribe(http, customer_id, "pro", payment_method=None), 409)

    resumed = ok(await http.post(f"{base}/resume", headers=auth()))

    assert resumed["status"] == "active"
    assert (await billing_of(http, customer_id))["mrr_cents"] == 2900
    problem = assert_problem(await http.post(f"{base}/resume", headers=auth()), 409)
    assert "active" in problem["detail"]
    kinds = await ledger_kinds(http, customer_id)
    assert kinds.count("subscription_paused") == kinds.count("subscription_resumed") == 1


async def test_pause_with_a_resume_date(http: httpx.AsyncClient) -> None:
    customer_id, _ = await active_customer(http)
    resumes_at = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    paused = ok(
        await http.post(
            f"/v1/customers/{customer_id}/pause",
            json={"resumes_at": resumes_at.isoformat()},
            headers=auth(),
        )
    )
    assert paused["status"] == "paused"
    row = [r for r in await ledger_of(http, customer_id) if r["kind"] == "subscription_paused"]
    assert iso(row[0]["data"]["resumes_at"]) == resumes_at


# -- payment method and billing address ------------------------------------------------------


async def test_payment_method_update(http: httpx.AsyncClient, sessions: SessionFactory) -> None:
    customer_id, _ = await active_customer(http)
    url = f"/v1/customers/{customer_id}/payment-method"
    assert (await billing_of(http, customer_id))["payment_method"]["brand"] == "visa"

    view = ok(await http.put(url, json={"payment_method": "pm_card_mastercard"}, headers=auth()))

    assert view["status"] == "active"
    method = (await billing_of(http, customer_id))["payment_method"]
    assert (method["brand"], method["last4"], method["exp_month"]) == ("mastercard", "4444", 12)
    assert method["exp_year"] >= datetime.now(UTC).year
    assert (await sim_customer(sessions, customer_id)).default_payment_method_id == (
        await customer_row(sessions, customer_id)
    ).payment_method_id
    assert "payment_method_updated" in await ledger_kinds(http, customer_id)

    declined = assert_problem(
        await http.put(url, json={"payment_method": "pm_card_chargeDeclined"}, headers=auth()),
        402,
        "card-declined",
    )
    assert declined["decline_code"] == "generic_decline"
    assert (await billing_of(http, customer_id))["payment_method"]["brand"] == "mastercard"
    unknown = assert_problem(
        await http.put(url, json={"payment_method": "pm_nope"}, headers=auth()), 422
    )
    assert "pm_nope" in unknown["detail"]
    assert fields(assert_problem(await http.put(url, json={}, headers=auth()), 422)) == [
        "payment_method"
    ]


async def test_payment_method_during_the_trial_is_stored_for_later(
    http: httpx.AsyncClient,
) -> None:
    customer_id = await sign_up(http)
    view = ok(
        await http.put(
            f"/v1/customers/{customer_id}/payment-method",
            json={"payment_method": "pm_card_amex"},
            headers=auth(),
        )
    )
    assert view["status"] == "trialing"
    assert (await billing_of(http, customer_id))["payment_method"]["last4"] == "8431"
    # Converting later needs no card in the request: the stored one pays.
    converted = ok(await subscribe(http, customer_id, payment_method=None))
    assert converted["status"] == "active"


ADDRESS = {
    "line1": "Unter den Linden 1",
    "line2": "3. OG",
    "city": "Berlin",
    "postal_code": "10117",
    "state": None,
    "country": "de",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "Germany"}, "country"),
        ({"country": ""}, "country"),
        ({"line1": None}, "line1"),
        ({"line1": ""}, "line1"),
        ({"city": "   "}, "city"),
        ({"postal_code": "1" * 21}, "postal_code"),
        ({"planet": "Mars"}, "planet"),
    ],
)
async def test_billing_address_validation_names_the_field(
    http: httpx.AsyncClient, change: Json, field: str
) -> None:
    customer_id = await sign_up(http)
    body = {key: value for key, value in {**ADDRESS, **change}.items() if value is not None}
    response = await http.put(
        f"/v1/customers/{customer_id}/billing-address", json=body, headers=auth()
    )
    problem = assert_problem(response, 422, "validation-error")
    assert field in fields(problem)
    assert (await billing_of(http, customer_id))["billing_address"] is None


async def test_billing_address_is_stored_and_synced_to_the_provider_customer(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer_id, _ = await active_customer(http)

    view = ok(
        await http.put(f"/v1/customers/{customer_id}/billing-address", json=ADDRESS, headers=auth())
    )

    assert view["id"] == customer_id
    expected = {**ADDRESS, "country": "DE"}
    assert (await billing_of(http, customer_id))["billing_address"] == expected
    assert (await sim_customer(sessions, customer_id)).address == expected

    moved = {**expected, "line1": "Friedrichstr. 43", "line2": None}
    ok(await http.put(f"/v1/customers/{customer_id}/billing-address", json=moved, headers=auth()))
    assert (await billing_of(http, customer_id))["billing_address"] == moved
    assert (await sim_customer(sessions, customer_id)).address == moved


async def test_billing_address_set_during_the_trial_reaches_the_provider_at_checkout(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer_id = await sign_up(http)
    ok(await http.put(f"/v1/customers/{customer_id}/billing-address", json=ADDRESS, headers=auth()))
    assert (await customer_row(sessions, customer_id)).provider_customer_id is None

    ok(
        await http.post(
            f"/v1/customers/{customer_id}/checkout-session",
            json={"return_url": RETURN_URL},
            headers=auth(),
        )
    )

    assert (await sim_customer(sessions, customer_id)).address == {**ADDRESS, "country": "DE"}


async def test_a_failed_address_sync_at_checkout_is_retried_by_the_next_checkout(
    http: httpx.AsyncClient, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider customer's id is stored only once its address is synced: a failure
    in between used to leave the id stored and the address never sent."""
    customer_id = await sign_up(http)
    ok(await http.put(f"/v1/customers/{customer_id}/billing-address", json=ADDRESS, headers=auth()))
    update_customer = SimulatedGateway.update_customer

    async def unavailable(self: SimulatedGateway, *args: Any, **kwargs: Any) -> None:
        raise PaymentProviderUnavailable("the provider is down")

    monkeypatch.setattr(SimulatedGateway, "update_customer", unavailable)
    checkout = {"return_url": RETURN_URL}
    path = f"/v1/customers/{customer_id}/checkout-session"
    refused = await http.post(path, json=checkout, headers=auth())
    assert refused.status_code == 503
    assert (await customer_row(sessions, customer_id)).provider_customer_id is None

    monkeypatch.setattr(SimulatedGateway, "update_customer", update_customer)
    ok(await http.post(path, json=checkout, headers=auth()))
    assert (await customer_row(sessions, customer_id)).provider_customer_id is not None
    assert (await sim_customer(sessions, customer_id)).address == {**ADDRESS, "country": "DE"}


async def test_billing_address_set_during_the_trial_reaches_the_provider_on_conversion(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer_id = await sign_up(http)
    ok(await http.put(f"/v1/customers/{customer_id}/billing-address", json=ADDRESS, headers=auth()))

    ok(await subscribe(http, customer_id))

    assert (await sim_customer(sessions, customer_id)).address == {**ADDRESS, "country": "DE"}


# -- Checkout and the portal -----------------------------------------------------------------


async def test_checkout_session_converts_the_customer_when_completed(
    http: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    customer_id = await sign_up(http)

    created = ok(
        await http.post(
            f"/v1/customers/{customer_id}/checkout-session",
            json={"return_url": RETURN_URL, "plan": "pro", "interval": "year"},
            headers=auth(),
        )
    )

    url = httpx.URL(created["url"])
    assert created["url"].startswith(settings.public_base_url + "/v1/simulator/checkout/cs_")
    page = await http.get(url.path)
    assert page.status_code == 200 and "Simulated checkout" in page.text
    session_id = url.path.rsplit("/", 1)[-1]
    assert (await view_of(http, customer_id))["status"] == "trialing"

    completed = ok(
        await http.post(
            f"/v1/simulator/checkout/{session_id}/complete", json={"payment_method": "pm_card_visa"}
        )
    )

    assert completed["events"] == ["checkout.session.completed", "invoice.paid"]
    view = await eventually(
        lambda: view_of(http, customer_id), lambda v: v["status"] == "active", timeout=WAIT
    )
    assert (view["plan"], view["interval"]) == ("pro", "year")
    ledger = await eventually(
        lambda: ledger_of(http, customer_id),
        lambda rows: any(r["kind"] == "trial_converted" for r in rows),
        timeout=WAIT,
    )
    converted = [r for r in ledger if r["kind"] == "trial_converted"]
    assert len(converted) == 1
    assert converted[0]["data"]["via"] == "checkout"
    assert converted[0]["data"]["amount_paid_cents"] == 100980
    assert converted[0]["actor"] == "stripe"
    invoices = await invoices_of(http, customer_id)
    assert [(i["billing_reason"], i["amount_paid_cents"]) for i in invoices] == [
        ("subscription_create", 100980)
    ]

    # Completing it again (the customer double-clicks) converts nothing twice.
    again = ok(
        await http.post(
            f"/v1/simulator/checkout/{session_id}/complete", json={"payment_method": "pm_card_visa"}
        )
    )
    assert again["events"] == completed["events"]
    assert len(await charges(sessions, customer_id)) == 1
    # An active customer gets no new Checkout.
    problem = assert_problem(
        await http.post(
            f"/v1/customers/{customer_id}/checkout-session",
            json={"return_url": RETURN_URL},
            headers=auth(),
        ),
        409,
        "transition-not-allowed",
    )
    assert "active" in problem["detail"]


async def test_declined_checkout_is_402_and_the_session_stays_open(
    http: httpx.AsyncClient,
) -> None:
    customer_id = await sign_up(http)
    created = ok(
        await http.post(
            f"/v1/customers/{customer_id}/checkout-session",
            json={"return_url": RETURN_URL},
            headers=auth(),
        )
    )
    session_id = httpx.URL(created["url"]).path.rsplit("/", 1)[-1]
    complete = f"/v1/simulator/checkout/{session_id}/complete"

    problem = assert_problem(
        await http.post(complete, json={"payment_method": "pm_card_chargeDeclined"}),
        402,
        "card-declined",
    )
    assert problem["decline_code"] == "generic_decline"
    assert (await view_of(http, customer_id))["status"] == "trialing"

    assert ok(await http.post(complete, json={"payment_method": "pm_card_visa"}))["events"]
    view = await eventually(
        lambda: view_of(http, customer_id), lambda v: v["status"] == "active", timeout=WAIT
    )
    assert (view["plan"], view["interval"]) == ("starter", "month")


async def test_checkout_session_validation(http: httpx.AsyncClient) -> None:
    customer_id = await sign_up(http)
    url = f"/v1/customers/{customer_id}/checkout-session"
    assert "return_url" in fields(
        assert_problem(await http.post(url, json={"return_url": "not a url"}, headers=auth()), 422)
    )
    assert "return_url" in fields(
        assert_problem(await http.post(url, json={}, headers=auth()), 422)
    )
    unknown = assert_problem(
        await http.post(url, json={"return_url": RETURN_URL, "plan": "gold"}, headers=auth()), 422
    )
    assert fields(unknown) == ["plan"]
    assert_problem(await http.post("/v1/simulator/checkout/cs_nope/complete", json={}), 422)


async def test_portal_session_returns_a_url(
    http: httpx.AsyncClient, settings: Settings, sessions: SessionFactory
) -> None:
    customer_id, _ = await active_customer(http)
    created = ok(
        await http.post(
            f"/v1/customers/{customer_id}/portal-session",
            json={"return_url": RETURN_URL},
            headers=auth(),
        )
    )
    assert created["url"].startswith(settings.public_base_url + "/v1/simulator/portal/")

    # A trialing customer can open the portal too (to add a card): a provider customer is made.
    trialing = await sign_up(http)
    assert (await customer_row(sessions, trialing)).provider_customer_id is None
    ok(
        await http.post(
            f"/v1/customers/{trialing}/portal-session",
            json={"return_url": RETURN_URL},
            headers=auth(),
        )
    )
    assert (await customer_row(sessions, trialing)).provider_customer_id is not None
    assert_problem(
        await http.post(
            f"/v1/customers/{trialing}/portal-session", json={"return_url": 5}, headers=auth()
        ),
        422,
    )


# -- the billing page ---------------------------------------------------------------------------


def _plans(billing: Json) -> dict[str, Json]:
    return {p["plan"]: p for p in billing["plans"]}


async def test_billing_page_for_a_trialing_customer(http: httpx.AsyncClient) -> None:
    customer_id = await sign_up(http)

    billing = await billing_of(http, customer_id)

    assert billing["customer"] == await view_of(http, customer_id)
    assert (billing["status"], billing["plan"], billing["plan_name"]) == (
        "trialing",
        "starter",
        "Starter",
    )
    assert billing["trial_days_left"] == 14
    assert billing["interval"] is None
    assert (billing["mrr_cents"], billing["currency"]) == (0, "usd")
    assert billing["next_invoice"] is None
    assert billing["payment_method"] is None
    assert billing["billing_address"] is None
    assert billing["recent_invoices"] == []
    plans = _plans(billing)
    assert set(plans) == {"starter", "pro", "enterprise"}
    assert (
        plans["starter"]["monthly_price_cents"],
        plans["starter"]["annual_price_cents"],
        plans["starter"]["annual_saving_cents"],
    ) == (2900, 29580, 5220)
    assert (
        plans["pro"]["monthly_price_cents"],
        plans["pro"]["annual_price_cents"],
        plans["pro"]["annual_saving_cents"],
    ) == (9900, 100980, 17820)
    assert plans["enterprise"]["annual_price_cents"] is None
    assert plans["pro"]["limits"]["messages"] == 50000
    assert [p for p, option in plans.items() if option["current"]] == ["starter"]


async def test_billing_page_for_an_active_customer(http: httpx.AsyncClient) -> None:
    customer_id, view = await active_customer(http, "pro")

    billing = await billing_of(http, customer_id)

    assert (billing["status"], billing["plan"], billing["interval"]) == ("active", "pro", "month")
    assert billing["trial_days_left"] is None
    assert billing["mrr_cents"] == 9900
    assert billing["next_invoice"] == {
        "amount_cents": 9900,
        "at": view["current_period_end"],
        "plan": "pro",
        "interval": "month",
    }
    method = billing["payment_method"]
    assert (method["brand"], method["last4"]) == ("visa", "4242")
    assert [i["billing_reason"] for i in billing["recent_invoices"]] == ["subscription_create"]
    assert billing["recent_invoices"] == await invoices_of(http, customer_id)
    assert [p["plan"] for p in billing["plans"] if p["current"]] == ["pro"]


# -- the test clock ----------------------------------------------------------------------------


async def test_test_clock_renews_at_the_period_end(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer_id, view = await active_customer(http)
    start = (await customer_row(sessions, customer_id)).current_period_start
    assert start is not None
    url = "/v1/admin/test-clock/advance"
    body = {"customer_id": customer_id, "to": "period_end"}
    assert_problem(await http.post(url, json=body, headers=auth(APP_KEY)), 403, "forbidden")
    assert await invoice_count(sessions, customer_id) == 1

    result = ok(await http.post(url, json=body, headers=auth(ADMIN_KEY)))

    assert "invoice.paid" in result["events"]
    assert result["events"] == ["invoice.paid", "customer.subscription.updated"]
    assert result["customer"]["id"] == customer_id
    expected = add_interval(start, BillingInterval.MONTH, 2)
    assert iso(view["current_period_end"]) == add_interval(start, BillingInterval.MONTH)
    renewed = await eventually(
        lambda: view_of(http, customer_id),
        lambda v: iso(v["current_period_end"]) == expected,
        timeout=WAIT,
    )
    assert renewed["status"] == "active"
    ledger = await eventually(
        lambda: ledger_of(http, customer_id),
        lambda rows: any(r["kind"] == "subscription_renewed" for r in rows),
        timeout=WAIT,
    )
    assert [r["kind"] for r in ledger].count("subscription_renewed") == 1
    invoices = await invoices_of(http, customer_id)
    assert [(i["billing_reason"], i["amount_paid_cents"]) for i in invoices] == [
        ("subscription_cycle", 2900),
        ("subscription_create", 2900),
    ]


async def test_test_clock_refusals(http: httpx.AsyncClient) -> None:
    url = "/v1/admin/test-clock/advance"
    trialing = await sign_up(http)
    problem = assert_problem(
        await http.post(url, json={"customer_id": trialing}, headers=auth(ADMIN_KEY)), 409
    )
    assert "no subscription" in problem["detail"]
    assert_problem(
        await http.post(url, json={"customer_id": str(uuid.uuid4())}, headers=auth(ADMIN_KEY)),
        404,
    )
    bad = assert_problem(
        await http.post(
            url, json={"customer_id": trialing, "to": "next_week"}, headers=auth(ADMIN_KEY)
        ),
        422,
    )
    assert fields(bad) == ["to"]


# -- Idempotency-Key -----------------------------------------------------------------------------


async def test_same_idempotency_key_charges_once(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer_id, _ = await active_customer(http)
    key = {"Idempotency-Key": f"upgrade-{uuid.uuid4()}"}

    first = await subscribe(http, customer_id, "pro", payment_method=None, headers=key)
    second = await subscribe(http, customer_id, "pro", payment_method=None, headers=key)

    # The retry gets the first outcome (not "already on pro"), and nothing runs twice.
    assert ok(first) == ok(second)
    assert ok(second)["plan"] == "pro"
    assert await invoice_count(sessions, customer_id) == 2
    assert len(await invoices_of(http, customer_id)) == 2
    assert len(await charges(sessions, customer_id)) == 2
    assert (await ledger_kinds(http, customer_id)).count("plan_changed") == 1
    # Without the key, the same request is a new command, refused by the state.
    assert_problem(await subscribe(http, customer_id, "pro", payment_method=None), 409)
    assert await invoice_count(sessions, customer_id) == 2


async def test_same_idempotency_key_on_a_declined_conversion_replays_the_decline(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer_id = await sign_up(http)
    key = {"Idempotency-Key": f"convert-{uuid.uuid4()}"}
    for _ in range(2):
        problem = assert_problem(
            await subscribe(
                http, customer_id, payment_method="pm_card_chargeDeclined", headers=key
            ),
            402,
        )
        assert problem["decline_code"] == "generic_decline"
    assert (await view_of(http, customer_id))["status"] == "trialing"
    assert await invoice_count(sessions, customer_id) == 0


async def test_checkout_conversion_shows_the_card_on_the_billing_page(
    http: httpx.AsyncClient,
) -> None:
    customer_id = await sign_up(http)
    created = ok(
        await http.post(
            f"/v1/customers/{customer_id}/checkout-session",
            json={"return_url": RETURN_URL},
            headers=auth(),
        )
    )
    session_id = httpx.URL(created["url"]).path.rsplit("/", 1)[-1]
    ok(
        await http.post(
            f"/v1/simulator/checkout/{session_id}/complete",
            json={"payment_method": "pm_card_mastercard"},
        )
    )
    await eventually(
        lambda: view_of(http, customer_id), lambda v: v["status"] == "active", timeout=WAIT
    )
    # The card is mirrored right after the conversion, in a second step.
    billing = await eventually(
        lambda: billing_of(http, customer_id),
        lambda b: b["payment_method"] is not None,
        timeout=WAIT,
    )
    assert (billing["payment_method"]["brand"], billing["payment_method"]["last4"]) == (
        "mastercard",
        "4444",
    )
    assert billing["next_invoice"] is not None
