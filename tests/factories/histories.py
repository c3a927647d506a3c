"""Workflow histories: the saved replay corpus, recording into it, and a history as text.

The corpus is ``tests/workflows/histories``, replayed against today's code by
``tests/workflows/test_replay.py`` to catch non-determinism. One folder per generation of
the workflow code, named after the release that recorded it (``v0``: the code before the
customer workflow became a package). A generation is never re-recorded or deleted while a
workflow that started on it may still be running: the code must replay it, with
``workflow.patched`` around every behaviour change.

Record a new generation (the paths the tests walk) with
``LIFECYCLE_RECORD_HISTORIES=<generation> make pytest``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle

HISTORIES = Path(__file__).resolve().parents[1] / "workflows" / "histories"
# The campaign send's corpus (a workflow of its own, replayed by test_campaign.py).
CAMPAIGN_HISTORIES = Path(__file__).resolve().parents[1] / "workflows" / "campaign_histories"


def saved_histories() -> list[Path]:
    return sorted(HISTORIES.glob("*/*.json"))


async def record_history(handle: WorkflowHandle, name: str, *, corpus: Path = HISTORIES) -> None:
    generation = os.environ.get("LIFECYCLE_RECORD_HISTORIES")
    if generation:
        folder = corpus / generation
        folder.mkdir(parents=True, exist_ok=True)
        history = await handle.fetch_history()
        (folder / f"{name}.json").write_text(history.to_json())


async def record_customer_history(client: Client, customer_id: str, name: str) -> None:
    """The same, for a customer whose workflow a test reached through the API."""
    await record_history(client.get_workflow_handle(f"customer-{customer_id}"), name)


def _payload_texts(message: Message, into: list[str]) -> None:
    if isinstance(message, Payload):
        into.append(message.data.decode("utf-8", errors="replace"))
        for value in message.metadata.values():
            into.append(value.decode("utf-8", errors="replace"))
        return
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for item in value.values():
                if isinstance(item, Message):
                    _payload_texts(item, into)
        elif isinstance(value, Message):
            _payload_texts(value, into)
        else:  # a repeated message field
            for item in value:
                _payload_texts(item, into)


async def history_text(handle: WorkflowHandle[Any, Any]) -> str:
    """The workflow's whole history as searchable text: its JSON (payload bytes are base64
    there) plus every payload decoded (inputs, results, signals, updates, search
    attributes, failures)."""
    history = await handle.fetch_history()
    decoded: list[str] = []
    for event in history.events:
        _payload_texts(event, decoded)
    return history.to_json() + "\n" + "\n".join(decoded)
