"""A campaign's send through the customers' workflows, on a Temporal dev server with the real
worker: a preview and a dry run send nothing; a send reaches each customer once, also when
it is started twice and when its batch is retried after offers went out but before they
were marked (the Temporal retry of a failed attempt, and a direct repeat)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.campaigns import CampaignActivities, CampaignBatch, CampaignOffer, CampaignStep
from core.config import EngineConfig
from core.temporal import DATA_CONVERTER
from db.engine import SessionFactory
from db.models import CampaignRecipient, LedgerEvent
from domain.growth.segments import Segment, SegmentRules
from services import campaigns
from services.campaigns import offer_sender
from tests.factories.databases import Database
from tests.factories.histories import CAMPAIGN_HISTORIES, record_history
from tests.factories.polling import eventually
from tests.factories.records import ledger, outbox
from tests.factories.workers import make_worker
from tests.factories.workflows import Started, start_customer
from workers.tuning import STRICT_RUNNER
from workflows.campaign import CampaignRun, CampaignWorkflow, campaign_workflow_id

TRIALS = Segment("trials", "Trials", "Everyone in a trial", SegmentRules(statuses=("trialing",)))


@pytest.fixture
def config(engine_config: EngineConfig) -> EngineConfig:
    return dataclasses.replace(engine_config, segments=(TRIALS,))


@pytest.fixture
async def customers(
    dev_server_env: WorkflowEnvironment,
    own_database: Database,
    config: EngineConfig,
    task_queue: str,
) -> AsyncIterator[list[Started]]:
    sessions = own_database.sessions
    async with make_worker(
        dev_server_env.client, task_queue=task_queue, sessions=sessions, config=config
    ):
        started = [
            await start_customer(dev_server_env, sessions, config, task_queue) for _ in range(3)
        ]
        for customer in started:
            # The welcome email: the workflow is up.
            await _once(sessions, customer.customer.id, _emails)
        yield started


async def _offers_sent(sessions: SessionFactory, customer_id: str) -> int:
    return sum(1 for row in await ledger(sessions, customer_id) if row.kind == "offer_sent")


async def _offer_emails(sessions: SessionFactory, customer_id: str) -> int:
    return sum(1 for e in await outbox(sessions, customer_id) if e.template == "offer")


async def _emails(sessions: SessionFactory, customer_id: str) -> int:
    return len(await outbox(sessions, customer_id))


async def _once(
    sessions: SessionFactory,
    customer_id: str,
    count: Callable[[SessionFactory, str], Awaitable[int]],
) -> None:
    """Wait until ``count`` reaches 1 (signals are delivered in the background)."""

    async def probe() -> int:
        return await count(sessions, customer_id)

    await eventually(probe, lambda n: n == 1)


async def _recipients(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(CampaignRecipient)) or 0)


async def _create(sessions: SessionFactory, config: EngineConfig) -> str:
    campaign, created = await campaigns.create_campaign(
        sessions,
        config,
        segment_id="trials",
        coupon="SAVE30",
        headline="30% off your first month",
        expires_at=None,
        conversion_days=30,
        actor="admin:test",
        now=datetime.now(UTC),
    )
    assert created
    return campaign.id


async def test_preview_and_dry_run_send_nothing(
    customers: list[Started],
    own_database: Database,
    config: EngineConfig,
    dev_server_env: WorkflowEnvironment,
) -> None:
    sessions = own_database.sessions
    campaign_id = await _create(sessions, config)
    now = datetime.now(UTC)
    preview = await campaigns.preview(sessions, TRIALS.rules, now)
    assert preview.audience == 3
    assert {m.facts.customer_id for m in preview.sample} == {c.customer.id for c in customers}
    assert all(m.matched == {"status": "trialing"} for m in preview.sample)
    campaign, dry = await campaigns.dry_run(sessions, campaign_id, now)
    assert dry.audience == 3 and campaign.dry_run_audience == 3
    assert campaign.status == "draft" and campaign.audience_selected_at is None
    assert await _recipients(sessions) == 0
    with pytest.raises(RPCError):
        await dev_server_env.client.get_workflow_handle(
            campaign_workflow_id(campaign_id)
        ).describe()
    for customer in customers:
        assert await _offers_sent(sessions, customer.customer.id) == 0
        assert await _offer_emails(sessions, customer.customer.id) == 0


async def test_a_send_started_twice_reaches_each_customer_once(
    customers: list[Started],
    own_database: Database,
    config: EngineConfig,
    dev_server_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    sessions = own_database.sessions
    campaign_id = await _create(sessions, config)
    client = dev_server_env.client
    await campaigns.send_campaign(sessions, client, task_queue, campaign_id, datetime.now(UTC))
    await campaigns.send_campaign(sessions, client, task_queue, campaign_id, datetime.now(UTC))
    handle = client.get_workflow_handle(campaign_workflow_id(campaign_id), result_type=CampaignRun)
    run = await handle.result()
    assert run.audience == 3
    await record_history(handle, "send", corpus=CAMPAIGN_HISTORIES)
    # Sent again after it finished: nothing more goes out.
    await campaigns.send_campaign(sessions, client, task_queue, campaign_id, datetime.now(UTC))
    for customer in customers:
        cid = customer.customer.id
        await _once(sessions, cid, _offer_emails)
        assert await _offers_sent(sessions, cid) == 1
    results = await campaigns.results(sessions, campaign_id)
    assert results.campaign.status == "sent"
    assert (results.outcome.audience, results.outcome.sent, results.pending) == (3, 3, 0)


class _CrashAfterSignalling:
    """Sends the offers, then fails once before the batch is marked (as a worker killed
    between the signals and the commit would)."""

    def __init__(self, client: Client) -> None:
        self._send = offer_sender(client)
        self.calls = 0

    async def __call__(self, customers: Sequence[str], offer: CampaignOffer) -> list[str]:
        self.calls += 1
        reached = await self._send(customers, offer)
        if self.calls == 1:
            raise RuntimeError("worker lost after the signals")
        return reached


async def test_a_batch_retried_after_its_offers_went_out_offers_once(
    customers: list[Started],
    own_database: Database,
    config: EngineConfig,
    dev_server_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    sessions = own_database.sessions
    campaign_id = await _create(sessions, config)
    client = dev_server_env.client
    flaky = _CrashAfterSignalling(client)
    activities = CampaignActivities(sessions, send=flaky)
    # A worker of its own runs the send (the customers' worker runs their workflows).
    queue = f"campaigns-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[CampaignWorkflow],
        activities=[activities.choose_audience, activities.send_batch, activities.finish],
        workflow_runner=STRICT_RUNNER,
    ):
        await campaigns.send_campaign(sessions, client, queue, campaign_id, datetime.now(UTC))
        run = await client.get_workflow_handle(
            campaign_workflow_id(campaign_id), result_type=CampaignRun
        ).result()
    assert flaky.calls == 2 and run.handled == 3
    for customer in customers:
        cid = customer.customer.id
        await _once(sessions, cid, _offer_emails)
        assert await _offers_sent(sessions, cid) == 1
    async with sessions() as session:
        states = list(await session.scalars(select(CampaignRecipient.state)))
        offers = await session.scalar(
            select(func.count()).select_from(LedgerEvent).where(LedgerEvent.kind == "offer_sent")
        )
    assert states == ["signalled"] * 3 and offers == 3


async def test_a_repeated_batch_after_a_partial_one_offers_once(
    customers: list[Started],
    own_database: Database,
    config: EngineConfig,
    dev_server_env: WorkflowEnvironment,
) -> None:
    """The activity itself, attempt by attempt: the first signals only some customers,
    then dies; the repeat finds every recipient still pending and sends to all."""
    sessions = own_database.sessions
    campaign_id = await _create(sessions, config)
    send = offer_sender(dev_server_env.client)

    async def partial(customers: Sequence[str], offer: CampaignOffer) -> list[str]:
        await send(customers[:2], offer)
        raise RuntimeError("crashed halfway through the batch")

    now = datetime.now(UTC)
    step = CampaignStep(campaign_id, now)
    assert await CampaignActivities(sessions, send=partial).choose_audience(step) == 3
    # A repeat of the audience step adds nobody.
    assert await CampaignActivities(sessions, send=partial).choose_audience(step) == 3
    with pytest.raises(RuntimeError):
        await CampaignActivities(sessions, send=partial).send_batch(CampaignBatch(campaign_id, now))
    assert await _recipients(sessions) == 3
    steady = CampaignActivities(sessions, send=send)
    assert await steady.send_batch(CampaignBatch(campaign_id, now, size=2)) == 2
    assert await steady.send_batch(CampaignBatch(campaign_id, now, size=2)) == 1
    assert await steady.send_batch(CampaignBatch(campaign_id, now, size=2)) == 0
    for customer in customers:
        cid = customer.customer.id
        await _once(sessions, cid, _offer_emails)
        await _once(sessions, cid, _offers_sent)


@pytest.mark.parametrize(
    "path",
    sorted(CAMPAIGN_HISTORIES.glob("*/*.json")),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
async def test_saved_send_histories_replay(path: Path) -> None:
    history = WorkflowHistory.from_json(f"campaign-{path.stem}", path.read_text())
    replayer = Replayer(
        workflows=[CampaignWorkflow], data_converter=DATA_CONVERTER, workflow_runner=STRICT_RUNNER
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_a_send_history_is_saved() -> None:
    assert list(CAMPAIGN_HISTORIES.glob("*/*.json")), (
        "record with LIFECYCLE_RECORD_HISTORIES=v1 pytest tests/workflows/test_campaign.py"
    )
