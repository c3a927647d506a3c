"""``GET /metrics``: Prometheus' text format, scraped after requests of each kind (the hot
routes' usage ingest and check included): the engine's names and labels with the values
the requests should have moved, the route label a template (an unknown path one value),
names by Prometheus' conventions, and no customer id anywhere in the output."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from adapters.payments.base import STRIPE_API_VERSION
from tests.factories.apps import api_client
from tests.factories.customers import NewCustomer
from tests.factories.settings import auth, make_settings
from tests.factories.usage import event
from tests.factories.webhooks import SECRET, deliver, encode

CHECK_ROUTE = "/v1/customers/{customer_id}/entitlements/check"
# The series these tests read: (metric name, labels) -> value.
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def http(
    database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url=database_url, task_queue=task_queue, stripe_webhook_secret=SECRET
    )
    async with api_client(settings, dev_server_env.client) as client:
        yield client


async def scrape(http: httpx.AsyncClient) -> tuple[str, Samples]:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def stripe_event(event_type: str = "product.created") -> dict[str, object]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:20]}",
        "object": "event",
        "type": event_type,
        "api_version": STRIPE_API_VERSION,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {"id": f"prod_{uuid.uuid4().hex[:12]}", "object": "product"}},
    }


async def test_metrics_count_requests_usage_checks_and_webhooks_without_customer_ids(
    http: httpx.AsyncClient, new_customer: NewCustomer
) -> None:
    customer_id = await new_customer()
    _, before = await scrape(http)

    # The hot routes: one batch of three events (one a duplicate key, one unknown metric).
    key = f"k-{uuid.uuid4()}"
    batch = [
        event(customer_id, key=key),
        event(customer_id, key=key),
        event(customer_id, metric="nope"),
    ]
    ingested = await http.post("/v1/usage", json={"events": batch}, headers=auth())
    assert ingested.status_code == 200, ingested.text
    assert (ingested.json()["accepted"], ingested.json()["duplicates"]) == (1, 1)
    check = f"/v1/customers/{customer_id}/entitlements/check"
    allowed = await http.post(check, json={"metric": "messages", "quantity": 1}, headers=auth())
    assert allowed.json()["allowed"] is True, allowed.text
    denied = await http.post(
        check,
        json={"metric": "messages", "quantity": 10**9, "consume": True, "idempotency_key": "x"},
        headers=auth(),
    )
    assert denied.status_code == 200 and denied.json()["allowed"] is False, denied.text
    # The framework's routes: a customer read, one that is not found, unknown paths.
    assert (await http.get(f"/v1/customers/{customer_id}", headers=auth())).status_code == 200
    missing = await http.get(f"/v1/customers/{uuid.uuid4()}", headers=auth())
    assert missing.status_code == 404
    for path in ("/no/such/path", f"/v1/{customer_id}/nothing", "/wp-admin.php"):
        assert (await http.get(path)).status_code == 404
    # Webhooks: a forged one (another secret), one taken in, the same delivered again.
    forged = await deliver(http, stripe_event(), secret="whsec_forged")
    assert forged.status_code == 400
    taken = stripe_event()
    assert (await deliver(http, taken)).json()["duplicate"] is False
    assert (await deliver(http, taken)).json()["duplicate"] is True
    unsigned = await http.post("/v1/webhooks/stripe", content=encode(stripe_event()))
    assert unsigned.status_code == 400

    text, after = await scrape(http)

    requests = "lifecycle_http_requests_total"
    assert moved(before, after, requests, method="POST", route="/v1/usage", status_class="2xx") == 1
    assert moved(before, after, requests, method="POST", route=CHECK_ROUTE, status_class="2xx") == 2
    customer_route = "/v1/customers/{customer_id}"
    assert moved(before, after, requests, method="GET", route=customer_route, status_class="2xx")
    assert (
        moved(before, after, requests, method="GET", route=customer_route, status_class="4xx") == 1
    )
    assert moved(before, after, requests, method="GET", route="unmatched", status_class="4xx") == 3
    webhook_route = "/v1/webhooks/stripe"
    assert (
        moved(before, after, requests, method="POST", route=webhook_route, status_class="4xx") == 2
    )
    duration = "lifecycle_http_request_duration_seconds_count"
    assert moved(before, after, duration, method="POST", route=CHECK_ROUTE) == 2
    assert moved(before, after, duration, method="POST", route="/v1/usage") == 1

    events = "lifecycle_usage_events_total"
    assert moved(before, after, events, outcome="accepted") == 1
    assert moved(before, after, events, outcome="duplicate") == 1
    assert moved(before, after, events, outcome="rejected") == 1

    checks = "lifecycle_entitlement_checks_total"
    assert moved(before, after, checks, kind="check", decision="allowed") == 1
    assert moved(before, after, checks, kind="consume", decision="denied") == 1
    check_duration = "lifecycle_entitlement_check_duration_seconds_count"
    assert moved(before, after, check_duration, kind="check") == 1
    assert moved(before, after, check_duration, kind="consume") == 1

    webhooks = "lifecycle_webhooks_received_total"
    assert moved(before, after, webhooks, provider="stripe", outcome="forged") == 2
    assert moved(before, after, webhooks, provider="stripe", outcome="new") == 1
    assert moved(before, after, webhooks, provider="stripe", outcome="duplicate") == 1

    # Customers by status, from the read model (the inserted one is trialing).
    assert value(after, "lifecycle_customers", status="trialing") >= 1
    assert ("lifecycle_customers", frozenset({("status", "past_due")})) in after
    assert ("lifecycle_customers_needing_attention", frozenset()) in after

    # No customer id, and no raw path, anywhere in the output.
    assert customer_id not in text
    assert "/no/such/path" not in text and "wp-admin" not in text


async def test_metric_names_follow_prometheus_conventions(http: httpx.AsyncClient) -> None:
    text, _ = await scrape(http)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    ours = {name: f for name, f in families.items() if name.startswith("lifecycle_")}
    assert {
        "lifecycle_http_requests",
        "lifecycle_http_request_duration_seconds",
        "lifecycle_usage_events",
        "lifecycle_entitlement_checks",
        "lifecycle_entitlement_check_duration_seconds",
        "lifecycle_webhooks_received",
        "lifecycle_customers",
        "lifecycle_customers_needing_attention",
        "lifecycle_dunning_overdue_customers",
        "lifecycle_webhooks_backlog",
        "lifecycle_webhooks_oldest_undelivered_age_seconds",
    } <= set(ours)
    snake = re.compile(r"[a-z][a-z0-9_]*")
    for name, family in ours.items():
        assert snake.fullmatch(name), name
        if family.type == "counter":
            # The parser strips ``_total`` from a counter family's name; every sample has it.
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), name
        if family.type == "histogram":
            assert name.endswith("_seconds"), name
        for sample in family.samples:
            assert all(snake.fullmatch(label) for label in sample.labels), sample


async def test_metrics_can_be_turned_off(
    database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> None:
    settings = make_settings(
        database_url=database_url, task_queue=task_queue, lifecycle_metrics_enabled=False
    )
    async with api_client(settings, dev_server_env.client) as client:
        assert (await client.get("/metrics")).status_code == 404
