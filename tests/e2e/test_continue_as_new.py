"""Continue-as-new when Temporal suggests it: the lifecycle carries on, nothing repeats,
nothing waits on the way, and a customer keeps its terms whatever today's config says."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from activities.policy import Terms
from core.config import ConfigError, EngineConfig, load_config
from core.temporal import DATA_CONVERTER
from db.engine import SessionFactory
from domain.lifecycle import BillingInterval
from tests.factories.apps import api_client
from tests.factories.customers import unique_email
from tests.factories.histories import record_history
from tests.factories.policies import make_policy
from tests.factories.polling import eventually
from tests.factories.records import ledger, outbox
from tests.factories.settings import auth, make_settings, write_config
from tests.factories.tools import tool
from tests.factories.workers import make_worker
from tests.factories.workflows import start_customer
from workflows import search_attributes
from workflows.customer import CustomerWorkflow
from workflows.messages import (
    ChangeSubscription,
    CommandResult,
    PurchaseAddon,
    workflow_id_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
ACTOR = "app:test"


@pytest.fixture(scope="module")
async def eager_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of its own that suggests continue-as-new after a handful of events."""
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(tool("temporal")),
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=[
            "--dynamic-config-value",
            "limit.historyCount.suggestContinueAsNew=8",
        ],
        dev_server_startup_timeout=timedelta(seconds=90),
    )
    yield env
    await env.shutdown()


async def test_trial_spans_several_runs_without_losing_or_repeating(
    eager_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    task_queue: str,
    tmp_path: Path,
) -> None:
    trial = {"length": "8s", "reminders": ["6s", "4s", "2s"], "winback": ["2s"]}
    config_path = write_config(tmp_path, trial=trial)
    settings = make_settings(
        database_url=database_url, task_queue=task_queue, config_path=config_path
    )
    worker = make_worker(
        eager_env.client,
        task_queue=task_queue,
        sessions=sessions,
        config=load_config(config_path),
    )
    async with worker, api_client(settings, eager_env.client) as http:
        created = await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email()},
            headers=auth(),
        )
        customer_id = created.json()["id"]
        rows = await eventually(
            lambda: outbox(sessions, customer_id), lambda r: len(r) == 6, timeout=60
        )
        handle = eager_env.client.get_workflow_handle(workflow_id_for(customer_id))
        snapshot = await handle.query(CustomerWorkflow.snapshot)

        runs = [wf async for wf in eager_env.client.list_workflows(f'WorkflowId = "{handle.id}"')]

    assert [r.template for r in rows] == [
        "welcome",
        "trial_reminder",
        "trial_reminder",
        "trial_reminder",
        "trial_expired",
        "trial_winback",
    ]
    assert snapshot.state.status == "trial_expired"
    assert len(runs) > 1, "the workflow never continued as new"
    assert sum(r.status == WorkflowExecutionStatus.CONTINUED_AS_NEW for r in runs) == len(runs) - 1
    ordered = sorted(runs, key=lambda r: r.start_time)
    for name, run in (("first", ordered[0]), ("last", ordered[-1])):
        run_handle = eager_env.client.get_workflow_handle(handle.id, run_id=run.run_id)
        await record_history(run_handle, f"continue_as_new_{name}_run")


# -- failures at continue-as-new ------------------------------------------------------------


async def _runs(env: WorkflowEnvironment, handle: WorkflowHandle) -> int:
    return len([wf async for wf in env.client.list_workflows(f'WorkflowId = "{handle.id}"')])


async def _run_id(handle: WorkflowHandle) -> str:
    """The current run (``describe`` reads it directly, unlike the visibility list)."""
    return (await handle.describe()).run_id


async def _convert(handle: WorkflowHandle, plan: str = "pro") -> CommandResult:
    command = ChangeSubscription(
        plan=plan, interval=BillingInterval.MONTH, actor=ACTOR, payment_method="pm_card_visa"
    )
    return await handle.execute_update("change_subscription", command, result_type=CommandResult)


async def test_an_update_accepted_while_continuing_as_new_is_not_lost(
    eager_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    """Before: the run drained its handlers, then awaited an activity (today's terms) and
    continued as new; an add-on bought in that window was charged, and the new run never
    knew it (the caller got an error)."""
    asked, answer, armed = asyncio.Event(), asyncio.Event(), asyncio.Event()
    terms = Terms(policy=engine_config.policy, catalog=engine_config.catalog)

    async def slow_terms() -> Terms:
        if armed.is_set():
            asked.set()
            await answer.wait()
        return terms

    worker = make_worker(
        eager_env.client,
        task_queue=task_queue,
        sessions=sessions,
        config=engine_config,
        load_terms=slow_terms,
    )
    async with worker:
        started = await start_customer(eager_env, sessions, engine_config, task_queue)
        handle = eager_env.client.get_workflow_handle(started.handle.id)
        await eventually(lambda: _runs(eager_env, handle), lambda n: n >= 2, timeout=60)
        armed.set()
        await _convert(handle)
        # The run continues as new now; today's code may read the config on the way.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asked.wait(), timeout=5)
        update = await handle.start_update(
            CustomerWorkflow.purchase_addon,
            PurchaseAddon(addon="extra_chatbot", quantity=1, actor=ACTOR),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        answer.set()
        result: Any = await asyncio.wait_for(update.result(), timeout=60)
        assert result.state.addons == {"extra_chatbot": 1}
        snapshot = await eventually(
            started.snapshot, lambda s: s.state.addons == {"extra_chatbot": 1}, timeout=30
        )
    assert snapshot.state.mrr_cents == 9900 + 500
    kinds = [e.kind for e in await ledger(sessions, started.customer.id)]
    assert kinds.count("addon_purchased") == 1
    await record_history(handle, "update_while_continuing_as_new")


async def test_a_retried_request_after_continue_as_new_charges_once(
    eager_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    """Before: the Idempotency-Key was only the Update id, which Temporal remembers within
    one run; the same request after continue-as-new bought a second pack."""
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    worker = make_worker(
        eager_env.client, task_queue=task_queue, sessions=sessions, config=engine_config
    )
    async with worker, api_client(settings, eager_env.client) as http:
        created = await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": unique_email()},
            headers=auth(),
        )
        cid = created.json()["id"]
        converted = await http.post(
            f"/v1/customers/{cid}/subscription",
            json={"plan": "starter", "interval": "month", "payment_method": "pm_card_visa"},
            headers=auth(),
        )
        assert converted.status_code == 200, converted.text
        handle = eager_env.client.get_workflow_handle(workflow_id_for(cid))

        async def buy(quantity: int = 1) -> httpx.Response:
            return await http.post(
                f"/v1/customers/{cid}/addons",
                json={"addon": "message_pack", "quantity": quantity},
                headers={**auth(), "Idempotency-Key": "buy-a-pack-7f3a"},
            )

        before = await _run_id(handle)
        first = await buy()
        assert first.status_code == 200, first.text
        await eventually(lambda: _run_id(handle), lambda run: run != before, timeout=60)
        again = await buy()
        assert again.status_code == 200, again.text
        assert again.json()["addons"] == first.json()["addons"]
        other = await buy(quantity=2)
        assert other.status_code == 422, other.text
        assert other.json()["type"].endswith("idempotency-key-reused")
        invoices = (await http.get(f"/v1/customers/{cid}/invoices", headers=auth())).json()
    packs = [i for i in invoices["data"] if i["billing_reason"] == "manual"]
    assert len(packs) == 1
    kinds = [e.kind for e in await ledger(sessions, cid)]
    assert kinds.count("addon_purchased") == 1


async def test_a_customer_keeps_its_terms_when_a_plan_leaves_the_config(
    eager_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    """Before: each run took today's config at continue-as-new; with the customer's plan
    gone from it, the next plan change raised KeyError in the workflow task forever."""
    catalog = engine_config.catalog
    plans = {k: v for k, v in catalog.plans.items() if k != "pro"}
    today = Terms(policy=engine_config.policy, catalog=replace(catalog, plans=plans))

    async def todays_terms() -> Terms:
        return today

    worker = make_worker(
        eager_env.client,
        task_queue=task_queue,
        sessions=sessions,
        config=engine_config,
        load_terms=todays_terms,
    )
    async with worker:
        started = await start_customer(eager_env, sessions, engine_config, task_queue)
        handle = eager_env.client.get_workflow_handle(started.handle.id)
        before = await _run_id(handle)
        await _convert(handle, "pro")
        await eventually(lambda: _run_id(handle), lambda run: run != before, timeout=60)
        downgrade = ChangeSubscription(
            plan="starter", interval=BillingInterval.MONTH, actor=ACTOR, when="now"
        )
        changed = await asyncio.wait_for(
            handle.execute_update("change_subscription", downgrade, result_type=CommandResult),
            timeout=60,
        )
    assert (changed.state.plan, changed.state.mrr_cents) == ("starter", 2900)
    last = (await ledger(sessions, started.customer.id))[-1]
    assert (last.kind, last.mrr_delta_cents, last.data["change"]) == (
        "plan_changed",
        -7000,
        "downgrade",
    )


async def test_a_broken_config_file_stalls_no_timer(
    eager_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    """Before: every continue-as-new read today's config file first; a broken file made
    that read fail (retried forever) and no reminder, expiry or win-back came."""

    async def broken() -> Terms:
        raise ConfigError("lifecycle.toml: trial.length: not a duration")

    policy = make_policy(engine_config, length="8s", reminders=["6s", "4s", "2s"], winback=["2s"])
    worker = make_worker(
        eager_env.client,
        task_queue=task_queue,
        sessions=sessions,
        config=engine_config,
        policy=policy,
        load_terms=broken,
    )
    async with worker:
        started = await start_customer(
            eager_env, sessions, engine_config, task_queue, policy=policy
        )
        rows = await eventually(
            lambda: outbox(sessions, started.customer.id), lambda r: len(r) == 6, timeout=60
        )
        runs = await _runs(eager_env, started.handle)
    assert [r.template for r in rows][-2:] == ["trial_expired", "trial_winback"]
    assert runs > 1
