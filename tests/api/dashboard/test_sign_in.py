"""The dashboard's sign-in: an admin key for an HttpOnly, SameSite=Strict session cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.dashboard.session import COOKIE_NAME
from tests.factories.apps import api_client
from tests.factories.settings import ADMIN_KEY, APP_KEY, make_settings


@pytest.fixture
async def http(
    database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    async with api_client(settings, dev_server_env.client) as client:
        yield client


async def _sign_in(http: httpx.AsyncClient, key: str) -> httpx.Response:
    return await http.post(
        "/admin/login",
        content=f"api_key={key}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


async def test_without_a_session_the_dashboard_asks_to_sign_in(http: httpx.AsyncClient) -> None:
    response = await http.get("/admin")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login"
    form = await http.get("/admin/login")
    assert form.status_code == 200
    assert 'name="api_key"' in form.text


@pytest.mark.parametrize("key", [APP_KEY, "not-a-key", ""])
async def test_only_an_admin_key_signs_in(http: httpx.AsyncClient, key: str) -> None:
    response = await _sign_in(http, key)
    assert response.status_code == 401
    assert COOKIE_NAME not in response.headers.get("set-cookie", "")


async def test_admin_key_gets_a_strict_http_only_session(http: httpx.AsyncClient) -> None:
    response = await _sign_in(http, ADMIN_KEY)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/admin" in attributes
    # The key itself never travels in the cookie.
    assert ADMIN_KEY not in cookie

    # The client keeps the cookie like a browser would.
    page = await http.get("/admin")
    assert page.status_code == 200, page.text
    assert "<svg" in page.text and 'id="mrr-chart"' in page.text
    assert page.headers["cache-control"] == "no-store"

    csv = await http.get("/admin/reports/churn.csv")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("month,")


async def test_a_tampered_or_foreign_cookie_is_refused(http: httpx.AsyncClient) -> None:
    signed = (await _sign_in(http, ADMIN_KEY)).cookies[COOKIE_NAME]
    token, _, signature = signed.rpartition(".")
    forged = f"{token}.{'0' * len(signature)}"
    for cookie in (forged, "garbage", f"{token}x.{signature}"):
        http.cookies.clear()
        http.cookies.set(COOKIE_NAME, cookie, domain="api", path="/admin")
        response = await http.get("/admin")
        assert response.status_code == 303, cookie


async def test_signing_out_clears_the_session(http: httpx.AsyncClient) -> None:
    response = await http.post("/admin/logout")
    assert response.status_code == 303
    assert f'{COOKIE_NAME}=""' in response.headers["set-cookie"]
