"""Saved workflow histories, replayed against today's code to catch non-determinism.

One folder per generation of the workflow code, named after the release that recorded it
(``v0``: the code before the customer workflow became a package). A generation is never
re-recorded or deleted while a workflow that started on it may still be running: the code
must replay it, with ``workflow.patched`` around every behaviour change.

Record a new generation (the paths the tests walk) with
``LIFECYCLE_RECORD_HISTORIES=<generation> make pytest``.
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import Client, WorkflowHandle

HISTORIES = Path(__file__).parent


def saved_histories() -> list[Path]:
    return sorted(HISTORIES.glob("*/*.json"))


async def record_history(handle: WorkflowHandle, name: str) -> None:
    generation = os.environ.get("LIFECYCLE_RECORD_HISTORIES")
    if generation:
        folder = HISTORIES / generation
        folder.mkdir(exist_ok=True)
        history = await handle.fetch_history()
        (folder / f"{name}.json").write_text(history.to_json())


async def record_customer_history(client: Client, customer_id: str, name: str) -> None:
    """The same, for a customer whose workflow a test reached through the API."""
    await record_history(client.get_workflow_handle(f"customer-{customer_id}"), name)
