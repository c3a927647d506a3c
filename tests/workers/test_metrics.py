"""The worker's metrics: the Temporal SDK's own runtime metrics on
``LIFECYCLE_TEMPORAL_METRICS_ADDRESS`` (a worker polling the dev server shows up in them),
and the engine's counters (charges, emails) on ``LIFECYCLE_WORKER_METRICS_ADDRESS``."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.billing import final_failures
from adapters.payments.base import CardDeclined
from core.config import EngineConfig
from core.settings import Settings
from core.temporal import connect
from db.engine import SessionFactory
from tests.factories.workers import make_worker
from workers.worker import serve_metrics, temporal_runtime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def scrape_until(url: str, wanted: str, timeout: float = 30.0) -> str:
    async with httpx.AsyncClient() as http:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                text = (await http.get(url)).text
            except httpx.TransportError:
                text = ""
            if wanted in text or asyncio.get_running_loop().time() > deadline:
                return text
            await asyncio.sleep(0.2)


def test_no_runtime_and_no_server_unless_configured() -> None:
    settings = Settings()
    assert temporal_runtime(settings) is None
    assert serve_metrics(settings) is None


async def test_the_worker_exports_the_sdks_runtime_metrics_to_prometheus(
    dev_server_env: WorkflowEnvironment,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    address = f"127.0.0.1:{free_port()}"
    runtime = temporal_runtime(Settings(lifecycle_temporal_metrics_address=address))
    assert runtime is not None
    client = await connect(
        dev_server_env.client.service_client.config.target_host,
        dev_server_env.client.namespace,
        runtime=runtime,
    )
    async with make_worker(client, task_queue=task_queue, sessions=sessions, config=engine_config):
        text = await scrape_until(f"http://{address}/metrics", "temporal_num_pollers")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    # The worker's slots and pollers, on its task queue.
    for name in ("temporal_worker_task_slots_available", "temporal_num_pollers"):
        assert name in families, sorted(families)
        assert any(s.labels.get("task_queue") == task_queue for s in families[name].samples)
    # Counters end in _total, durations are histograms in seconds named so (Prometheus'
    # conventions; the SDK's defaults are milliseconds and no suffixes).
    counters = [f for f in families.values() if f.type == "counter"]
    assert counters and all(s.name.endswith("_total") for f in counters for s in f.samples)
    histograms = [f for f in families.values() if f.type == "histogram"]
    assert histograms and all(f.name.endswith("_seconds") for f in histograms)
    latency = families["temporal_request_latency_seconds"]
    assert all(s.value < 60 for s in latency.samples if s.name.endswith("_sum"))


async def test_the_worker_serves_the_engines_counters() -> None:
    address = f"127.0.0.1:{free_port()}"
    server = serve_metrics(Settings(lifecycle_worker_metrics_address=address))
    assert server is not None
    try:
        url = f"http://{address}/metrics"
        before = await scrape_until(url, "lifecycle_charges_total")

        with pytest.raises(ApplicationError), final_failures(charge="pay_invoice"):
            raise CardDeclined("declined", code="card_declined", decline_code="insufficient_funds")
        with final_failures(charge="pay_invoice"):
            pass
        with final_failures():  # not a charge: not counted
            pass

        after = await scrape_until(url, "lifecycle_charges_total")

        def charges(text: str, outcome: str) -> float:
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == "lifecycle_charges_total" and sample.labels == {
                        "operation": "pay_invoice",
                        "outcome": outcome,
                    }:
                        return sample.value
            return 0.0

        assert charges(after, "declined") - charges(before, "declined") == 1
        assert charges(after, "succeeded") - charges(before, "succeeded") == 1
        assert "lifecycle_emails_total" in after
    finally:
        server.shutdown()
