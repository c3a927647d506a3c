"""Every saved history still replays on today's workflow code."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from lifecycle.temporal import DATA_CONVERTER
from tests.workflows.histories import saved_histories
from workflows.customer import CustomerWorkflow

SAVED = saved_histories()


def test_histories_are_saved() -> None:
    assert SAVED, "no saved histories; record them with LIFECYCLE_RECORD_HISTORIES=<generation>"


@pytest.mark.parametrize("path", SAVED, ids=[f"{p.parent.name}/{p.stem}" for p in SAVED])
async def test_saved_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"customer-{path.stem}", path.read_text())
    replayer = Replayer(workflows=[CustomerWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
