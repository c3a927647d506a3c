"""HTTP routes of provider webhooks: Stripe's, authenticated by signature only, answered
quickly, each event once."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from api.context import AppContext, get_context
from api.errors import RAW_BODY_ENDPOINTS, problem_responses
from api.webhooks import service
from api.webhooks.schemas import WebhookAck

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post(
    "/stripe",
    response_model=WebhookAck,
    responses=problem_responses(400, 503),
    openapi_extra={"security": []},
)
async def stripe_webhook(
    request: Request, context: AppContext = Depends(get_context)
) -> WebhookAck:
    # The signature covers the exact bytes, so the body is read raw, never parsed first.
    result = await service.receive_stripe_event(
        context,
        await request.body(),
        request.headers.get("stripe-signature"),
        client_ip=request.client.host if request.client else None,
    )
    return WebhookAck(received=True, duplicate=result.duplicate, status=result.status)


RAW_BODY_ENDPOINTS.add(stripe_webhook)
