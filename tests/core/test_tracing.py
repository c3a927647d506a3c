"""Tracing: one sign-up request is one trace, from the API's server span through the
workflow it starts to the workflow's activities, across the real dev server and worker."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.config import EngineConfig
from core.tracing import configure_tracing, temporal_interceptors
from db.engine import SessionFactory
from tests.factories.apps import api_client
from tests.factories.settings import auth, make_settings
from tests.factories.workers import make_worker

# The process's tracer provider can be installed once; every test here shares it.
EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider() -> None:
    configure_tracing("console", "lifecycle-test", processor=SimpleSpanProcessor(EXPORTER))


def _named(spans: list[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


async def _spans_until(prefix: str, trace_id: int, timeout: float = 20.0) -> list[ReadableSpan]:
    """The trace's spans once one named ``prefix...`` is among them (activities finish
    after the request answers)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        spans = [s for s in EXPORTER.get_finished_spans() if s.context.trace_id == trace_id]
        if _named(spans, prefix) or asyncio.get_running_loop().time() > deadline:
            return spans
        await asyncio.sleep(0.1)


async def test_a_sign_up_is_one_trace_from_request_to_activity(
    dev_server_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    EXPORTER.clear()
    config = dev_server_env.client.config()
    config["interceptors"] = temporal_interceptors("console")
    client = Client(**config)
    settings = make_settings(
        database_url=database_url, task_queue=task_queue, lifecycle_tracing="console"
    )
    async with (
        make_worker(client, task_queue=task_queue, sessions=sessions, config=engine_config),
        api_client(settings, client) as http,
    ):
        response = await http.post(
            "/v1/customers",
            json={"external_id": f"ext-{uuid.uuid4()}", "email": f"{uuid.uuid4()}@example.com"},
            headers=auth(),
        )
        assert response.status_code == 201, response.text
        customer_id = response.json()["id"]
        (server,) = [
            s
            for s in EXPORTER.get_finished_spans()
            if s.name == "POST /v1/customers" and s.parent is None
        ]
        spans = await _spans_until("RunActivity:", server.context.trace_id)

    by_id = {s.context.span_id: s for s in spans}
    (start,) = _named(spans, "StartWorkflow:")
    assert start.parent is not None and by_id[start.parent.span_id] is server
    assert _named(spans, "RunWorkflow:"), [s.name for s in spans]
    # Each activity's span descends from the request's, through the workflow's.
    activities = _named(spans, "RunActivity:")
    assert activities, [s.name for s in spans]
    for run in activities:
        ancestor = run
        while ancestor.parent is not None:
            ancestor = by_id[ancestor.parent.span_id]
        assert ancestor is server
    # Span names and the service carry no customer id (they are route templates).
    assert all(customer_id not in s.name for s in spans)
    assert server.resource.attributes["service.name"] == "lifecycle-test"


async def test_tracing_off_adds_no_interceptor_and_no_provider() -> None:
    assert temporal_interceptors("off") == []
    assert configure_tracing("off", "anything") is None
