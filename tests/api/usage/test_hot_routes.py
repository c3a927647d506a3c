"""The hot routes (api.usage.hot) answer exactly as the framework's routes do: the same
requests, sent to an API with them and to one without, on two customers in the same
state, get the same status, media type and body, request for request; and a request the
hot routes leave to the framework reaches it whole."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.usage.hot import HotRoutes
from tests.factories.apps import api_client
from tests.factories.customers import NewCustomer
from tests.factories.settings import ADMIN_KEY, auth, make_settings
from tests.factories.usage import month_around

Request = tuple[str, str, dict[str, str], bytes]
# The first requests of the list, which the hot routes answer themselves.
HOT_ANSWERED = 16
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def both(
    database_url: str, dev_server_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                api_client(
                    make_settings(
                        database_url=database_url, task_queue=task_queue, lifecycle_hot_routes=on
                    ),
                    dev_server_env.client,
                )
            )
            for on in (True, False)
        ]
        yield clients[0], clients[1]


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def requests_for(cid: str) -> list[Request]:
    check = f"/v1/customers/{cid}/entitlements/check"
    app, admin = {**auth(), **JSON}, {**auth(ADMIN_KEY), **JSON}

    def consume(key: str, quantity: int = 1, metric: str = "messages") -> bytes:
        return body(
            {"metric": metric, "quantity": quantity, "consume": True, "idempotency_key": key}
        )

    def events(*items: object) -> bytes:
        return body({"events": list(items)})

    def event(key: str, **extra: Any) -> dict[str, Any]:
        base = {"customer_id": cid, "metric": "messages", "quantity": 1, "idempotency_key": key}
        return base | extra

    return [
        # Answered by the hot routes.
        ("POST", check, app, consume("a")),
        ("POST", check, app, consume("a")),  # a retry: the same decision, once
        ("POST", check, admin, consume("b", 3)),
        ("POST", check, app, body({"metric": "messages", "quantity": 5})),
        ("POST", check, app, body({"feature": "analytics"})),
        ("POST", check, app, consume("g", 1, "chatbots")),
        ("POST", check, app, consume("big", 10**9)),  # refused: past the limit
        ("POST", check, app, body({"metric": "messages", "consume": True})),  # no key
        ("POST", check, app, body({"metric": "nope"})),
        ("POST", check, app, body({"metric": "messages", "quantity": 0})),
        ("POST", check, app, body({"metric": "messages", "feature": "analytics"})),
        ("POST", "/v1/customers/nobody/entitlements/check", app, consume("x")),
        ("POST", "/v1/usage", app, events(event("e1"), event("e1"), event("e2", quantity=4))),
        ("POST", "/v1/usage", app, events(event("e1"))),  # a duplicate
        (
            "POST",
            "/v1/usage",
            app,
            events(
                event("e3", metric="unknown"),
                event("e4", quantity=-1),
                event("e5", occurred_at="yesterday"),
                event("e6", customer_id="nobody"),
                {"customer_id": cid},
                "not an object",
            ),
        ),
        (
            "POST",
            "/v1/usage",
            app,
            events(event("e7", occurred_at=None), event("e8", occurred_at="")),
        ),
        # Left to the framework.
        ("POST", check, app, body({"metric": "messages", "colour": "red"})),
        ("POST", check, app, body(["metric"])),
        ("POST", check, app, b"{not json"),
        ("POST", check, app, b""),
        ("POST", check, app, b"\xff\xfe"),
        ("POST", check, app, body({"metric": "messages", "quantity": "1"})),
        ("POST", check, app, body({"metric": "messages", "idempotency_key": "a\u0000b"})),
        ("POST", check, app, body({"metric": "messages", "quantity": 2**64})),
        ("POST", check, {**auth(), "Content-Type": "text/plain"}, consume("t")),
        ("POST", check, JSON, consume("n")),
        ("POST", check, {"Authorization": "Bearer wrong", **JSON}, consume("w")),
        ("POST", f"/v1/customers/{cid}%00/entitlements/check", app, consume("z")),
        ("POST", "/v1/usage", app, body({"events": []})),
        ("POST", "/v1/usage", app, body({"events": [event(f"m{i}") for i in range(1001)]})),
        ("POST", "/v1/usage", app, body({"events": [event("extra")], "more": 1})),
        # JSON only the framework's parser reads (or refuses) as it does.
        ("POST", check, app, b'{"metric": "messages", "quantity": NaN}'),
        ("POST", check, app, b'{"metric": "messages\\ud800"}'),
        ("POST", "/v1/usage", app, events(event("f", quantity=12345678901234567890123))),
        ("POST", "/v1/usage", app, b'{"events": [{"quantity": 1e400}]}'),
    ]


def normalized(response: httpx.Response, cid: str) -> tuple[int, str, Any]:
    text = response.text.replace(cid, "<customer>")
    media = response.headers.get("content-type", "")
    try:
        document: Any = json.loads(text)
    except ValueError:
        document = text
    return response.status_code, media, document


async def test_the_hot_routes_answer_as_the_framework_does(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient],
    new_customer: NewCustomer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hot, framework = both
    served: list[bool] = []
    serve = HotRoutes._serve

    async def counted(self: HotRoutes, *args: Any) -> bool:
        served.append(await serve(self, *args))
        return served[-1]

    monkeypatch.setattr(HotRoutes, "_serve", counted)
    start, end = month_around()
    customers = [
        await new_customer(
            status="active", plan="starter", interval="month", period_start=start, period_end=end
        )
        for _ in range(2)
    ]
    answered = set()
    for (method, path, headers, content), (_, other_path, _, other_content) in zip(
        requests_for(customers[0]), requests_for(customers[1]), strict=True
    ):
        first = await hot.request(method, path, headers=headers, content=content)
        second = await framework.request(method, other_path, headers=headers, content=other_content)
        assert normalized(first, customers[0]) == normalized(second, customers[1]), (
            path,
            content[:200],
        )
        answered.add(first.status_code)
    # The list covers successes, refusals and every kind of problem, and the hot routes
    # answered the first part of it and left the rest.
    assert {200, 401, 404, 422} <= answered
    assert served == [True] * HOT_ANSWERED + [False] * (len(served) - HOT_ANSWERED)
    assert len(served) >= HOT_ANSWERED + 10


async def test_a_large_body_is_handed_to_the_framework_whole(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], new_customer: NewCustomer
) -> None:
    hot, _ = both
    cid = await new_customer()
    # Past the hot routes' 1 MiB: 1,000 events with long keys, read by the framework
    # after the first chunks were read by the hot routes.
    events = [
        {"customer_id": cid, "metric": "messages", "quantity": 1, "idempotency_key": f"{i}-k"}
        for i in range(1000)
    ]
    content = body({"events": events, "padding": "x" * 1_000_000})
    assert len(content) > 1 << 20

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 64 * 1024):
            yield content[start : start + 64 * 1024]

    response = await hot.post("/v1/usage", headers={**auth(), **JSON}, content=chunks())
    # The framework parsed the whole body: it names the unknown top-level field.
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "padding", "message": "unknown field"}]
