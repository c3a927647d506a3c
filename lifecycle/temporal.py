"""Connecting to Temporal with the engine's data converter; registering search attributes."""

from __future__ import annotations

import functools
from datetime import timedelta

from pydantic import TypeAdapter
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    PydanticPayloadConverter,
)
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from workflows import search_attributes
from workflows.retention import RETENTION_SCHEDULE_ID, RetentionWorkflow

# One cache of pydantic type adapters for the whole process. The SDK builds a payload
# converter per workflow run (and per replay), and the stock one starts with an empty
# cache, so each run rebuilt the adapters of its input, commands and results: about a
# sixth of the worker's time under a burst of sign-ups.
_type_adapter = functools.lru_cache(maxsize=1024)(TypeAdapter)


class EnginePayloadConverter(PydanticPayloadConverter):
    """The pydantic payload converter, with its type adapters shared across runs."""

    def __init__(self) -> None:
        super().__init__()
        for converter in self.converters.values():
            if isinstance(converter, PydanticJSONPlainPayloadConverter):
                converter._type_adapter = _type_adapter


DATA_CONVERTER = DataConverter(payload_converter_class=EnginePayloadConverter)


async def connect(target: str, namespace: str, *, lazy: bool = False) -> Client:
    """``lazy`` defers the connection to the first call: the API starts (and reports
    not-ready) while Temporal is still coming up."""
    return await Client.connect(
        target, namespace=namespace, data_converter=DATA_CONVERTER, lazy=lazy
    )


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register the engine's custom search attributes that are missing; returns their names."""
    wanted = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in search_attributes.ALL
    }
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {k: v for k, v in wanted.items() if k not in existing.custom_attributes}
    except RPCError as exc:
        # The time-skipping test server can add attributes but not list them.
        if exc.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        missing = wanted
    added: list[str] = []
    for name, kind in missing.items():
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes={name: kind})
            )
            added.append(name)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.ALREADY_EXISTS:
                raise
    return sorted(added)


async def ensure_retention_schedule(client: Client, *, task_queue: str, every: timedelta) -> str:
    """Create (or bring up to date) the Schedule that runs the data-retention purge."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionWorkflow.run,
            id=f"{RETENTION_SCHEDULE_ID}-run",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(RETENTION_SCHEDULE_ID, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(RETENTION_SCHEDULE_ID)

        def keep_current(update: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(keep_current)
        return "updated"
