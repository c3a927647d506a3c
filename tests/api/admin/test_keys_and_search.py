"""API keys made with `lifecycle keys create` (only a hash is stored; the key acts and is
recorded as the actor), scopes on every admin endpoint, and the admin customer search with
its filters and cursor pagination."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import ApiKey, Customer, LedgerEvent
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.databases import Database, tables_containing
from tests.factories.polling import eventually
from tests.factories.processes import lifecycle_cli
from tests.factories.records import ledger
from tests.factories.responses import assert_problem, b64, fields, ok
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth, make_settings
from tests.factories.workers import make_worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

Json = dict[str, Any]


@pytest.fixture
async def http(
    dev_server_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=database_url, task_queue=task_queue, stripe_api_key=None)
    async with (
        make_worker(
            dev_server_env.client, task_queue=task_queue, sessions=sessions, config=engine_config
        ),
        api_client(settings, dev_server_env.client) as client,
    ):
        yield client


async def _create_key(database_url: str, scope: str, name: str) -> tuple[str, str]:
    result = await lifecycle_cli(database_url, "keys", "create", "--scope", scope, "--name", name)
    assert result.code == 0, result
    key_id = re.search(r"^id:\s+(\S+)$", result.stdout, re.MULTILINE)
    key = re.search(r"^key:\s+(\S+)$", result.stdout, re.MULTILINE)
    assert key_id and key, result.stdout
    assert re.search(rf"^scope:\s+{scope}$", result.stdout, re.MULTILINE), result.stdout
    assert "not shown again" in result.stderr
    return key_id.group(1), key.group(1)


async def _sign_up(http: httpx.AsyncClient, key: str = APP_KEY) -> Json:
    return ok(
        await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email("keys")},
            headers=auth(key),
        ),
        201,
    )


# -- stored API keys --------------------------------------------------------------------------


async def test_created_admin_key_is_stored_hashed_acts_and_is_the_recorded_actor(
    http: httpx.AsyncClient, database_url: str, sessions: SessionFactory
) -> None:
    key_id, key = await _create_key(database_url, "admin", "ops")
    assert key.startswith("lc_admin_")

    # Only its SHA-256 is kept; the key itself is nowhere in the database.
    async with sessions() as session:
        stored = await session.get(ApiKey, key_id)
    assert stored is not None
    assert (stored.scope, stored.name, stored.revoked_at) == ("admin", "ops", None)
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert await tables_containing(sessions, key) == {}
    assert await tables_containing(sessions, key[len("lc_admin_") :]) == {}
    # The creation is itself in the audit trail (naming the key id, not the key).
    async with sessions() as session:
        audit = await session.scalar(
            select(LedgerEvent).where(LedgerEvent.event_key == f"api_key_created:{key_id}")
        )
    assert audit is not None
    assert audit.kind == "api_key_created"
    assert audit.data == {"key_id": key_id, "scope": "admin", "name": "ops"}

    # It works on admin endpoints, and on app endpoints (admin can do both).
    ok(await http.get("/v1/admin/customers", params={"limit": 1}, headers=auth(key)))
    customer = await _sign_up(http, key)
    cid = customer["id"]
    await eventually(lambda: ledger(sessions, cid), lambda rows: len(rows) == 1)

    # Its id is the actor recorded for what it does.
    ok(
        await http.post(
            f"/v1/admin/customers/{cid}/trial-extension",
            json={"days": 2, "reason": "ops goodwill"},
            headers=auth(key),
        )
    )
    rows = await ledger(sessions, cid)
    assert rows[-1].kind == "trial_extended"
    assert rows[-1].actor == f"admin:{key_id}"
    assert rows[-1].data["reason"] == "ops goodwill"

    # A wrong key with the same prefix is not it.
    assert_problem(
        await http.get("/v1/admin/customers", headers=auth(key[:-2] + "xx")), 401, "unauthorized"
    )


async def test_created_app_key_works_for_the_app_and_never_for_admin(
    http: httpx.AsyncClient, database_url: str, sessions: SessionFactory
) -> None:
    _, app_key = await _create_key(database_url, "app", "backend")
    customer = await _sign_up(http, app_key)
    ok(await http.get(f"/v1/customers/{customer['id']}", headers=auth(app_key)))
    assert_problem(await http.get("/v1/admin/customers", headers=auth(app_key)), 403, "forbidden")
    assert await tables_containing(sessions, app_key) == {}

    # Environment keys keep working next to stored ones.
    ok(await http.get(f"/v1/customers/{customer['id']}", headers=auth(APP_KEY)))
    ok(await http.get("/v1/admin/customers", params={"limit": 1}, headers=auth(ADMIN_KEY)))
    assert_problem(await http.get("/v1/admin/customers", headers=auth(APP_KEY)), 403, "forbidden")


async def test_keys_create_refuses_an_unknown_scope(database_url: str) -> None:
    result = await lifecycle_cli(database_url, "keys", "create", "--scope", "root", "--name", "x")
    assert result.code == 2
    assert "--scope" in result.stderr


def _admin_routes() -> list[tuple[str, str]]:
    settings = make_settings(
        database_url="sqlite+aiosqlite:///:memory:", task_queue="unused", stripe_api_key=None
    )
    # The OpenAPI document lists every route the app serves, with its methods.
    paths: dict[str, dict[str, Any]] = create_app(settings).openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in sorted(paths.items())
        if path.startswith("/v1/admin")
        for method in sorted(operations)
    ]


async def test_app_keys_reach_no_admin_endpoint(http: httpx.AsyncClient, database_url: str) -> None:
    """Every route under /v1/admin, whatever its method, answers 403 to an app key (from the
    environment or stored) and 401 to no key; the admin key gets past authorization."""
    _, stored_app_key = await _create_key(database_url, "app", "backend-2")
    customer = await _sign_up(http)
    routes = _admin_routes()
    paths = {path for _, path in routes}
    for expected in (
        "/v1/admin/customers",
        "/v1/admin/customers/{customer_id}",
        "/v1/admin/customers/{customer_id}/trial-extension",
        "/v1/admin/customers/{customer_id}/export",
        "/v1/admin/customers/{customer_id}/emails",
        "/v1/admin/customers/{customer_id}/events",
        "/v1/admin/audit",
        "/v1/admin/test-clock/advance",
    ):
        assert expected in paths, sorted(paths)
    for method, template in routes:
        path = re.sub(r"\{customer_id\}", customer["id"], template)
        path = re.sub(r"\{[^}]+\}", "messages", path)
        for key in (APP_KEY, stored_app_key):
            response = await http.request(method, path, json={}, headers=auth(key))
            assert_problem(response, 403, "forbidden")
        response = await http.request(method, path, json={})
        assert_problem(response, 401, "unauthorized")
    # The customer is untouched by all of that.
    view = ok(await http.get(f"/v1/customers/{customer['id']}", headers=auth()))
    assert (view["status"], view["email"]) == ("trialing", customer["email"])


# -- customer search --------------------------------------------------------------------------


@pytest.fixture
async def search(
    own_database: Database, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[tuple[httpx.AsyncClient, list[Customer]]]:
    """A database with exactly these customers (read-model rows, no workflows needed)."""
    base = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    specs: list[tuple[str, str, timedelta | None, timedelta]] = [
        # status, plan, trial end (from base), created (from base)
        ("trialing", "starter", timedelta(days=3), timedelta(minutes=0)),
        ("trialing", "starter", timedelta(days=10), timedelta(minutes=1)),
        ("trial_expired", "starter", timedelta(days=-2), timedelta(minutes=2)),
        ("active", "pro", timedelta(days=-20), timedelta(minutes=3)),
        ("active", "starter", timedelta(days=-30), timedelta(minutes=3)),  # same second
        ("active", "pro", timedelta(days=-1), timedelta(minutes=3)),  # same second
        ("canceled", "pro", None, timedelta(minutes=4)),
        ("trialing", "starter", timedelta(days=1), timedelta(minutes=5)),
        ("past_due", "pro", timedelta(days=-40), timedelta(minutes=6)),
        ("trialing", "starter", timedelta(days=5), timedelta(minutes=7)),
        ("paused", "pro", timedelta(days=-9), timedelta(minutes=8)),
    ]
    customers: list[Customer] = []
    async with own_database.sessions.begin() as session:
        for status, plan, trial_end, created in specs:
            customer = Customer(
                id=str(uuid.uuid4()),
                external_id=f"ext-{uuid.uuid4().hex}",
                email=unique_email("search"),
                name="Search Test",
                status=status,
                plan=plan,
                interval=None if status.startswith("trial") else "month",
                trial_started_at=base - timedelta(days=14),
                trial_ends_at=base + trial_end if trial_end is not None else None,
                cancel_at_period_end=False,
                state_version=0,
                created_at=base + created,
                updated_at=base + created,
            )
            session.add(customer)
            customers.append(customer)
    settings = make_settings(
        database_url=own_database.url, task_queue=task_queue, stripe_api_key=None
    )
    async with api_client(settings, dev_server_env.client) as client:
        yield client, sorted(customers, key=lambda c: (c.created_at, c.id))


async def _walk(
    http: httpx.AsyncClient, params: dict[str, Any], limit: int
) -> tuple[list[str], int]:
    """Follow next_cursor to the end; returns the ids in order and how many pages."""
    ids: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = ok(await http.get("/v1/admin/customers", params=query, headers=auth(ADMIN_KEY)))
        pages += 1
        assert len(page["data"]) <= limit
        if page["next_cursor"] is not None:
            assert len(page["data"]) == limit
        ids += [c["id"] for c in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids, pages
        assert pages < 100, "pagination does not end"


async def test_customer_search_filters_and_pages_without_gaps_or_duplicates(
    search: tuple[httpx.AsyncClient, list[Customer]],
) -> None:
    http, customers = search
    everyone = [c.id for c in customers]
    for limit in (1, 2, 3, 4, len(everyone), 500):
        ids, pages = await _walk(http, {}, limit)
        assert ids == everyone, limit
        assert pages == max(1, -(-len(everyone) // limit)), limit

    base = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"status": "trialing"}, [c.id for c in customers if c.status == "trialing"]),
        ({"plan": "pro"}, [c.id for c in customers if c.plan == "pro"]),
        (
            {"status": "active", "plan": "pro"},
            [c.id for c in customers if c.status == "active" and c.plan == "pro"],
        ),
        (
            {"trial_ends_before": (base + timedelta(days=4)).isoformat()},
            [
                c.id
                for c in customers
                if c.trial_ends_at is not None and c.trial_ends_at < base + timedelta(days=4)
            ],
        ),
        (
            # Trials ending within the next 4 days: the operator's usual question.
            {"status": "trialing", "trial_ends_before": "2026-03-05T12:00:00Z"},
            [
                c.id
                for c in customers
                if c.status == "trialing"
                and c.trial_ends_at is not None
                and c.trial_ends_at < base + timedelta(days=4)
            ],
        ),
        ({"status": "trialing", "plan": "pro"}, []),
    ]
    for params, expected in cases:
        for limit in (1, 2, 50):
            ids, _ = await _walk(http, params, limit)
            assert ids == expected, (params, limit)
    # The sample covers what it should: ties on created_at, and filters that matter.
    assert len(cases[4][1]) == 2
    page = ok(
        await http.get(
            "/v1/admin/customers", params={"status": "trialing"}, headers=auth(ADMIN_KEY)
        )
    )
    assert {c["status"] for c in page["data"]} == {"trialing"}
    assert page["next_cursor"] is None
    assert page["data"][0]["email"] == customers[0].email


async def test_customer_search_rejects_bad_input_naming_the_field(
    search: tuple[httpx.AsyncClient, list[Customer]],
) -> None:
    http, _ = search
    for params, field in [
        ({"cursor": "not a cursor"}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
        ({"cursor": b64("yesterday|abc")}, "cursor"),
        ({"cursor": "x" * 501}, "cursor"),
        ({"status": "happy"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"trial_ends_before": "2026-03-05T12:00:00"}, "trial_ends_before"),
        ({"trial_ends_before": "soon"}, "trial_ends_before"),
    ]:
        response = await http.get("/v1/admin/customers", params=params, headers=auth(ADMIN_KEY))
        problem = assert_problem(response, 422)
        assert field in fields(problem), (params, problem)
    assert_problem(await http.get("/v1/admin/customers", headers=auth(APP_KEY)), 403, "forbidden")


async def test_a_cursor_with_a_naive_timestamp_is_a_422(
    search: tuple[httpx.AsyncClient, list[Customer]],
) -> None:
    http, customers = search
    forged = b64(f"2026-03-01T12:03:00|{customers[0].id}")
    response = await http.get(
        "/v1/admin/customers", params={"cursor": forged}, headers=auth(ADMIN_KEY)
    )
    problem = assert_problem(response, 422)
    assert "cursor" in fields(problem)
