"""A Stripe webhook delivery: authenticated by signature only, refused whole when it is not
an event the engine can read and store, then taken in once (``payment_events``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

from sqlalchemy.exc import DBAPIError

from adapters.payments.base import STRIPE_API_VERSION
from adapters.payments.stripe_objects import parse_event
from api.context import AppContext
from api.errors import Problem, first_unstorable
from api.webhooks.payment_events import ingest_event
from core.metrics import WEBHOOKS
from db.writes import is_refused_value
from services.payment_events import IngestResult
from services.security import WEBHOOK_FORGED, WEBHOOK_SECRET_RETIRED, record_security_event

logger = logging.getLogger("lifecycle.webhooks")

# Stripe's default: signatures older than five minutes are replays.
_SIGNATURE_TOLERANCE_SECONDS = 300
# Stripe's events nest a handful of levels and its ids are short; anything far beyond is
# not an event worth storing (and the inbox's columns hold 255 and 128 characters).
_MAX_DEPTH = 32
_MAX_ID = 255
_MAX_TYPE = 128
_RETIRED = "invalid Stripe-Signature: signed with a retired secret"


def signature_error(payload: bytes, header: str, secret: str, *, now: float) -> str | None:
    """Why a ``Stripe-Signature`` does not sign these exact bytes, or None when it does.

    Stripe signs ``"<t>.<raw body>"`` with HMAC-SHA256. Checked here over the raw bytes:
    the library decodes the body first, which fails on bytes that are not UTF-8 (and a
    replacement-decoded body would be a different message from the one signed)."""
    timestamp: int | None = None
    signatures: list[bytes] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value) if len(value) <= 12 else None
            except ValueError:
                timestamp = None
        elif key == "v1":
            signatures.append(value.encode("ascii", errors="replace"))
    if timestamp is None or not signatures:
        return "no timestamp or no v1 signature in the header"
    expected = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + payload, hashlib.sha256
    ).hexdigest()
    if not any(hmac.compare_digest(expected.encode(), given) for given in signatures):
        return "no signature matches the payload"
    if abs(now - timestamp) > _SIGNATURE_TOLERANCE_SECONDS:
        return "the timestamp is outside the tolerance zone"
    return None


def _invalid(detail: str) -> Problem:
    return Problem(400, detail, type="invalid-event")


def _depth_exceeds(document: Any, limit: int) -> bool:
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            items = value.values() if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)
    return False


def _event_body(payload: bytes) -> dict[str, Any]:
    """The signed body as an event, or a 400 naming what is wrong with it: whatever it
    holds is refused here, before anything is stored or signalled."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("the event body is not UTF-8") from None
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise _invalid("the event body is not JSON") from None
    if not isinstance(body, dict) or body.get("object") != "event":
        raise _invalid("the body is not a Stripe event")
    if _depth_exceeds(body, _MAX_DEPTH):
        raise _invalid(f"the event nests deeper than {_MAX_DEPTH} levels")
    fault = first_unstorable(body)
    if fault is not None:
        raise _invalid(f"the event cannot be stored: {fault.detail}")
    for name, limit in (("id", _MAX_ID), ("type", _MAX_TYPE)):
        value = body.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= limit:
            raise _invalid(f"the event's {name} must be a string of 1 to {limit} characters")
    try:
        event = parse_event(body)
    except (ArithmeticError, AttributeError, LookupError, TypeError, ValueError) as exc:
        raise _invalid(f"not a valid event: {exc}") from None
    for name, value in (
        ("customer", event.provider_customer_id),
        ("invoice", event.invoice_id),
        ("customer_id metadata", event.engine_customer_id),
    ):
        if value is not None and (not isinstance(value, str) or len(value) > _MAX_ID):
            raise _invalid(f"the event's {name} is not an id")
    return body


async def receive_stripe_event(
    context: AppContext, payload: bytes, signature: str | None, *, client_ip: str | None = None
) -> IngestResult:
    """Check the delivery (configured secret, signature, body, API version), then take the
    event in; a 400 or 503 tells Stripe to deliver it again. Each delivery is counted by
    outcome (``lifecycle_webhooks_received_total``: refusals here, the rest by
    ``ingest_event``). Forged deliveries go to the security log and count against the
    sender's address like failed authentications (429 past the limit)."""
    wait = context.keys.limiter.retry_after(client_ip)
    if wait is not None:
        WEBHOOKS.labels("stripe", "forged").inc()
        raise Problem(
            429,
            f"too many forged deliveries from this address; retry in {wait} s",
            type="too-many-failed-authentications",
            headers={"Retry-After": str(wait)},
        )
    try:
        body = _checked_event(context, payload, signature)
    except Problem as problem:
        outcome = {
            "invalid-signature": "forged",
            "webhooks-not-configured": "unconfigured",
        }.get(problem.type, "invalid")
        WEBHOOKS.labels("stripe", outcome).inc()
        if outcome == "forged":
            await record_security_event(
                context.sessions,
                WEBHOOK_SECRET_RETIRED if problem.detail == _RETIRED else WEBHOOK_FORGED,
                client_ip=client_ip,
                detail={"reason": problem.detail},
            )
            context.keys.limiter.failed(client_ip)
        raise
    try:
        return await ingest_event(context, body, provider="stripe")
    except DBAPIError as exc:
        if not is_refused_value(exc):
            raise
        WEBHOOKS.labels("stripe", "invalid").inc()
        raise _invalid("the event holds a value the engine cannot store") from None


def _checked_event(context: AppContext, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The delivery's event, or the problem that refuses it."""
    secret = context.settings.stripe_webhook_secret
    if not secret:
        raise Problem(
            503,
            "webhooks are not configured: set STRIPE_WEBHOOK_SECRET",
            type="webhooks-not-configured",
        )
    if not signature:
        raise Problem(400, "missing Stripe-Signature header", type="invalid-signature")
    now = time.time()
    reason = signature_error(payload, signature, secret, now=now)
    previous = context.settings.stripe_webhook_secret_previous
    if reason is not None and previous:
        # During a rotation both secrets sign (Stripe's "roll secret" keeps the old one
        # valid for a while); after the overlap the old one is refused, and named in the
        # security log: whoever still holds it is not Stripe's current endpoint.
        until = context.settings.stripe_webhook_secret_previous_until
        if signature_error(payload, signature, previous, now=now) is None:
            if until is not None and now < until.timestamp():
                reason = None
            else:
                raise Problem(400, _RETIRED, type="invalid-signature")
    if reason is not None:
        raise Problem(400, f"invalid Stripe-Signature: {reason}", type="invalid-signature")
    body = _event_body(payload)
    version = body.get("api_version")
    if version != STRIPE_API_VERSION:
        # The payload's shape follows the endpoint's version, and the parser reads only the
        # engine's: a mismatched endpoint would be misread silently. Refused, so that Stripe
        # keeps retrying (and warns about the failing endpoint) until it is fixed.
        logger.error(
            "Stripe webhook %s refused: the endpoint sends API version %s, the engine reads "
            "%s (recreate the endpoint at %s)",
            body.get("id"),
            version,
            STRIPE_API_VERSION,
            STRIPE_API_VERSION,
        )
        raise Problem(
            400,
            f"the event is rendered at Stripe API version {version}, the engine reads "
            f"{STRIPE_API_VERSION}: create the webhook endpoint at {STRIPE_API_VERSION}",
            type="api-version-mismatch",
            extra={"expected_api_version": STRIPE_API_VERSION, "api_version": version},
        )
    return body
