"""Property-based fuzzing of the whole API against its own OpenAPI document (schemathesis).

Every operation, with the app key and with the admin key, gets schema-conforming and
schema-violating requests; each answer must be no server error (a documented 503 aside)
and must match what the document says: status code, content type and body schema.

The app runs in-process (ASGI) on the test's event loop, where its database engine and
Temporal client live; Hypothesis drives generation from a thread and hands each request
to that loop. Seeded and bounded, so a run is repeatable and takes about a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.config import EngineConfig
from db.engine import SessionFactory
from services.freeze import set_freeze
from tests.factories.customers import unique_email
from tests.factories.settings import ADMIN_KEY, APP_KEY, make_settings
from tests.factories.workers import make_worker

# Per operation and key; with both generation modes and both keys, 4 x this per operation.
EXAMPLES = 6
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
KEYS = {"app": APP_KEY, "admin": ADMIN_KEY}

Send = Callable[[schemathesis.Case], httpx.Response]


def _request_kwargs(case: schemathesis.Case) -> dict[str, Any]:
    """The case as httpx arguments (schemathesis serializes for `requests`)."""
    kwargs = case.as_transport_kwargs(base_url="http://api")
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": kwargs.get("headers") or {},
        "params": kwargs.get("params"),
    }
    if kwargs.get("cookies"):
        request["headers"]["cookie"] = "; ".join(f"{k}={v}" for k, v in kwargs["cookies"].items())
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        request["content" if isinstance(data, bytes | str) else "data"] = data
    return request


def _fuzz(
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    key: str,
    send: Send,
    statuses: Counter[int],
) -> None:
    strategy = operation.as_strategy(
        generation_mode=mode, headers={"Authorization": f"Bearer {key}"}
    )

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        response = send(case)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            documented = str(response.status_code) in operation.definition.raw["responses"]
            assert response.status_code == 503 and documented, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
            )
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        # Nothing to violate: an operation without inputs has no negative cases.
        assert mode is schemathesis.GenerationMode.NEGATIVE


async def test_every_operation_keeps_its_contract(
    dev_server_env: WorkflowEnvironment,
    database_url: str,
    sessions: SessionFactory,
    engine_config: EngineConfig,
    task_queue: str,
) -> None:
    app_settings = make_settings(
        database_url=database_url,
        task_queue=task_queue,
        stripe_webhook_secret="whsec_fuzz",
        stripe_api_key=None,
    )
    app = create_app(app_settings, temporal=dev_server_env.client)
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = operations_of(schema)
    loop = asyncio.get_running_loop()
    statuses: Counter[int] = Counter()

    async with (
        make_worker(
            dev_server_env.client, task_queue=task_queue, sessions=sessions, config=engine_config
        ),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        # One real customer, so the fuzzer also reaches past the 404 of an unknown id.
        created = await http.post(
            "/v1/customers",
            json={"external_id": "fuzz-seed", "email": unique_email("fuzz")},
            headers={"Authorization": f"Bearer {APP_KEY}"},
        )
        assert created.status_code in (200, 201), created.text

        def send(case: schemathesis.Case) -> httpx.Response:
            future: Awaitable[httpx.Response] = asyncio.run_coroutine_threadsafe(
                http.request(**_request_kwargs(case)), loop
            )  # type: ignore[assignment]
            return future.result(timeout=90)  # type: ignore[attr-defined]

        failures: list[str] = []

        def fuzz_all() -> int:
            cases = 0
            for operation in operations:
                for mode in schemathesis.GenerationMode:
                    for scope, key in KEYS.items():
                        before = statuses.total()
                        try:
                            _fuzz(operation, mode, key, send, statuses)
                        except (Exception, BaseExceptionGroup) as exc:
                            # Every operation is fuzzed; all their failures are reported
                            # (schemathesis groups its findings in a BaseExceptionGroup).
                            failures.append(f"{operation.label} [{mode}, {scope} key]: {exc}")
                        cases += statuses.total() - before
            return cases

        started = time.monotonic()
        try:
            cases = await asyncio.to_thread(fuzz_all)
        finally:
            # The fuzzer may have frozen money movements (PUT /v1/admin/security/freeze):
            # the database is the session's, and later tests move money.
            await set_freeze(sessions, active=False, reason="fuzzing over", actor="test")
        elapsed = time.monotonic() - started

    print(
        f"\nfuzzed {len(operations)} operations, {cases} requests in {elapsed:.1f} s;"
        f" statuses {dict(sorted(statuses.items()))}"
    )
    assert not failures, "\n\n".join(failures)
    assert len(operations) >= 45
    assert cases >= len(operations) * 2


def operations_of(schema: Any) -> list[schemathesis.APIOperation]:
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        found.append(result.ok())
    return found


def test_the_document_declares_the_real_contract() -> None:
    """Without a server: every error is a Problem in application/problem+json, keyed
    operations declare the bearer scheme and their 401, and content types are the real
    ones (a quick failure before the slow fuzzing test starts a worker)."""
    app = create_app(make_settings(database_url="sqlite+aiosqlite://", task_queue="unused"))
    document = app.openapi()
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            for status, response in responses.items():
                if status.startswith("4"):
                    assert list(response["content"]) == ["application/problem+json"], (
                        method,
                        path,
                        status,
                    )
                    schema = response["content"]["application/problem+json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}
            if operation.get("security"):
                assert operation["security"] == [{"ApiKey": []}]
                assert "401" in responses, (method, path)
            if path.startswith("/v1/admin"):
                assert "403" in responses, (method, path)
    pdf = document["paths"]["/v1/simulator/invoices/{invoice_id}/pdf"]["get"]
    assert list(pdf["responses"]["200"]["content"]) == ["text/plain"]
    assert len(operations_of(schemathesis.openapi.from_dict(document))) >= 45
