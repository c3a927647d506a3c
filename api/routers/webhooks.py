"""Stripe webhooks: authenticated by signature only, answered quickly, each event once."""

from __future__ import annotations

import json
import logging

import stripe
from fastapi import APIRouter, Depends, Request

from adapters.payments.base import STRIPE_API_VERSION
from api.context import AppContext, get_context
from api.errors import Problem
from api.payment_events import ingest_payment_event
from api.schemas import WebhookAck

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
logger = logging.getLogger("lifecycle.webhooks")

# Stripe's default: signatures older than five minutes are replays.
_SIGNATURE_TOLERANCE_SECONDS = 300


@router.post("/stripe", response_model=WebhookAck)
async def stripe_webhook(
    request: Request, context: AppContext = Depends(get_context)
) -> WebhookAck:
    secret = context.settings.stripe_webhook_secret
    if not secret:
        raise Problem(
            503,
            "webhooks are not configured: set STRIPE_WEBHOOK_SECRET",
            type="webhooks-not-configured",
        )
    payload = await request.body()
    header = request.headers.get("stripe-signature")
    if not header:
        raise Problem(400, "missing Stripe-Signature header", type="invalid-signature")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8", errors="replace"),
            header,
            secret,
            tolerance=_SIGNATURE_TOLERANCE_SECONDS,
        )
    except stripe.SignatureVerificationError as exc:
        raise Problem(400, f"invalid Stripe-Signature: {exc}", type="invalid-signature") from None
    try:
        body = json.loads(payload)
    except json.JSONDecodeError:
        raise Problem(400, "the event body is not JSON", type="invalid-event") from None
    if not isinstance(body, dict) or body.get("object") != "event" or "id" not in body:
        raise Problem(400, "the body is not a Stripe event", type="invalid-event")
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
    result = await ingest_payment_event(context, body, provider="stripe")
    return WebhookAck(received=True, duplicate=result.duplicate, status=result.status)
