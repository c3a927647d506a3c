"""Maker-checker over HTTP (real API and worker on the dev server, the simulator as the
provider), with ``[approvals]`` turned on for every action and two admin keys.

Each control is tried from the side that would get around it: the requesting key approving
its own request (403, and it stays pending), a rejected request approved afterwards (409,
never ran), an approved one approved again (409, ran once), a request without a reason,
an invalid one (refused before any request is stored). Below the thresholds the action runs
directly, as before."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from api.auth import Principal, Scope, key_fingerprint
from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import ApprovalRequest, Customer, LimitOverride
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.polling import eventually
from tests.factories.records import ledger
from tests.factories.responses import assert_problem, fields, ok
from tests.factories.settings import ADMIN_KEY, APP_KEY, auth, make_settings, write_config
from tests.factories.workers import make_worker

pytestmark = pytest.mark.timeout(240)

CHECKER_KEY = "test-admin-key-checker"
MAKER = Principal(scope=Scope.ADMIN, key_id=key_fingerprint(ADMIN_KEY)).actor
CHECKER = Principal(scope=Scope.ADMIN, key_id=key_fingerprint(CHECKER_KEY)).actor
Json = dict[str, Any]


@pytest.fixture
async def http(
    tmp_path: Path,
    dev_server_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> AsyncIterator[httpx.AsyncClient]:
    config = write_config(
        tmp_path,
        approvals={
            "erasure": True,
            "limit_overrides_above_plan": True,
            "trial_extensions_beyond_days": 7,
            "coupon_grants": True,
        },
    )
    settings = make_settings(
        database_url=database_url,
        task_queue=task_queue,
        config_path=config,
        stripe_api_key=None,
        lifecycle_admin_api_keys=f"{ADMIN_KEY},{CHECKER_KEY}",
    )
    async with (
        make_worker(
            dev_server_env.client, task_queue=task_queue, sessions=sessions, config=engine_config
        ),
        api_client(settings, dev_server_env.client) as client,
    ):
        yield client


async def _sign_up(http: httpx.AsyncClient, sessions: SessionFactory) -> Json:
    customer = ok(
        await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email("approvals")},
            headers=auth(),
        ),
        201,
    )
    await eventually(lambda: ledger(sessions, customer["id"]), lambda rows: len(rows) == 1)
    return customer


async def _row(sessions: SessionFactory, customer_id: str) -> Customer:
    async with sessions() as session:
        row = await session.get(Customer, customer_id)
    assert row is not None
    return row


async def _approval_kinds(sessions: SessionFactory, customer_id: str) -> list[tuple[str, str]]:
    return [
        (row.kind, row.actor)
        for row in await ledger(sessions, customer_id)
        if row.kind.startswith("approval_")
    ]


async def test_erasure_waits_for_a_second_admin_who_is_not_the_requester(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer = await _sign_up(http, sessions)
    cid = customer["id"]
    url = f"/v1/admin/customers/{cid}"

    missing_reason = assert_problem(await http.delete(url, headers=auth(ADMIN_KEY)), 422)
    assert fields(missing_reason) == ["reason"]

    asked = await http.delete(url, params={"reason": "GDPR request #88"}, headers=auth(ADMIN_KEY))
    request = ok(asked, 202)
    assert asked.headers["location"] == f"/v1/admin/approvals/{request['id']}"
    assert (request["action"], request["status"], request["requested_by"]) == (
        "erasure",
        "pending",
        MAKER,
    )
    assert (await _row(sessions, cid)).email == customer["email"], "nothing erased yet"

    pending = ok(
        await http.get(
            "/v1/admin/approvals", params={"status": "pending"}, headers=auth(CHECKER_KEY)
        )
    )
    assert request["id"] in [a["id"] for a in pending["data"]]

    # The maker approving (or rejecting) their own request.
    approve = f"/v1/admin/approvals/{request['id']}/approve"
    assert_problem(await http.post(approve, headers=auth(ADMIN_KEY)), 403, "forbidden")
    reject = f"/v1/admin/approvals/{request['id']}/reject"
    assert_problem(await http.post(reject, headers=auth(ADMIN_KEY)), 403, "forbidden")
    # An app key is no admin at all.
    assert_problem(await http.post(approve, headers=auth(APP_KEY)), 403)
    still = ok(await http.get(f"/v1/admin/approvals/{request['id']}", headers=auth(ADMIN_KEY)))
    assert still["status"] == "pending"
    assert (await _row(sessions, cid)).email == customer["email"]

    done = ok(await http.post(approve, json={"note": "checked"}, headers=auth(CHECKER_KEY)))
    assert (done["status"], done["decided_by"], done["decision_note"]) == (
        "executed",
        CHECKER,
        "checked",
    )
    assert done["result"] == {"customer_id": cid, "erased": True, "already_erased": False}
    assert (await _row(sessions, cid)).email is None

    again = assert_problem(await http.post(approve, headers=auth(CHECKER_KEY)), 409, "conflict")
    assert again["request_status"] == "executed"
    kinds = await _approval_kinds(sessions, cid)
    assert kinds == [
        ("approval_requested", MAKER),
        ("approval_approved", CHECKER),
        ("approval_executed", CHECKER),
    ]
    erasures = [r for r in await ledger(sessions, cid) if r.kind == "customer_erased"]
    assert len(erasures) == 1, "ran once"


async def test_a_rejected_trial_extension_never_runs(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer = await _sign_up(http, sessions)
    cid = customer["id"]
    url = f"/v1/admin/customers/{cid}/trial-extension"
    trial_end = datetime.fromisoformat(customer["trial_ends_at"])

    # Up to the threshold: runs at once, as without approvals.
    direct = ok(await http.post(url, json={"days": 7, "reason": "small"}, headers=auth(ADMIN_KEY)))
    extended_end = datetime.fromisoformat(direct["trial_ends_at"])
    assert extended_end > trial_end

    request = ok(
        await http.post(url, json={"days": 30, "reason": "big deal"}, headers=auth(ADMIN_KEY)),
        202,
    )
    assert request["parameters"] == {"days": 30, "reason": "big deal"}
    rejected = ok(
        await http.post(
            f"/v1/admin/approvals/{request['id']}/reject",
            json={"note": "too long"},
            headers=auth(CHECKER_KEY),
        )
    )
    assert (rejected["status"], rejected["result"], rejected["executed_at"]) == (
        "rejected",
        None,
        None,
    )
    late = await http.post(
        f"/v1/admin/approvals/{request['id']}/approve", headers=auth(CHECKER_KEY)
    )
    assert assert_problem(late, 409)["request_status"] == "rejected"
    assert (await _row(sessions, cid)).trial_ends_at == extended_end
    extensions = [r for r in await ledger(sessions, cid) if r.kind == "trial_extended"]
    assert len(extensions) == 1, "only the direct one"
    assert await _approval_kinds(sessions, cid) == [
        ("approval_requested", MAKER),
        ("approval_rejected", CHECKER),
    ]


async def test_a_limit_override_above_the_plan_runs_once_when_approved(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer = await _sign_up(http, sessions)
    cid = customer["id"]
    url = f"/v1/admin/customers/{cid}/limits"

    async def stored_requests() -> int:
        async with sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(ApprovalRequest)
                .where(ApprovalRequest.customer_id == cid)
            )
        return int(count or 0)

    # Invalid: refused before anything is stored or asked.
    invalid = await http.put(
        url, json={"bogus": 5}, params={"reason": "x"}, headers=auth(ADMIN_KEY)
    )
    assert fields(assert_problem(invalid, 422)) == ["bogus"]
    # Lowering the plan's limit is no grant: it runs at once.
    lowered = ok(await http.put(url, json={"chatbots": 1}, headers=auth(ADMIN_KEY)))
    assert lowered["overrides"] == {"chatbots": 1}
    # Unlimited is above any plan; without a reason it is refused naming it.
    missing = await http.put(url, json={"messages": None}, headers=auth(ADMIN_KEY))
    assert fields(assert_problem(missing, 422)) == ["reason"]
    assert await stored_requests() == 0

    request = ok(
        await http.put(
            url, json={"messages": None}, params={"reason": "contract"}, headers=auth(ADMIN_KEY)
        ),
        202,
    )
    assert request["parameters"] == {"limits": {"messages": None}}
    async with sessions() as session:
        assert await session.get(LimitOverride, (cid, "messages")) is None

    approve = f"/v1/admin/approvals/{request['id']}/approve"
    done = ok(await http.post(approve, headers=auth(CHECKER_KEY)))
    assert done["status"] == "executed"
    assert done["result"]["overrides"] == {"chatbots": 1, "messages": None}
    async with sessions() as session:
        override = await session.get(LimitOverride, (cid, "messages"))
    assert override is not None and override.value is None
    assert override.actor == MAKER, "the action runs as the requester's, approved by another"
    assert_problem(await http.post(approve, headers=auth(CHECKER_KEY)), 409)
    assert await stored_requests() == 1


async def test_an_approved_action_the_customer_no_longer_allows_fails_and_is_recorded(
    http: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    customer = await _sign_up(http, sessions)
    cid = customer["id"]
    request = ok(
        await http.post(
            f"/v1/admin/customers/{cid}/trial-extension",
            json={"days": 30, "reason": "big deal"},
            headers=auth(ADMIN_KEY),
        ),
        202,
    )
    # Meanwhile the customer converts: a trial extension is refused from now on.
    ok(
        await http.post(
            f"/v1/customers/{cid}/subscription",
            json={"plan": "starter", "payment_method": "pm_card_visa"},
            headers=auth(),
        )
    )
    failed = ok(
        await http.post(f"/v1/admin/approvals/{request['id']}/approve", headers=auth(CHECKER_KEY))
    )
    assert failed["status"] == "failed" and "active" in failed["error"]
    assert failed["result"] is None
    rows = await ledger(sessions, cid)
    assert "trial_extended" not in [r.kind for r in rows]
    assert [k for k, _ in await _approval_kinds(sessions, cid)] == [
        "approval_requested",
        "approval_approved",
        "approval_failed",
    ]
    # Failed is final: it is not run again.
    again = await http.post(
        f"/v1/admin/approvals/{request['id']}/approve", headers=auth(CHECKER_KEY)
    )
    assert assert_problem(again, 409)["request_status"] == "failed"


async def test_a_campaigns_coupon_goes_out_only_once_a_second_admin_approves(
    http: httpx.AsyncClient,
) -> None:
    created = ok(
        await http.post(
            "/v1/admin/campaigns",
            json={
                "segment": "expired-trials",
                "coupon": "SAVE30",
                "headline": f"30% off {uuid.uuid4().hex[:6]}",
            },
            headers=auth(ADMIN_KEY),
        ),
        201,
    )
    url = f"/v1/admin/campaigns/{created['id']}"
    # A dry run grants nothing: it never waits.
    dry = ok(await http.post(f"{url}/send", json={"dry_run": True}, headers=auth(ADMIN_KEY)))
    assert dry["dry_run"] is True
    missing = assert_problem(await http.post(f"{url}/send", headers=auth(ADMIN_KEY)), 422)
    assert fields(missing) == ["reason"]

    asked = await http.post(
        f"{url}/send", params={"reason": "win-back push"}, headers=auth(ADMIN_KEY)
    )
    request = ok(asked, 202)
    assert (request["action"], request["status"], request["customer_id"]) == (
        "coupon_grant",
        "pending",
        None,
    )
    assert asked.headers["location"] == f"/v1/admin/approvals/{request['id']}"
    assert ok(await http.get(url, headers=auth(ADMIN_KEY)))["campaign"]["status"] == "draft"

    approve = f"/v1/admin/approvals/{request['id']}/approve"
    assert_problem(await http.post(approve, headers=auth(ADMIN_KEY)), 403)
    assert ok(await http.get(url, headers=auth(ADMIN_KEY)))["campaign"]["status"] == "draft"

    done = ok(await http.post(approve, headers=auth(CHECKER_KEY)))
    assert done["status"] == "executed", done
    assert done["result"]["campaign"]["id"] == created["id"]
    assert ok(await http.get(url, headers=auth(ADMIN_KEY)))["campaign"]["status"] in (
        "sending",
        "sent",
    )
    assert_problem(await http.post(approve, headers=auth(CHECKER_KEY)), 409)
