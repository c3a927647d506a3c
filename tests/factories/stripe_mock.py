"""The recording HTTP client the Stripe adapter talks to stripe-mock through.

stripe-mock (Stripe's official API mock) validates every request against Stripe's OpenAPI
spec and answers with fixture objects; it keeps no state. The adapter reaches it over a real
socket through the SDK's own ``HTTPXClient``, subclassed here to record each exchange
(method, path, parameters, headers, stripe-mock's status) and, where a test needs it, to
adjust the *response*: give fixture objects the lookup keys, periods and schedules the
engine expects (``tests/factories/payments.py``), or script an error reply. Requests are
never altered: stripe-mock sees exactly what Stripe would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

from adapters.payments.base import STRIPE_API_VERSION
from adapters.payments.stripe.errors import MAX_IDEMPOTENCY_KEY

API_KEY = "sk_test_123"


@dataclass
class Exchange:
    method: str
    path: str
    # Query string (GET, DELETE) or form body (POST), flattened: ``items[0][price]``.
    params: dict[str, str]
    headers: dict[str, str]
    # What stripe-mock answered, before any test adjustment.
    status: int
    body: Any

    @property
    def idempotency_key(self) -> str | None:
        for name, value in self.headers.items():
            if name.lower() == "idempotency-key":
                return value
        return None

    @property
    def api_version(self) -> str | None:
        for name, value in self.headers.items():
            if name.lower() == "stripe-version":
                return value
        return None

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} {self.status} key={self.idempotency_key}>"


# (exchange, response body) -> new body, or None to leave it.
Rewrite = Callable[[Exchange, Any], Any]


@dataclass
class ScriptedError:
    method: str
    path: str  # a regular expression matched against the whole path
    status: int
    error: dict[str, Any]


class RecordingHTTPClient(stripe.HTTPXClient):
    """The SDK's async HTTP client, recording every exchange."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[Exchange] = []
        self.rewrites: list[Rewrite] = []
        self.scripted: list[ScriptedError] = []

    def fail_next(self, method: str, path: str, status: int, **error: Any) -> None:
        """Answer the next matching request with this error (after stripe-mock saw it)."""
        self.scripted.append(ScriptedError(method.upper(), path, status, error))

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        content, status, response_headers = await super().request_async(
            method, url, headers, post_data
        )
        parts = urlsplit(url)
        raw = post_data if method.lower() == "post" else parts.query
        if isinstance(raw, bytes):
            raw = raw.decode()
        body = json.loads(content) if content else None
        exchange = Exchange(
            method=method.upper(),
            path=parts.path,
            params=dict(parse_qsl(raw or "", keep_blank_values=True)),
            headers=dict(headers),
            status=status,
            body=body,
        )
        self.exchanges.append(exchange)
        for scripted in self.scripted:
            if scripted.method == exchange.method and re.fullmatch(scripted.path, exchange.path):
                self.scripted.remove(scripted)
                return json.dumps({"error": scripted.error}).encode(), scripted.status, {}
        if 200 <= status < 300:
            for rewrite in self.rewrites:
                changed = rewrite(exchange, body)
                if isinstance(changed, ScriptedError):
                    # The modelled world says this request fails (e.g. no such object).
                    return json.dumps({"error": changed.error}).encode(), changed.status, {}
                if changed is not None:
                    body = changed
            content = json.dumps(body).encode()
        return content, status, response_headers

    def take(self) -> list[Exchange]:
        taken, self.exchanges = self.exchanges, []
        return taken


def assert_accepted(exchanges: list[Exchange]) -> None:
    """stripe-mock accepted every request (its OpenAPI validation passed), every request named
    the engine's API version (the spec's), and every POST carried an idempotency key Stripe
    accepts."""
    rejected = [(e, e.body) for e in exchanges if not 200 <= e.status < 300]
    assert not rejected, f"stripe-mock rejected: {rejected}"
    versions = {e.api_version for e in exchanges}
    assert versions <= {STRIPE_API_VERSION}, f"Stripe-Version sent: {versions}"
    unkeyed = [e for e in exchanges if e.method == "POST" and not e.idempotency_key]
    assert not unkeyed, f"POST without an Idempotency-Key: {unkeyed}"
    too_long = [e for e in exchanges if len(e.idempotency_key or "") > MAX_IDEMPOTENCY_KEY]
    assert not too_long, f"Idempotency-Key over {MAX_IDEMPOTENCY_KEY} characters: {too_long}"


def walk(value: Any, visit: Callable[[dict[str, Any]], None]) -> None:
    """Call ``visit`` on every JSON object in ``value``, parents before children."""
    if isinstance(value, dict):
        visit(value)
        for child in list(value.values()):
            walk(child, visit)
    elif isinstance(value, list):
        for child in value:
            walk(child, visit)


def subscription_flags(exchange: Exchange, body: Any) -> Any:
    """stripe-mock's fixture subscription is scheduled to cancel (``cancel_at``), paused and
    carries a card of its own (any ``expand`` of it fills one in), whatever was asked: the
    world's subscriptions have none of that unless the request just set it."""

    def reset(obj: dict[str, Any]) -> None:
        if obj.get("object") == "subscription":
            obj.update(cancel_at=None, canceled_at=None, ended_at=None, pause_collection=None)
            obj["cancel_at_period_end"] = False
            obj["default_payment_method"] = None

    walk(body, reset)
    if (
        exchange.method == "POST"
        and re.fullmatch(r"/v1/subscriptions/[^/]+", exchange.path)
        and isinstance(body, dict)
    ):
        params = exchange.params
        items = (body.get("items") or {}).get("data") or [{}]
        if params.get("cancel_at_period_end") == "true":
            # Flexible billing mode: the flag also sets ``cancel_at`` to the period end.
            body.update(cancel_at_period_end=True, cancel_at=items[0].get("current_period_end"))
        if "pause_collection[behavior]" in params:
            resumes_at = params.get("pause_collection[resumes_at]")
            body["pause_collection"] = {
                "behavior": params["pause_collection[behavior]"],
                "resumes_at": int(resumes_at) if resumes_at else None,
            }
        if params.get("default_payment_method"):
            body["default_payment_method"] = params["default_payment_method"]
    return body
