"""Connecting to Temporal with the engine's data converter."""

from __future__ import annotations

import functools

from pydantic import TypeAdapter
from temporalio.client import (
    Client,
)
from temporalio.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    PydanticPayloadConverter,
)
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime

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


def warm_type_adapters(*types: type) -> None:
    """Build these types' adapters now, outside any workflow sandbox. Built first inside
    the strict sandbox (the tests' runner), an adapter for a dataclass whose annotations
    are strings can stay "not fully defined" for good, and every workflow that decodes
    one fails its task."""
    for type_ in types:
        _type_adapter(type_)


async def connect(
    target: str, namespace: str, *, lazy: bool = False, runtime: Runtime | None = None
) -> Client:
    """``lazy`` defers the connection to the first call: the API starts (and reports
    not-ready) while Temporal is still coming up. ``runtime``: one of the SDK's runtimes
    (the worker's exports its metrics); None, the process's default."""
    return await Client.connect(
        target, namespace=namespace, data_converter=DATA_CONVERTER, lazy=lazy, runtime=runtime
    )
