"""The money-movement freeze pauses a timed charge without losing it (issue 16 part 7): a
dunning retry of a failed renewal comes due while money is frozen, waits (the step stalls,
the provider is not called), and charges exactly once after the freeze is lifted. No
workflow code changes: the worker's gateway refuses retryably (activities/money_freeze.py)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from adapters.payments.simulator.models import SimCharge
from core.config import EngineConfig
from db.engine import SessionFactory
from services.freeze import set_freeze
from tests.factories.policies import make_policy
from tests.factories.polling import eventually
from tests.factories.records import ledger
from tests.workflows.test_dunning import RETRIES, _dunning, _sleep_until


async def _charges(sessions: SessionFactory, invoice_id: str) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(SimCharge)
            .where(SimCharge.invoice_id == invoice_id, SimCharge.status == "succeeded")
        )
    return int(count or 0)


async def test_a_frozen_renewal_charges_once_after_the_freeze_is_lifted(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    policy = make_policy(engine_config)
    async for dunning in _dunning(time_skipping_env, sessions, engine_config, task_queue, policy):
        invoice = await dunning.fail_next_renewal()
        state = (await dunning.started.snapshot()).state
        assert state.dunning is not None
        # The card would pay now: only the freeze stands between the retry and the money.
        await dunning.fix_card_quietly()
        await set_freeze(sessions, active=True, reason="incident drill", actor="test")
        try:
            await _sleep_until(time_skipping_env, state.dunning.started_at, RETRIES[0])
            snapshot = await eventually(
                dunning.started.snapshot, lambda s: bool(s.state.stalled), timeout=120
            )
            assert snapshot.state.status == "past_due"
            assert await _charges(sessions, invoice.id) == 0
            kinds = [r.kind for r in await ledger(sessions, dunning.customer_id)]
            assert "automation_failed" in kinds and "payment_recovered" not in kinds
            # Frozen for hours: it keeps waiting, and still charges nothing.
            await time_skipping_env.sleep(timedelta(hours=3))
            assert (await dunning.started.snapshot()).state.status == "past_due"
            assert await _charges(sessions, invoice.id) == 0
        finally:
            await set_freeze(sessions, active=False, reason="drill over", actor="test")
        await time_skipping_env.sleep(timedelta(hours=1, minutes=1))
        snapshot = await eventually(
            dunning.started.snapshot, lambda s: s.state.status == "active", timeout=120
        )
        assert snapshot.state.dunning is None and not snapshot.state.stalled
        assert await _charges(sessions, invoice.id) == 1
        rows = await ledger(sessions, dunning.customer_id)
        assert [r.kind for r in rows].count("payment_recovered") == 1
        assert "automation_recovered" in [r.kind for r in rows]
        # Nothing more happens later: the charge is not repeated.
        await time_skipping_env.sleep(timedelta(days=8))
        assert await _charges(sessions, invoice.id) == 1
