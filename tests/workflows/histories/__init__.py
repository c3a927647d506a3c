"""Saved workflow histories replayed against the current code to catch non-determinism.

Re-record after an intentional, not-yet-released change of a workflow's command sequence:
``LIFECYCLE_RECORD_HISTORIES=1 make pytest``. Once a version is deployed, change the
workflow with ``workflow.patched`` instead and keep the old history.
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import WorkflowHandle

HISTORIES = Path(__file__).parent


async def record_history(handle: WorkflowHandle, name: str) -> None:
    if os.environ.get("LIFECYCLE_RECORD_HISTORIES"):
        history = await handle.fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())
