"""Hostile input (issue 12, section 3): what once gave a 500, a 503 after retries, or a
wedged customer is refused at the edge with a problem naming the field, and the customer
stays workable."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from api.errors import first_unstorable, may_be_unstorable
from api.webhooks.service import signature_error
from db.engine import SessionFactory
from tests.factories.customers import unique_email as email_for
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth
from tests.factories.webhooks import SECRET, WEBHOOK, deliver, encode, sign, sign_up

PROBLEM = "application/problem+json"
NUL = "\x00"
TOO_BIG = str(2**63)

Json = dict[str, Any]


def problem_of(response: httpx.Response, status: int) -> Json:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: Json = response.json()
    return body


def fields_of(problem: Json) -> set[str]:
    return {error["field"] for error in problem.get("errors", [])}


# -- 2. NUL in an admin trial-extension reason ---------------------------------------------


async def test_nul_reason_is_refused_and_the_customer_stays_workable(
    http: httpx.AsyncClient,
) -> None:
    customer_id = await sign_up(http)
    refused = await http.post(
        f"/v1/admin/customers/{customer_id}/trial-extension",
        json={"days": 3, "reason": f"goodwill{NUL}"},
        headers=auth(ADMIN_KEY),
    )
    assert "reason" in fields_of(problem_of(refused, 422))
    # The command never reached the workflow: the next one answers at once.
    extended = await http.post(
        f"/v1/admin/customers/{customer_id}/trial-extension",
        json={"days": 3, "reason": "goodwill"},
        headers=auth(ADMIN_KEY),
    )
    assert extended.status_code == 200, extended.text


# -- 3. NUL in any string that reaches PostgreSQL ------------------------------------------


async def test_nul_anywhere_is_a_422_naming_the_field(http: httpx.AsyncClient) -> None:
    customer_id = await sign_up(http)
    app, admin = auth(APP_KEY), auth(ADMIN_KEY)
    requests: list[tuple[str, str, Json | None, Json, dict[str, str], str]] = [
        ("GET", "/v1/customers/a%00b", None, {}, app, "customer_id"),
        ("GET", "/v1/customers", None, {"external_id": f"x{NUL}"}, app, "external_id"),
        (
            "POST",
            "/v1/customers",
            {"external_id": f"e{NUL}", "email": email_for()},
            {},
            app,
            "external_id",
        ),
        (
            "POST",
            "/v1/customers",
            {"external_id": "e", "email": email_for(), "name": f"A{NUL}"},
            {},
            app,
            "name",
        ),
        (
            "PUT",
            f"/v1/customers/{customer_id}/payment-method",
            {"payment_method": f"pm_card_visa{NUL}"},
            {},
            app,
            "payment_method",
        ),
        (
            "POST",
            "/v1/usage",
            {"events": [{"customer_id": customer_id, "metric": "messages", "key": f"k{NUL}"}]},
            {},
            app,
            "events.0.key",
        ),
        ("GET", f"/v1/admin/customers/{customer_id}%00/export", None, {}, admin, "customer_id"),
        ("GET", "/v1/admin/customers", None, {"plan": f"pro{NUL}"}, admin, "plan"),
        ("GET", "/v1/admin/audit", None, {"customer_id": f"c{NUL}"}, admin, "customer_id"),
        (
            "POST",
            "/v1/simulator/checkout/cs_%00/complete",
            {"payment_method": "pm_card_visa"},
            {},
            {},
            "session_id",
        ),
        (
            "POST",
            "/v1/simulator/portal/bps_x/payment-method",
            {"payment_method": f"pm{NUL}"},
            {},
            {},
            "payment_method",
        ),
    ]
    for method, path, body, params, headers, field in requests:
        response = await http.request(method, path, json=body, params=params, headers=headers)
        problem = problem_of(response, 422)
        assert field in fields_of(problem), (method, path, problem)
        assert "NUL" in problem["detail"]


async def test_an_escaped_backslash_is_not_a_nul(http: httpx.AsyncClient) -> None:
    """The screen looks for the JSON escape; a literal backslash-u0000 is ordinary text."""
    response = await http.post(
        "/v1/customers",
        content=json.dumps({"external_id": "lit\\u0000eral", "email": email_for()}).encode(),
        headers={**auth(), "content-type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["external_id"] == "lit\\u0000eral"


# -- 4. integers beyond BIGINT -------------------------------------------------------------


async def test_integers_beyond_bigint_are_a_422(http: httpx.AsyncClient) -> None:
    customer_id = await sign_up(http)
    audit = await http.get("/v1/admin/audit", params={"cursor": TOO_BIG}, headers=auth(ADMIN_KEY))
    assert "cursor" in fields_of(problem_of(audit, 422))
    read = await http.post(
        f"/v1/customers/{customer_id}/notifications/{TOO_BIG}/read", headers=auth()
    )
    assert "notification_id" in fields_of(problem_of(read, 422))
    usage = await http.post(
        "/v1/usage",
        content=(
            b'{"events": [{"customer_id": "%s", "metric": "messages", "quantity": %s}]}'
            % (customer_id.encode(), TOO_BIG.encode())
        ),
        headers={**auth(), "content-type": "application/json"},
    )
    assert usage.status_code == 422, usage.text
    # The largest BIGINT itself is an ordinary (unknown) id.
    fits = await http.post(
        f"/v1/customers/{customer_id}/notifications/{2**63 - 1}/read", headers=auth()
    )
    problem_of(fits, 404)


@pytest.mark.parametrize(
    ("body", "screened"),
    [
        (b'{"a": 12345678901234567890}', True),
        (b'{"a":-1234567890123456789}', True),
        (b"[1,\n1234567890123456789]", True),
        (b"1234567890123456789", True),
        (b'{"k": "\\u0000"}', True),
        # Runs of digits inside strings (hex keys) are not numbers.
        (b'{"k": "a1234567890123456789"}', False),
        (b'{"k": "1234567890123456789", "q": 5}', False),
        (b'{"k": "a12345678901234567890000000000", "n": [1, 1234567890123456789]}', True),
    ],
)
def test_the_screen_tells_long_numbers_from_digits_in_strings(body: bytes, screened: bool) -> None:
    assert may_be_unstorable(body) is screened
    if not screened:
        assert first_unstorable(json.loads(body)) is None


# -- 5. report dates at the calendar's edges -----------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"to": "0001-06-01"},
        {"to": "9999-12-31"},
        {"from": "0001-01-01", "to": "0002-01-01"},
        {"from": "9998-01-01"},
        {"to": "0001-01-01T00:00:00+05:00"},
        {"to": "9999-12-31T23:59:59-05:00"},
    ],
)
async def test_report_dates_at_the_calendars_edges(
    http: httpx.AsyncClient, params: dict[str, str]
) -> None:
    metrics = await http.get("/v1/admin/metrics", params=params, headers=auth(ADMIN_KEY))
    problem_of(metrics, 422)
    csv = await http.get("/v1/admin/reports/mrr.csv", params=params, headers=auth(ADMIN_KEY))
    problem_of(csv, 422)
    login = await http.post("/admin/login", content=f"api_key={ADMIN_KEY}".encode())
    assert login.status_code == 303
    page = await http.get("/admin", params=params)
    assert page.status_code == 422, page.text
    export = await http.get("/admin/reports/mrr.csv", params=params)
    assert export.status_code == 422, export.text


# -- 6. a dashboard cookie with a non-ASCII signature --------------------------------------


async def test_a_non_ascii_session_signature_is_not_signed_in(http: httpx.AsyncClient) -> None:
    token = base64.urlsafe_b64encode(f"key_x|{int(time.time()) + 60}".encode()).decode()
    for path in ("/admin", "/admin/reports/mrr.csv"):
        # Raw bytes: a browser (or an attacker) may send any; the server reads Latin-1.
        cookie = f"lc_admin_session={token}.\u00e9\u00e9".encode("latin-1")
        response = await http.get(path, headers={b"cookie": cookie})
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/admin/login"


# -- 7. malformed webhook bodies signed with the real secret -------------------------------


def event(**overrides: Any) -> Json:
    base: Json = {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": "invoice.paid",
        "api_version": "2026-01-28.clover",
        "created": int(time.time()),
        "data": {"object": {"object": "invoice", "id": "in_x"}},
    }
    base.update(overrides)
    return base


def nested(depth: int) -> Json:
    body = event()
    inner: Json = body["data"]["object"]
    for _ in range(depth):
        inner["x"] = {}
        inner = inner["x"]
    return body


async def test_malformed_signed_webhooks_are_a_400(http: httpx.AsyncClient) -> None:
    bodies: dict[str, bytes] = {
        "invalid UTF-8": b'{"id": "evt_\xff\xfe", "object": "event"}',
        "deeply nested": b'{"object": "event", "id": "evt_1", "a": ' + b"[" * 100_000,
        "nested past the limit": encode(nested(64)),
        "overlong id": encode(event(id="evt_" + "x" * 5000)),
        "overlong type": encode(event(type="invoice." + "p" * 500)),
        "NUL in the id": encode(event(id=f"evt_{NUL}")),
        "NUL deep inside": encode(event(data={"object": {"object": "invoice", "id": f"in{NUL}"}})),
        "id not a string": encode(event(id=12)),
        "huge created": encode(event(created=10**30)),
        "object not an object": encode(event(data={"object": ["x"]})),
        "overlong customer": encode(
            event(data={"object": {"object": "invoice", "id": "in_1", "customer": "c" * 999}})
        ),
    }
    for name, payload in bodies.items():
        response = await deliver(http, payload)
        problem = problem_of(response, 400)
        assert problem["type"].endswith("invalid-event"), (name, problem)


async def test_the_signature_covers_the_raw_bytes(http: httpx.AsyncClient) -> None:
    """Signed over other bytes that decode to the same text with replacement characters:
    refused as a bad signature, not accepted."""
    payload = b'{"id": "evt_\xff", "object": "event"}'
    lookalike = payload.decode(errors="replace").encode()
    response = await http.post(
        WEBHOOK,
        content=payload,
        headers={"content-type": "application/json", "Stripe-Signature": sign(lookalike, SECRET)},
    )
    assert problem_of(response, 400)["type"].endswith("invalid-signature")


def test_signature_check_answers_the_stripe_scheme() -> None:
    payload = b'{"ok": true}'
    now = time.time()
    assert signature_error(payload, sign(payload, SECRET), SECRET, now=now) is None
    header = sign(payload, SECRET)
    assert signature_error(payload, header.replace("v1=", "v1=0"), SECRET, now=now)
    assert signature_error(payload, "t=1,v1=\u00e9", SECRET, now=now)
    assert signature_error(payload, "t=" + "9" * 40 + ",v1=ab", SECRET, now=now)
    assert signature_error(payload, sign(payload, SECRET, int(now) - 301), SECRET, now=now)
    rotated = f"{header},v1={'0' * 64}"
    assert signature_error(payload, rotated, SECRET, now=now) is None


# -- 8. a Checkout session id on the portal ------------------------------------------------


async def test_a_checkout_session_is_not_a_portal_session(http: httpx.AsyncClient) -> None:
    customer_id = await sign_up(http)
    checkout = await http.post(
        f"/v1/customers/{customer_id}/checkout-session",
        json={"return_url": "https://app.example/billing"},
        headers=auth(),
    )
    assert checkout.status_code == 200, checkout.text
    session_id = checkout.json()["url"].rstrip("/").split("/")[-1].split("?")[0]
    actions: list[tuple[str, Json | None]] = [
        ("payment-method", {"payment_method": "pm_card_chargeCustomerFail"}),
        ("plan", {"price": "plan_pro_month"}),
        ("cancel", None),
        ("renew", None),
    ]
    for action, body in actions:
        response = await http.post(f"/v1/simulator/portal/{session_id}/{action}", json=body)
        assert 400 <= response.status_code < 500, (action, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
    billing = await http.get(f"/v1/customers/{customer_id}/billing", headers=auth())
    assert billing.status_code == 200, billing.text
    assert billing.json()["payment_method"] is None


# -- 2. a value the database refuses is not retried ----------------------------------------


async def test_refused_values_end_an_activity_at_once(sessions: SessionFactory) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError
    from temporalio.exceptions import ApplicationError
    from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput

    from activities.database_errors import NonRetryableDataErrors
    from db.writes import is_refused_value

    refused: list[DBAPIError] = []
    for statement, value in (
        ("select cast(:v as text)", "a\x00b"),
        ("select cast(:v as jsonb)", '{"a": "\\u0000"}'),
        ("select cast(:v as bigint)", 2**64),
    ):
        try:
            async with sessions() as session:
                await session.execute(text(statement), {"v": value})
        except DBAPIError as exc:
            refused.append(exc)
    assert len(refused) == 3 and all(is_refused_value(exc) for exc in refused)

    class Failing(ActivityInboundInterceptor):
        def __init__(self) -> None:
            pass

        async def execute_activity(self, input: ExecuteActivityInput) -> Any:
            raise refused[0]

    inbound = NonRetryableDataErrors().intercept_activity(Failing())
    with pytest.raises(ApplicationError) as caught:
        await inbound.execute_activity(None)  # type: ignore[arg-type]
    assert caught.value.non_retryable
