"""OpenTelemetry tracing from the API through the customer's workflow to its activities,
behind ``LIFECYCLE_TRACING`` (off by default: the hot usage routes pay nothing for it).

One request becomes one trace: the ASGI middleware opens the server span, the Temporal
SDK's ``TracingInterceptor`` on the client carries its context in the headers of what the
request starts, signals or updates, and the worker (which inherits the client's
interceptors) continues it in the workflow and each activity. The exporter and where it
sends are OpenTelemetry's standard environment variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``...), so a collector, Jaeger, Tempo or
Honeycomb are reached with no code here.
"""

from __future__ import annotations

import logging
from typing import Literal

from opentelemetry import trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

TracingMode = Literal["off", "otlp", "console"]

logger = logging.getLogger(__name__)

_configured: TracerProvider | None = None


def _exporter(mode: TracingMode) -> SpanExporter:
    if mode == "console":
        return ConsoleSpanExporter()
    # Imported only when used: the OTLP exporter pulls in protobuf messages and requests.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def configure_tracing(
    mode: TracingMode, service_name: str, *, processor: SpanProcessor | None = None
) -> TracerProvider | None:
    """Install the process's tracer provider (once; later calls return it). ``mode`` off:
    nothing is installed and None is returned. ``processor``: spans go there instead of
    the configured exporter (tests keep them in memory)."""
    global _configured
    if mode == "off":
        return None
    if _configured is not None:
        return _configured
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win over the default name.
    resource = Resource.create({"service.name": service_name}).merge(
        OTELResourceDetector().detect()
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor or BatchSpanProcessor(_exporter(mode)))
    trace.set_tracer_provider(provider)
    _configured = provider
    logger.info("tracing on: %s spans of %s", mode, resource.attributes.get("service.name"))
    return provider


def temporal_interceptors(mode: TracingMode) -> list[Interceptor]:
    """The client's interceptors (workers built on the client inherit them)."""
    if mode == "off":
        return []
    return [TracingInterceptor()]
