"""Dunning end to end with the simulator's test clock on a policy of seconds: a declining
card renews, retries run, the customer replaces the card and recovers. Then the same with
the worker process killed in the middle of dunning."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core.config import load_config
from core.settings import Settings
from db.engine import SessionFactory
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.histories import record_customer_history
from tests.factories.polling import eventually
from tests.factories.processes import worker_process
from tests.factories.records import ledger, outbox
from tests.factories.settings import ADMIN_KEY, auth, make_settings, write_config
from tests.factories.workers import make_worker

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


async def _ok(response: httpx.Response) -> dict:
    assert response.status_code in (200, 201), response.text
    body: dict = response.json()
    return body


async def _active_customer(http: httpx.AsyncClient) -> str:
    created = await _ok(
        await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email()},
            headers=auth(),
        )
    )
    cid = str(created["id"])
    await _ok(
        await http.post(
            f"/v1/customers/{cid}/subscription",
            json={"plan": "pro", "interval": "month", "payment_method": "pm_card_visa"},
            headers=auth(),
        )
    )
    return cid


async def _renew_with_a_failing_card(http: httpx.AsyncClient, cid: str) -> None:
    await _ok(
        await http.put(
            f"/v1/customers/{cid}/payment-method",
            json={"payment_method": "pm_card_chargeCustomerFail"},
            headers=auth(),
        )
    )
    advanced = await _ok(
        await http.post(
            "/v1/admin/test-clock/advance",
            json={"customer_id": cid, "to": "period_end"},
            headers=auth(ADMIN_KEY),
        )
    )
    assert "invoice.payment_failed" in advanced["events"]


def _worker_process_setup(
    database_url: str, env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> tuple[Settings, dict[str, str]]:
    """A seconds dunning policy, for the API in this process and a worker process of its own."""
    config_path = write_config(tmp_path, dunning={"retries": ["2s", "4s", "6s"]})
    settings = make_settings(
        database_url=database_url, task_queue=task_queue, config_path=config_path
    )
    return settings, {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "LIFECYCLE_CONFIG": str(config_path),
    }


async def test_declining_renewal_dunning_new_card_recovers(
    database_url: str,
    sessions: SessionFactory,
    dev_server_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
) -> None:
    config_path = write_config(tmp_path, dunning={"retries": ["2s", "4s", "30s"]})
    settings = make_settings(
        database_url=database_url, task_queue=task_queue, config_path=config_path
    )
    worker = make_worker(
        dev_server_env.client,
        task_queue=task_queue,
        sessions=sessions,
        config=load_config(config_path),
    )
    async with worker, api_client(settings, dev_server_env.client) as http:
        cid = await _active_customer(http)
        await _renew_with_a_failing_card(http, cid)

        async def view() -> dict:
            return await _ok(await http.get(f"/v1/customers/{cid}", headers=auth()))

        assert (await eventually(view, lambda v: v["status"] == "past_due"))["plan"] == "pro"
        # Two retries on the seconds schedule fail with the same card.
        await eventually(
            lambda: outbox(sessions, cid),
            lambda rows: [r.template for r in rows].count("payment_failed") == 3,
            timeout=30,
        )

        async def unread() -> dict:
            return await _ok(
                await http.get(
                    f"/v1/customers/{cid}/notifications", params={"unread": "true"}, headers=auth()
                )
            )

        # The notification follows its email; wait for the third one too.
        notes = await eventually(unread, lambda n: len(n["data"]) == 3)
        assert [n["kind"] for n in notes["data"]] == ["payment_failed"] * 3
        assert notes["data"][0]["cta_url"].endswith("/billing/payment-method")
        read = await _ok(
            await http.post(
                f"/v1/customers/{cid}/notifications/{notes['data'][0]['id']}/read",
                headers=auth(),
            )
        )
        assert read["read_at"] is not None

        # The customer replaces the card: the engine retries at once and recovers.
        await _ok(
            await http.put(
                f"/v1/customers/{cid}/payment-method",
                json={"payment_method": "pm_card_visa"},
                headers=auth(),
            )
        )
        recovered = await eventually(view, lambda v: v["status"] == "active")
        assert recovered["plan"] == "pro"
        invoices = await _ok(await http.get(f"/v1/customers/{cid}/invoices", headers=auth()))
        assert invoices["data"][0]["status"] == "paid"
        # The recovery's email and notification follow the status change.
        after = await eventually(unread, lambda n: n["data"][0]["kind"] == "payment_recovered")
        await eventually(
            lambda: outbox(sessions, cid), lambda rows: rows[-1].template == "payment_recovered"
        )
    assert [n["kind"] for n in after["data"]] == ["payment_recovered"] + ["payment_failed"] * 2
    templates = [r.template for r in await outbox(sessions, cid)]
    assert templates[-1] == "payment_recovered"
    assert templates.count("payment_failed") == 3
    kinds = [e.kind for e in await ledger(sessions, cid)]
    assert kinds[-1] == "payment_recovered"
    await record_customer_history(dev_server_env.client, cid, "e2e_dunning_retries_then_new_card")


async def test_worker_killed_mid_dunning_loses_and_repeats_nothing(
    database_url: str,
    sessions: SessionFactory,
    dev_server_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
) -> None:
    settings, env = _worker_process_setup(database_url, dev_server_env, task_queue, tmp_path)
    log = tmp_path / "worker.log"
    async with api_client(settings, dev_server_env.client) as http:
        with worker_process(env, log) as first:
            cid = await _active_customer(http)
            await _renew_with_a_failing_card(http, cid)
            # Kill it as soon as the first retry's failure email exists.
            await eventually(
                lambda: outbox(sessions, cid),
                lambda rows: [r.template for r in rows].count("payment_failed") >= 2,
                timeout=60,
                interval=0.02,
            )
            first.send_signal(signal.SIGKILL)
            first.wait()
        # The other two retries come due while no worker runs: they collapse into one
        # catch-up attempt (not two back to back), then the final action.
        await asyncio.sleep(8)
        with worker_process(env, log):
            rows = await eventually(
                lambda: outbox(sessions, cid),
                lambda r: r[-1].template == "subscription_canceled" and r[-1].status == "sent",
                timeout=150,
            )
    templates = [r.template for r in rows]
    context = (
        [(r.idempotency_key, r.created_at.isoformat()) for r in rows],
        [(e.kind, e.occurred_at.isoformat(), e.data) for e in await ledger(sessions, cid)],
        log.read_text()[-3000:],
    )
    failed = templates.count("payment_failed")
    # The renewal, the first retry, and one catch-up for the two missed (none if the
    # first retry itself ran after the last one was due, on a very busy machine).
    assert failed in (2, 3), context
    assert templates == [
        "welcome",
        "trial_converted",
        *["payment_failed"] * failed,
        "subscription_canceled",
    ], context
    assert len({r.idempotency_key for r in rows}) == len(rows), context
    kinds = [e.kind for e in await ledger(sessions, cid)]
    assert kinds.count("payment_retry_failed") == failed - 1
    assert kinds[-1] == "subscription_canceled"
    deliveries = [
        line.split(" email ", 1)[1].split()[0]
        for line in log.read_text().splitlines()
        if f"to customer {cid}" in line
    ]
    # Sent by the worker processes (sign-up and conversion went through them too). The
    # outbox commit is the delivery and the log line announces it after: the kill can land
    # between the two and take one line, never an email, and nothing is announced twice.
    announced = iter(templates)
    assert all(template in announced for template in deliveries), (deliveries, templates)
    assert len(templates) - len(deliveries) <= 1, (deliveries, templates)


async def test_a_new_card_during_a_stall_of_overdue_retries_wins(
    database_url: str,
    sessions: SessionFactory,
    dev_server_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
) -> None:
    """The worker is down while every retry falls due; the customer sends a new card. On the
    restart the card is applied before the final action, and the customer recovers.

    Before: the main loop ran every overdue retry back to back under one hold of the lock,
    and the last one canceled the subscription while the card update waited (~80 s), which
    then answered 200 with status canceled."""
    settings, env = _worker_process_setup(database_url, dev_server_env, task_queue, tmp_path)
    log = tmp_path / "worker.log"
    async with api_client(settings, dev_server_env.client) as http:
        with worker_process(env, log) as first:
            cid = await _active_customer(http)
            await _renew_with_a_failing_card(http, cid)
            await eventually(
                lambda: outbox(sessions, cid),
                lambda rows: [r.template for r in rows].count("payment_failed") >= 1,
                timeout=60,
                interval=0.02,
            )
            first.send_signal(signal.SIGKILL)
            first.wait()
        await asyncio.sleep(8)  # every retry, and the final action, are overdue now
        update = asyncio.create_task(
            http.put(
                f"/v1/customers/{cid}/payment-method",
                json={"payment_method": "pm_card_visa"},
                headers=auth(),
                timeout=120,
            )
        )
        await asyncio.sleep(0.5)
        with worker_process(env, log):
            started = asyncio.get_running_loop().time()
            response = await update
            waited = asyncio.get_running_loop().time() - started
            assert response.status_code == 200, response.text
            view = await eventually(
                lambda: _ok_view(http, cid), lambda v: v["status"] == "active", timeout=60
            )
            await asyncio.sleep(3)  # nothing overdue may still cancel it
            view = await _ok_view(http, cid)
    assert view["status"] == "active", view
    # Applied as soon as a worker ran (the restart and a catch-up attempt at most).
    assert waited < 30, waited
    kinds = [e.kind for e in await ledger(sessions, cid)]
    assert "subscription_canceled" not in kinds
    assert kinds[-1] == "payment_recovered", kinds
    assert kinds.count("payment_retry_failed") <= 1, kinds


async def _ok_view(http: httpx.AsyncClient, cid: str) -> dict:
    return await _ok(await http.get(f"/v1/customers/{cid}", headers=auth()))
