"""The cancellation save flow through the API: the exit reason recorded, the offers that fit
(best first for the reason), one taken in one call, bad input named, nothing changed by a
refused request."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.factories.customers import unique_email
from tests.factories.settings import ADMIN_KEY, auth


def ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _customer(http: httpx.AsyncClient, plan: str | None = "pro") -> str:
    created = ok(
        await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email()},
            headers=auth(),
        )
    )
    if plan is not None:
        ok(
            await http.post(
                f"/v1/customers/{created['id']}/subscription",
                json={"plan": plan, "interval": "month", "payment_method": "pm_card_visa"},
                headers=auth(),
            )
        )
    return str(created["id"])


async def _kinds(http: httpx.AsyncClient, cid: str) -> list[str]:
    rows = ok(
        await http.get(f"/v1/admin/customers/{cid}/events?audit=false", headers=auth(ADMIN_KEY))
    )["data"]
    return [row["kind"] for row in rows]


async def test_offers_fit_the_reason_and_one_is_taken_in_one_call(http: httpx.AsyncClient) -> None:
    cid = await _customer(http, "pro")
    ok(await http.post(f"/v1/customers/{cid}/cancel", json={}, headers=auth()))
    answer = ok(
        await http.post(
            f"/v1/customers/{cid}/cancellation-request",
            json={"reason": "too_expensive"},
            headers=auth(),
        )
    )
    offers = answer["offers"]
    assert [o["kind"] for o in offers] == ["downgrade", "coupon", "pause"]
    downgrade = offers[0]
    assert (downgrade["plan"], downgrade["monthly_saving_cents"]) == ("starter", 7000)
    assert offers[1]["coupon"] == "SAVE30"
    assert answer["customer"]["cancel_at_period_end"] is True

    # Not using it: the pause first.
    again = ok(
        await http.post(
            f"/v1/customers/{cid}/cancellation-request",
            json={"reason": "not_using"},
            headers=auth(),
        )
    )
    assert again["offers"][0]["kind"] == "pause"

    view = ok(
        await http.post(
            f"/v1/customers/{cid}/offers/accept",
            json={"kind": "downgrade", "reason": "too_expensive"},
            headers=auth(),
        )
    )
    assert view["cancel_at_period_end"] is False
    assert view["scheduled_change"]["plan"] == "starter"
    kinds = await _kinds(http, cid)
    assert kinds[-3:] == ["cancellation_withdrawn", "plan_change_scheduled", "offer_accepted"]
    assert kinds.count("cancellation_requested") == 2

    # Taken once in 180 days: the next request no longer shows it, and taking it is refused.
    later = ok(
        await http.post(
            f"/v1/customers/{cid}/cancellation-request",
            json={"reason": "too_expensive"},
            headers=auth(),
        )
    )
    assert "downgrade" not in [o["kind"] for o in later["offers"]]
    refused = await http.post(
        f"/v1/customers/{cid}/offers/accept",
        json={"kind": "downgrade", "reason": "too_expensive"},
        headers=auth(),
    )
    assert refused.status_code == 409, refused.text
    assert "downgrade" in refused.json()["detail"]

    # The report counts the requests and the downgrade taken (pending: not 30 days yet).
    report = ok(await http.get("/v1/admin/reports/save-flow", headers=auth(ADMIN_KEY)))
    reasons = {r["reason"]: r for r in report["reasons"]}
    assert reasons["too_expensive"]["requests"] >= 2
    assert reasons["not_using"]["saved"] >= 1  # the request just before the downgrade
    offers = {o["kind"]: o for o in report["offers"]}
    assert offers["downgrade"]["accepted"] >= 1
    assert offers["downgrade"]["pending"] >= 1
    assert (await http.get("/v1/admin/reports/save-flow", headers=auth())).status_code == 403
    bad = await http.get(
        "/v1/admin/reports/save-flow?from=2026-02-01&to=2026-01-01", headers=auth(ADMIN_KEY)
    )
    assert bad.status_code == 422 and "from" in bad.text


async def test_a_running_trial_is_offered_nothing(http: httpx.AsyncClient) -> None:
    cid = await _customer(http, plan=None)
    # A running trial has nothing to offer (there is nothing to cancel yet).
    answer = ok(
        await http.post(
            f"/v1/customers/{cid}/cancellation-request",
            json={"reason": "not_using"},
            headers=auth(),
        )
    )
    assert answer["offers"] == []


async def test_bad_input_is_named_and_changes_nothing(http: httpx.AsyncClient) -> None:
    cid = await _customer(http, "starter")
    before = await _kinds(http, cid)
    for body, field in [
        ({"reason": "bored"}, "reason"),
        ({}, "reason"),
        ({"reason": "other", "extra": 1}, "extra"),
    ]:
        response = await http.post(
            f"/v1/customers/{cid}/cancellation-request", json=body, headers=auth()
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text
    for body, field in [
        ({"kind": "coupon"}, "reason"),
        ({"kind": "pause", "offer_id": "campaign:x"}, "kind"),
        ({"kind": "gift", "reason": "other"}, "kind"),
    ]:
        response = await http.post(f"/v1/customers/{cid}/offers/accept", json=body, headers=auth())
        assert response.status_code == 422, response.text
        assert field in response.text
    # An offer id never sent is refused by the workflow.
    response = await http.post(
        f"/v1/customers/{cid}/offers/accept",
        json={"kind": "coupon", "offer_id": "campaign:never"},
        headers=auth(),
    )
    assert response.status_code == 409, response.text
    missing = await http.post(
        "/v1/customers/no-such-customer/cancellation-request",
        json={"reason": "other"},
        headers=auth(),
    )
    assert missing.status_code == 404
    assert await _kinds(http, cid) == before
