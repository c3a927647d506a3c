"""Connecting to Temporal with the engine's data converter.

Where to connect, and how, is read the way the Temporal CLI and every SDK read it (the
SDK's environment configuration, ``temporalio.envconfig``): a profile of a TOML file
(``TEMPORAL_CONFIG_FILE``, default ``~/.config/temporalio/temporal.toml``; profile
``TEMPORAL_PROFILE``, default ``default``), overridden by ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS``, ``TEMPORAL_TLS_*`` and
``TEMPORAL_GRPC_META_*``. So Temporal Cloud (API key or mTLS) and a self-hosted cluster with
mTLS need no code. The engine's own settings (``Settings.temporal_address`` /
``temporal_namespace``, the same ``TEMPORAL_ADDRESS`` / ``TEMPORAL_NAMESPACE`` variables)
win over a profile when set, so code that hands a ``Settings`` an address (``lifecycle dev``,
tests) connects there; with nothing set anywhere: ``localhost:7233``, namespace ``default``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from pydantic import TypeAdapter
from temporalio.client import (
    Client,
)
from temporalio.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    PydanticPayloadConverter,
)
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfigProfile, ClientConnectConfig
from temporalio.runtime import Runtime

from core.settings import Settings
from core.tracing import temporal_interceptors

DEFAULT_ADDRESS = "localhost:7233"


class TemporalConfigError(ValueError):
    """The Temporal profile or its TLS files cannot be read (a missing profile, a bad TOML
    file, a certificate path that does not exist)."""


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
    """A plain connection (no TLS, no API key) to ``target``: the dev server ``lifecycle dev``
    embeds, tests. ``lazy`` defers the connection to the first call: the API starts (and
    reports not-ready) while Temporal is still coming up. ``runtime``: one of the SDK's runtimes
    (the worker's exports its metrics); None, the process's default."""
    return await Client.connect(
        target, namespace=namespace, data_converter=DATA_CONVERTER, lazy=lazy, runtime=runtime
    )


def load_profile(environ: Mapping[str, str] | None = None) -> ClientConnectConfig:
    """The SDK's profile with its environment overrides, as ``Client.connect`` keywords
    (only what is configured). ``environ``: None, this process's environment."""
    try:
        profile = ClientConfigProfile.load(override_env_vars=environ)
        return profile.to_client_connect_config()  # reads the certificate files
    # The SDK's ConfigError (a profile that is not there, bad TOML) is a RuntimeError.
    except (RuntimeError, OSError) as exc:
        raise TemporalConfigError(f"Temporal client configuration: {exc}") from exc


def connect_options(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> ClientConnectConfig:
    """Where and how to connect: the SDK's profile, then the engine's settings on top."""
    options = load_profile(environ)
    if settings.temporal_address:
        options["target_host"] = settings.temporal_address
    options.setdefault("target_host", DEFAULT_ADDRESS)
    # The namespace has a default in Settings: it overrides a profile only when it was set.
    if "temporal_namespace" in settings.model_fields_set or "namespace" not in options:
        options["namespace"] = settings.temporal_namespace
    return options


async def connect_with(
    settings: Settings,
    *,
    lazy: bool = False,
    runtime: Runtime | None = None,
    environ: Mapping[str, str] | None = None,
) -> Client:
    """Connect as configured (see the module's docstring): what the API, the worker and
    the CLI's commands use. ``lazy`` and ``runtime`` as in ``connect``."""
    return await Client.connect(
        **connect_options(settings, environ),
        data_converter=DATA_CONVERTER,
        lazy=lazy,
        runtime=runtime,
        # Workers built on this client inherit the tracing interceptor (core.tracing).
        interceptors=temporal_interceptors(settings.lifecycle_tracing),
    )
