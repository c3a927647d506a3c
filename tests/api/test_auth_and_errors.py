"""Authentication, authorization and bad input: clear problems, nothing changed."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from api.app import MissingApiKeys, create_app
from core.settings import Settings
from db.engine import SessionFactory
from db.migrate import migrate
from db.models import Customer
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth

PROBLEM = "application/problem+json"


def _assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


async def test_missing_key_is_401_with_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/plans")
    body = _assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization" in body["detail"]


@pytest.mark.parametrize(
    "header", ["Bearer nope", "Basic " + APP_KEY, "Bearer", APP_KEY, "Bearer  "]
)
async def test_unknown_or_malformed_key_is_401(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/v1/plans", headers={"Authorization": header})
    _assert_problem(response, 401)


def _admin_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(lifecycle_admin_api_keys="x"))
    routes = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v1/admin")
        for method in operations
    ]
    assert routes, "no admin routes found"
    return routes


@pytest.mark.parametrize(("method", "path"), _admin_routes())
async def test_app_key_cannot_reach_any_admin_endpoint(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    url = path.replace("{customer_id}", str(uuid.uuid4()))
    response = await client.request(method, url, headers=auth(APP_KEY), json={})
    body = _assert_problem(response, 403)
    assert "admin" in body["detail"]


async def test_admin_key_can_use_app_endpoints(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/plans", headers=auth(ADMIN_KEY))
    assert response.status_code == 200


async def test_api_refuses_to_start_without_keys(tmp_path: Path) -> None:
    # A database of its own: the shared one may hold keys made by `lifecycle keys create`.
    url = f"sqlite+aiosqlite:///{tmp_path}/keys.db"
    await migrate(url)
    app = create_app(
        Settings(lifecycle_app_api_keys=None, lifecycle_admin_api_keys=None, database_url=url)
    )
    with pytest.raises(MissingApiKeys, match="LIFECYCLE_APP_API_KEYS"):
        async with app.router.lifespan_context(app):
            pass


async def _customer_count(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Customer)) or 0)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"external_id": "x-1", "email": "not-an-email"}, "email"),
        ({"external_id": "x-1"}, "email"),
        ({"email": "a@example.com"}, "external_id"),
        ({"external_id": "", "email": "a@example.com"}, "external_id"),
        ({"external_id": "x" * 256, "email": "a@example.com"}, "external_id"),
        ({"external_id": 12, "email": "a@example.com"}, "external_id"),
        ({"external_id": "x-1", "email": "a@example.com", "name": "n" * 256}, "name"),
        ({"external_id": "x-1", "email": "a@example.com", "plan": "pro"}, "plan"),
    ],
)
async def test_bad_sign_up_names_the_field_and_changes_nothing(
    client: httpx.AsyncClient, sessions: SessionFactory, payload: dict, field: str
) -> None:
    before = await _customer_count(sessions)
    response = await client.post("/v1/customers", json=payload, headers=auth())
    body = _assert_problem(response, 422)
    assert field in [e["field"] for e in body["errors"]]
    assert field in body["detail"]
    assert await _customer_count(sessions) == before


async def test_body_that_is_not_json_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/customers",
        content=b"{not json",
        headers={**auth(), "content-type": "application/json"},
    )
    body = _assert_problem(response, 422)
    assert body["errors"][0]["field"] == "body"


async def test_lookup_without_external_id_names_the_query_parameter(
    client: httpx.AsyncClient,
) -> None:
    body = _assert_problem(await client.get("/v1/customers", headers=auth()), 422)
    assert body["errors"][0]["field"] == "external_id"


async def test_unknown_customer_and_route_are_404_problems(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.get(f"/v1/customers/{uuid.uuid4()}", headers=auth()), 404)
    _assert_problem(await client.get("/v1/nothing-here", headers=auth()), 404)
    _assert_problem(
        await client.get(f"/v1/admin/customers/{uuid.uuid4()}/emails", headers=auth(ADMIN_KEY)),
        404,
    )


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.delete("/v1/plans", headers=auth()), 405)
