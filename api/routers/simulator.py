"""Endpoints that exist only with the embedded payment simulator (no STRIPE_API_KEY):
the test clock, and a stand-in for Stripe's hosted Checkout page."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from adapters.payments.base import CardDeclined, PaymentError
from api.auth import require_admin
from api.context import AppContext, get_context
from api.errors import Problem, not_found
from api.payment_events import ingest_payment_event
from api.routers.customers import customer_view
from api.schemas import CheckoutCompletion, TestClockAdvance, TestClockResult
from db.models import Customer

if TYPE_CHECKING:
    from adapters.payments.simulator import SimulatedGateway

admin_router = APIRouter(
    prefix="/v1/admin/test-clock", tags=["simulator"], dependencies=[Depends(require_admin)]
)
public_router = APIRouter(prefix="/v1/simulator", tags=["simulator"])


def _simulator(context: AppContext) -> SimulatedGateway:
    from adapters.payments.simulator import SimulatedGateway

    if not isinstance(context.payments, SimulatedGateway):
        raise Problem(404, "the payment simulator is not in use", type="not-found")
    return context.payments


async def _feed(context: AppContext, events: list[dict]) -> list[str]:
    for event in events:
        await ingest_payment_event(context, event, provider="simulator")
    return [str(event["type"]) for event in events]


@admin_router.post("/advance", response_model=TestClockResult)
async def advance_test_clock(
    body: TestClockAdvance, context: AppContext = Depends(get_context)
) -> TestClockResult:
    """Move the customer's test clock to the end of the current period: the simulator
    renews (or ends) the subscription, charges the card, and feeds the resulting events
    to the engine exactly as Stripe's webhooks would."""
    simulator = _simulator(context)
    async with context.sessions() as session:
        customer = await session.get(Customer, body.customer_id)
    if customer is None:
        raise not_found("customer", body.customer_id)
    if not customer.provider_customer_id or not customer.provider_subscription_id:
        raise Problem(
            409, "the customer has no subscription to renew", type="transition-not-allowed"
        )
    try:
        events = await simulator.advance_to_period_end(customer.provider_customer_id)
    except PaymentError as exc:
        raise Problem(409, str(exc), type="transition-not-allowed") from None
    types = await _feed(context, events)
    async with context.sessions() as session:
        refreshed = await session.get(Customer, body.customer_id)
    assert refreshed is not None
    return TestClockResult(events=types, customer=customer_view(refreshed))


@public_router.get("/checkout/{session_id}", response_class=HTMLResponse)
async def checkout_page(session_id: str, context: AppContext = Depends(get_context)) -> str:
    _simulator(context)
    safe = html.escape(session_id)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Simulated checkout</title></head>
<body style="font-family: sans-serif; max-width: 28rem; margin: 3rem auto">
<h1>Simulated checkout</h1>
<p>This page stands in for Stripe Checkout while the engine runs without a Stripe key.</p>
<form method="post" action="/v1/simulator/checkout/{safe}/complete" id="pay">
<label>Test card <select name="payment_method">
<option>pm_card_visa</option><option>pm_card_chargeDeclined</option>
<option>pm_card_chargeCustomerFail</option></select></label>
<button type="submit">Pay</button></form>
<script>
document.getElementById("pay").addEventListener("submit", async (e) => {{
  e.preventDefault();
  const pm = new FormData(e.target).get("payment_method");
  const r = await fetch(e.target.action, {{
    method: "POST",
    headers: {{"content-type": "application/json"}},
    body: JSON.stringify({{payment_method: pm}}),
  }});
  document.body.insertAdjacentHTML("beforeend", "<pre>" + (await r.text()) + "</pre>");
}});
</script></body></html>"""


@public_router.post("/checkout/{session_id}/complete")
async def complete_checkout(
    session_id: str, body: CheckoutCompletion, context: AppContext = Depends(get_context)
) -> dict[str, object]:
    """What a customer paying on the Checkout page does; the engine hears of it through
    ``checkout.session.completed`` like with Stripe."""
    simulator = _simulator(context)
    try:
        events = await simulator.complete_checkout(session_id, body.payment_method)
    except CardDeclined as exc:
        raise Problem(
            402, str(exc), type="card-declined", extra={"decline_code": exc.decline_code}
        ) from None
    except PaymentError as exc:
        raise Problem(422, str(exc), type="payment-request-rejected") from None
    return {"events": await _feed(context, events)}
