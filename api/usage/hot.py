"""The two operations an app backend calls on every user action, served in front of the
framework: ``POST /v1/usage`` and ``POST /v1/customers/{id}/entitlements/check``.

A profile of 32 concurrent consume callers spent most of the API process's time in the
framework's per-request machinery (middleware layers, route matching through every
route, dependency resolution, a thread hand-off, response validation), not in the use
case. This ASGI layer answers the common request of these two operations directly: a
known key, a JSON object that passes the edge screen (``first_unstorable``) and the
operation's schema. It runs the very same use case (``api.usage.ingest`` /
``api.usage.entitlements``) and serializes the same response model, and a problem the use
case raises is answered as the app's handlers would. Anything else (no or unknown key,
another content type, a body that is not a JSON object or fails validation, a large body)
is handed, untouched, to the framework's route, which answers it as before: one contract,
one implementation of each rule; tests compare both paths answer for answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import principal_for
from api.context import AppContext
from api.errors import (
    PROBLEM_JSON,
    Problem,
    first_unstorable,
    may_be_unstorable,
    problem_for_error,
)
from api.usage import entitlements, ingest
from api.usage.schemas import (
    EntitlementCheck,
    EntitlementDecision,
    FeatureDecision,
    UsageBatch,
    UsageIngestResult,
)
from api.usage.signals import deliver_signals
from core.clock import utcnow
from core.metrics import ROUTE_KEY

_CHECK = re.compile(r"/v1/customers/([^/]+)/entitlements/check")
_INGEST_ROUTE = "/v1/usage"
_CHECK_ROUTE = "/v1/customers/{customer_id}/entitlements/check"
# Larger bodies (more than a full batch of 1,000 events needs) go the framework's way.
_MAX_BODY = 1 << 20
_NUL = "\x00"

Handler = Callable[[AppContext, dict[str, Any], str | None], Awaitable[tuple[BaseModel, list[str]]]]


async def _ingest(
    context: AppContext, document: dict[str, Any], _: str | None
) -> tuple[BaseModel, list[str]]:
    body = UsageBatch.model_validate(document)
    result, signal = await ingest.ingest(context, body, utcnow())
    return result, sorted(signal)


async def _check(
    context: AppContext, document: dict[str, Any], customer_id: str | None
) -> tuple[BaseModel, list[str]]:
    assert customer_id is not None
    body = EntitlementCheck.model_validate(document)
    decision, signal = await entitlements.check(context, customer_id, body, utcnow())
    return decision, [customer_id] if signal else []


_RESULTS: dict[Any, TypeAdapter[Any]] = {
    _ingest: TypeAdapter(UsageIngestResult),
    _check: TypeAdapter(EntitlementDecision | FeatureDecision),
}


class HotRoutes:
    """ASGI middleware; ``enabled`` off hands every request to the framework."""

    def __init__(self, app: ASGIApp, *, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        customer_id: str | None = None
        handler: Handler
        if path == "/v1/usage":
            handler = _ingest
            scope[ROUTE_KEY] = _INGEST_ROUTE
        else:
            match = _CHECK.fullmatch(path)
            if match is None:
                return await self.app(scope, receive, send)
            handler, customer_id = _check, match.group(1)
            # The metrics' route label (api.metrics) of what is answered here.
            scope[ROUTE_KEY] = _CHECK_ROUTE
        chunks, state = await _read_body(receive)
        if state == "gone":
            return None
        body = b"".join(chunks)
        if state == "complete" and await self._serve(scope, send, handler, customer_id, body):
            return None
        await self.app(scope, _replay(chunks, receive, complete=state == "complete"), send)

    async def _serve(
        self,
        scope: Scope,
        send: Send,
        handler: Handler,
        customer_id: str | None,
        body: bytes,
    ) -> bool:
        """Answer the request, or False (nothing sent, nothing changed) to leave it to
        the framework."""
        headers = dict(scope["headers"])
        if headers.get(b"content-type", b"").split(b";")[0].strip() != b"application/json":
            return False
        context: AppContext = scope["app"].state.context
        authorization = headers.get(b"authorization")
        try:
            # Both scopes may call both operations: a known key is enough.
            await principal_for(
                authorization.decode("latin-1") if authorization is not None else None,
                context.keys,
                context.sessions,
                client_ip=(scope.get("client") or (None,))[0],
            )
        except Problem:
            return False
        if customer_id is not None and _NUL in customer_id:
            return False
        screened = may_be_unstorable(body)
        try:
            # orjson reads an integer past 64 bits as a float; a body that may hold one is
            # read as the framework reads it. Anything orjson refuses (NaN, lone
            # surrogates, deep nesting) goes to the framework, which answers as before.
            document = json.loads(body) if screened else orjson.loads(body)
        except (ValueError, RecursionError):
            return False
        if not isinstance(document, dict) or (screened and first_unstorable(document) is not None):
            return False
        path: str = scope["path"]
        try:
            result, signal = await handler(context, document, customer_id)
        except ValidationError:
            return False
        except Problem as problem:
            await _send_problem(send, problem, path)
            return True
        except Exception as exc:
            await _send_problem(send, problem_for_error(exc, "POST", path), path)
            return True
        payload = _RESULTS[handler].dump_json(result)
        await _send(send, 200, payload, b"application/json")
        # After the response, as the framework runs background tasks.
        for customer in signal:
            await deliver_signals(context, customer)
        return True


async def _read_body(receive: Receive) -> tuple[list[bytes], str]:
    """The body's chunks read so far, and ``complete``, ``large`` (past the cap: the
    framework reads the rest) or ``gone`` (the client disconnected)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return chunks, "gone"
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return chunks, "complete"
        if size > _MAX_BODY:
            return chunks, "large"


def _replay(chunks: list[bytes], receive: Receive, *, complete: bool) -> Receive:
    """``receive`` for the framework: the chunks read already, then the rest."""
    pending = list(chunks)

    async def replay() -> Message:
        if pending:
            chunk = pending.pop(0)
            more = bool(pending) or not complete
            return {"type": "http.request", "body": chunk, "more_body": more}
        return await receive()

    return replay


async def _send(send: Send, status: int, payload: bytes, media_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(payload)).encode()),
                (b"content-type", media_type),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _send_problem(send: Send, problem: Problem, path: str) -> None:
    payload = json.dumps(problem.document(path), ensure_ascii=False, separators=(",", ":")).encode()
    start: Message = {
        "type": "http.response.start",
        "status": problem.status,
        "headers": [
            (b"content-length", str(len(payload)).encode()),
            (b"content-type", PROBLEM_JSON.encode()),
            *((k.lower().encode(), v.encode()) for k, v in problem.headers.items()),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": payload})
