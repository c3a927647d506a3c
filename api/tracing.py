"""The API's server spans (``LIFECYCLE_TRACING``; see ``core.tracing``)."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from core.tracing import TracingMode


def instrument_api(app: FastAPI, mode: TracingMode) -> None:
    """A server span per request, named by method and route template (the path's ids stay
    out of span names; they are attributes), outermost so the hot routes are traced too.
    Health probes and scrapes are left out: they would be most of the spans."""
    if mode == "off":
        return
    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls="/healthz,/readyz,/metrics",
        # One span per request, not one more per ASGI message.
        exclude_spans=["receive", "send"],
    )
