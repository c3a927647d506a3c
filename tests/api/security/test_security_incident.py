"""Security incident response (issue 16 part 7) through the API: the security log, the
failed-authentication limit, revoking a scope, the webhook secret's rotation window, and
the money-movement freeze."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from adapters.payments.base import STRIPE_API_VERSION
from core.config import EngineConfig
from db.api_keys import find_key
from db.engine import SessionFactory
from db.models import LedgerEvent, SecurityEvent
from services.access_review import create_api_key
from services.security import key_prefix
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.databases import Database
from tests.factories.processes import lifecycle_cli
from tests.factories.responses import assert_problem, ok
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth, make_settings
from tests.factories.webhooks import deliver
from tests.factories.workers import make_worker

pytestmark = [pytest.mark.timeout(240)]
Json = dict[str, Any]
NEW_SECRET = "whsec_new"
OLD_SECRET = "whsec_old"


@pytest.fixture
def app_with(
    dev_server_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> Any:
    @asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = make_settings(
            database_url=database_url,
            task_queue=task_queue,
            stripe_api_key=None,
            stripe_webhook_secret=NEW_SECRET,
            **overrides,
        )
        async with (
            make_worker(
                dev_server_env.client,
                task_queue=task_queue,
                sessions=sessions,
                config=engine_config,
            ),
            api_client(settings, dev_server_env.client) as client,
        ):
            yield client

    return running


def _counted(kind: str) -> float:
    return REGISTRY.get_sample_value("lifecycle_security_events_total", {"kind": kind}) or 0.0


async def _events(sessions: SessionFactory, kind: str, since: datetime) -> list[SecurityEvent]:
    async with sessions() as session:
        rows = await session.scalars(
            select(SecurityEvent)
            .where(SecurityEvent.kind == kind, SecurityEvent.occurred_at >= since)
            .order_by(SecurityEvent.id)
        )
        return list(rows)


async def test_failed_authentication_is_logged_then_rate_limited(
    app_with: Any, sessions: SessionFactory
) -> None:
    since = datetime.now(UTC)
    guess = f"lc_app_{uuid.uuid4().hex}"
    counted = {kind: _counted(kind) for kind in ("auth_failed", "auth_rate_limited")}
    async with app_with(lifecycle_auth_failure_limit=3) as http:
        # No key at all guesses nothing: neither logged nor counted.
        for _ in range(5):
            assert_problem(await http.get("/v1/plans"), 401)
        for _ in range(3):
            assert_problem(await http.get("/v1/plans", headers=auth(guess)), 401)
        refused = assert_problem(await http.get("/v1/plans", headers=auth(guess)), 429)
        assert "failed authentications" in refused["detail"]
        response = await http.get("/v1/plans", headers=auth(APP_KEY))
        # The address is refused as a whole until the window passes, good key or not,
        # whatever path it takes (else a 200 would tell it which key is real).
        assert_problem(response, 429, "too-many-failed-authentications")
        assert 0 < int(response.headers["retry-after"]) <= 300
        hot = await http.post(
            f"/v1/customers/{uuid.uuid4()}/entitlements/check",
            json={"metric": "messages"},
            headers=auth(APP_KEY),
        )
        assert_problem(hot, 429, "too-many-failed-authentications")
        sign_in = await http.post("/admin/login", data={"api_key": ADMIN_KEY})
        assert sign_in.status_code == 429 and "retry-after" in sign_in.headers
    failed = await _events(sessions, "auth_failed", since)
    assert len(failed) == 3
    assert {(e.key_prefix, e.client_ip) for e in failed} == {(key_prefix(guess), "127.0.0.1")}
    assert guess not in str([e.detail for e in failed])
    assert len(await _events(sessions, "auth_rate_limited", since)) == 1
    # What the LifecycleAuthenticationFailures alert counts (deploy/prometheus/alerts.yml).
    assert _counted("auth_failed") - counted["auth_failed"] == 3
    assert _counted("auth_rate_limited") - counted["auth_rate_limited"] == 1


async def test_revoke_scope_cuts_every_stored_key_of_it(own_database: Database) -> None:
    """On a database of its own: it revokes every stored app key there is."""
    sessions = own_database.sessions
    app_keys = [
        (await create_api_key(sessions, scope="app", name=f"leak-{i}", actor="t")).key
        for i in range(2)
    ]
    admin = (await create_api_key(sessions, scope="admin", name="ops", actor="t")).key
    url = own_database.url
    result = await lifecycle_cli(url, "keys", "revoke-scope", "app", "--reason", "leak")
    assert result.code == 0, result
    assert "2 app keys revoked" in result.stdout
    async with sessions() as session:
        assert [await find_key(session, key) for key in app_keys] == [None, None]
        assert await find_key(session, admin) is not None
        revoked = list(
            await session.scalars(
                select(SecurityEvent).where(SecurityEvent.kind == "api_key_revoked")
            )
        )
    assert len(revoked) == 2 and all(e.actor and e.actor.startswith("cli:") for e in revoked)
    refused = await lifecycle_cli(url, "keys", "revoke-scope", "root")
    assert refused.code == 2


def _event() -> Json:
    return {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "type": "customer.created",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "data": {"object": {"id": f"cus_{uuid.uuid4().hex[:14]}", "object": "customer"}},
    }


async def test_the_retired_webhook_secret_is_accepted_during_the_overlap_only(
    app_with: Any, sessions: SessionFactory
) -> None:
    since = datetime.now(UTC)
    during = {
        "stripe_webhook_secret_previous": OLD_SECRET,
        "stripe_webhook_secret_previous_until": datetime.now(UTC) + timedelta(hours=1),
    }
    async with app_with(**during) as http:
        ok(await deliver(http, _event(), secret=OLD_SECRET))
        ok(await deliver(http, _event(), secret=NEW_SECRET))
        assert_problem(
            await deliver(http, _event(), secret="whsec_mallory"), 400, "invalid-signature"
        )
    after = {**during, "stripe_webhook_secret_previous_until": datetime.now(UTC)}
    async with app_with(**after) as http:
        problem = assert_problem(
            await deliver(http, _event(), secret=OLD_SECRET), 400, "invalid-signature"
        )
        assert "retired" in problem["detail"]
        ok(await deliver(http, _event(), secret=NEW_SECRET))
    # Without an end to the overlap the old secret is never accepted.
    async with app_with(stripe_webhook_secret_previous=OLD_SECRET) as http:
        assert_problem(await deliver(http, _event(), secret=OLD_SECRET), 400)
    assert len(await _events(sessions, "webhook_forged", since)) == 1
    retired = await _events(sessions, "webhook_secret_retired_used", since)
    assert len(retired) == 2 and retired[0].client_ip == "127.0.0.1"


async def _sign_up(http: httpx.AsyncClient) -> str:
    body = ok(
        await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email("freeze")},
            headers=auth(),
        ),
        201,
    )
    return str(body["id"])


async def test_frozen_money_movements_answer_503_until_released(
    app_with: Any, sessions: SessionFactory
) -> None:
    since = datetime.now(UTC)
    convert = {"plan": "pro", "interval": "month", "payment_method": "pm_card_visa"}
    async with app_with() as http:
        cid = await _sign_up(http)
        frozen = ok(
            await http.put(
                "/v1/admin/security/freeze",
                json={"active": True, "reason": "card testing attack"},
                headers=auth(ADMIN_KEY),
            )
        )
        assert frozen["active"] is True and frozen["actor"].startswith("admin:")
        try:
            for method, path, body in (
                ("POST", f"/v1/customers/{cid}/subscription", convert),
                ("POST", f"/v1/customers/{cid}/addons", {"addon": "extra_chatbot"}),
                ("POST", f"/v1/customers/{cid}/checkout-session", {"plan": "pro"}),
                ("POST", f"/v1/customers/{cid}/resume", {}),
                ("PUT", f"/v1/customers/{cid}/payment-method", {"payment_method": "pm_x"}),
            ):
                response = await http.request(method, path, json=body, headers=auth())
                problem = assert_problem(response, 503, "money-movement-frozen")
                assert "card testing" not in problem["detail"]  # the reason stays with admins
                assert response.headers["retry-after"] == "300"
            # Reads and commands that move no money go on; anonymous callers hear 401.
            ok(await http.get(f"/v1/customers/{cid}", headers=auth()))
            ok(await http.get("/v1/plans", headers=auth()))
            assert_problem(await http.post(f"/v1/customers/{cid}/subscription", json=convert), 401)
            status = ok(await http.get("/v1/admin/security/freeze", headers=auth(ADMIN_KEY)))
            assert (status["active"], status["reason"]) == (True, "card testing attack")
        finally:
            ok(
                await http.put(
                    "/v1/admin/security/freeze",
                    json={"active": False, "reason": "attack blocked"},
                    headers=auth(ADMIN_KEY),
                )
            )
        converted = ok(
            await http.post(f"/v1/customers/{cid}/subscription", json=convert, headers=auth())
        )
        assert converted["status"] == "active"
    async with sessions() as session:
        kinds = list(
            await session.scalars(
                select(LedgerEvent.kind)
                .where(LedgerEvent.recorded_at >= since, LedgerEvent.customer_id.is_(None))
                .where(LedgerEvent.kind.in_(["money_frozen", "money_unfrozen"]))
                .order_by(LedgerEvent.id)
            )
        )
    assert kinds[-2:] == ["money_frozen", "money_unfrozen"]
    changes = await _events(sessions, "money_freeze_changed", since)
    assert [e.detail["active"] for e in changes][-2:] == [True, False]


async def test_dashboard_sign_ins_are_logged(app_with: Any, sessions: SessionFactory) -> None:
    since = datetime.now(UTC)
    async with app_with() as http:
        signed_in = await http.post("/admin/login", data={"api_key": ADMIN_KEY})
        assert signed_in.status_code == 303
        refused = await http.post("/admin/login", data={"api_key": APP_KEY})
        assert refused.status_code == 401
        response = await http.get(
            "/v1/admin/security/events",
            params={"kind": "admin_sign_in"},
            headers=auth(ADMIN_KEY),
        )
    listed: list[Json] = response.json()
    assert response.status_code == 200 and listed
    assert listed[0]["actor"].startswith("admin:")
    failed = await _events(sessions, "admin_sign_in_failed", since)
    assert len(failed) == 1 and failed[0].actor is not None and failed[0].actor.startswith("app:")
