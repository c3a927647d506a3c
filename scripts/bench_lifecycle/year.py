"""One customer's workflow history over a simulated year of monthly renewals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from .common import ADMIN_KEY, APP_KEY, CUSTOMER_WORKFLOW_PREFIX, log
from .http import KeepAliveClient
from .stack import Stack

PLAN = {"plan": "starter", "interval": "month", "payment_method": "pm_card_visa"}


def _at(value: str | None) -> datetime:
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(value)


def payload_sizes(message: Message) -> Iterator[int]:
    """Serialized size of every Payload inside a proto message (memo, search attributes,
    inputs, results, headers, signal and update arguments...)."""
    if isinstance(message, Payload):
        yield message.ByteSize()
        return
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            for item in value.values():
                if isinstance(item, Message):
                    yield from payload_sizes(item)
        elif isinstance(value, Message):
            yield from payload_sizes(value)
        else:
            for item in value:
                yield from payload_sizes(item)


@dataclass
class HistorySize:
    runs: int = 0
    events: int = 0
    json_bytes: int = 0
    proto_bytes: int = 0
    largest_payload: int = 0
    largest_payload_event: str = ""
    event_types: dict[str, int] = field(default_factory=dict)

    def add_event(self, event: HistoryEvent) -> None:
        self.events += 1
        self.proto_bytes += event.ByteSize()
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        self.event_types[name] = self.event_types.get(name, 0) + 1
        for size in payload_sizes(event):
            if size > self.largest_payload:
                self.largest_payload = size
                self.largest_payload_event = name


async def history_size(client: Client, workflow_id: str) -> HistorySize:
    """Every run of the workflow id (continue-as-new makes several)."""
    current = await client.get_workflow_handle(workflow_id).describe()
    run_ids: list[str] = []
    for _ in range(50):
        run_ids = [
            execution.run_id
            async for execution in client.list_workflows(f'WorkflowId = "{workflow_id}"')
        ]
        if current.run_id in run_ids:
            break
        await asyncio.sleep(0.2)  # visibility lags a little behind
    else:
        run_ids.append(current.run_id)
    size = HistorySize(runs=len(run_ids))
    for run_id in run_ids:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        size.json_bytes += len(history.to_json())
        for event in history.events:
            size.add_event(event)
    return size


@dataclass
class YearResult:
    customer_id: str
    renewals: int
    renewal_seconds: list[float]
    after_conversion: HistorySize
    after_year: HistorySize


async def simulated_year(stack: Stack, tag: str, *, renewals: int = 12) -> YearResult:
    assert stack.client is not None
    app = KeepAliveClient(stack.api_url, APP_KEY)
    admin = KeepAliveClient(stack.api_url, ADMIN_KEY)
    try:
        external_id = f"{tag}-year"
        view = await app.request(
            "POST",
            "/v1/customers",
            {"external_id": external_id, "email": f"{external_id}@example.com", "name": "Year"},
        )
        cid = str(view["id"])
        workflow_id = CUSTOMER_WORKFLOW_PREFIX + cid
        view = await app.request("POST", f"/v1/customers/{cid}/subscription", PLAN)
        if view["status"] != "active":
            raise RuntimeError(f"conversion left the customer {view['status']}")
        after_conversion = await history_size(stack.client, workflow_id)
        period_end = view["current_period_end"]
        seconds: list[float] = []
        for number in range(1, renewals + 1):
            started = time.monotonic()
            await admin.request(
                "POST", "/v1/admin/test-clock/advance", {"customer_id": cid, "to": "period_end"}
            )
            deadline = started + 60
            while True:
                view = await app.request("GET", f"/v1/customers/{cid}")
                if _at(view["current_period_end"]) > _at(period_end):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"renewal {number}: the period did not move in 60 s")
                await asyncio.sleep(0.05)
            if view["status"] != "active":
                raise RuntimeError(f"renewal {number} left the customer {view['status']}")
            period_end = view["current_period_end"]
            seconds.append(time.monotonic() - started)
        log(f"year: {renewals} renewals, period now ends {period_end}")
        after_year = await history_size(stack.client, workflow_id)
    finally:
        await app.close()
        await admin.close()
    return YearResult(cid, renewals, seconds, after_conversion, after_year)
