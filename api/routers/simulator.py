"""Endpoints that exist only with the embedded payment simulator (no STRIPE_API_KEY):
the test clock, and a stand-in for Stripe's hosted Checkout page."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Response
from fastapi.responses import HTMLResponse

from adapters.payments.base import CardDeclined, PaymentError
from api.auth import require_admin
from api.context import AppContext, get_context
from api.errors import Problem, not_found
from api.payment_events import ingest_payment_event
from api.routers.customers import customer_view
from api.schemas import CheckoutCompletion, TestClockAdvance, TestClockResult
from db.models import Customer
from domain.emails import format_money

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


@public_router.get("/invoices/{invoice_id}", response_class=HTMLResponse)
async def invoice_page(invoice_id: str, context: AppContext = Depends(get_context)) -> str:
    """Stands in for Stripe's hosted invoice page."""
    simulator = _simulator(context)
    try:
        invoice = await simulator.get_invoice(invoice_id)
    except PaymentError:
        raise not_found("invoice", invoice_id) from None
    lines = "".join(
        f"<tr><td>{html.escape(line.description)}</td>"
        f"<td style='text-align:right'>"
        f"{format_money(line.amount_cents, invoice.currency)}</td></tr>"
        for line in invoice.lines
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Invoice {html.escape(invoice.number or invoice.id)}</title>
</head><body style="font-family: sans-serif; max-width: 36rem; margin: 3rem auto">
<h1>Invoice {html.escape(invoice.number or invoice.id)}</h1>
<p>Status: <strong>{html.escape(invoice.status)}</strong></p>
<table style="width: 100%">{lines}
<tr><th style="text-align:left">Total</th>
<th style="text-align:right">{format_money(invoice.total_cents, invoice.currency)}</th></tr>
<tr><td>Paid</td>
<td style="text-align:right">{format_money(invoice.amount_paid_cents, invoice.currency)}</td></tr>
</table></body></html>"""


@public_router.get("/invoices/{invoice_id}/pdf")
async def invoice_pdf(invoice_id: str, context: AppContext = Depends(get_context)) -> Response:
    """A plain-text rendering where Stripe would serve a PDF."""
    simulator = _simulator(context)
    try:
        invoice = await simulator.get_invoice(invoice_id)
    except PaymentError:
        raise not_found("invoice", invoice_id) from None
    text = "\n".join(
        [f"Invoice {invoice.number or invoice.id} ({invoice.status})"]
        + [
            f"{line.description}: {format_money(line.amount_cents, invoice.currency)}"
            for line in invoice.lines
        ]
        + [f"Total: {format_money(invoice.total_cents, invoice.currency)}"]
    )
    return Response(text, media_type="text/plain")


@public_router.get("/portal/{session_id}", response_class=HTMLResponse)
async def portal_page(session_id: str, context: AppContext = Depends(get_context)) -> str:
    """Stands in for the Stripe Customer Portal: replace the card."""
    _simulator(context)
    safe = html.escape(session_id)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Simulated customer portal</title></head>
<body style="font-family: sans-serif; max-width: 28rem; margin: 3rem auto">
<h1>Simulated customer portal</h1>
<form id="card"><label>New card <select name="payment_method">
<option>pm_card_visa</option><option>pm_card_mastercard</option>
<option>pm_card_chargeCustomerFail</option></select></label>
<button type="submit">Save</button></form>
<script>
document.getElementById("card").addEventListener("submit", async (e) => {{
  e.preventDefault();
  const pm = new FormData(e.target).get("payment_method");
  const r = await fetch("/v1/simulator/portal/{safe}/payment-method", {{
    method: "POST",
    headers: {{"content-type": "application/json"}},
    body: JSON.stringify({{payment_method: pm}}),
  }});
  document.body.insertAdjacentHTML("beforeend", "<pre>" + (await r.text()) + "</pre>");
}});
</script></body></html>"""


@public_router.post("/portal/{session_id}/payment-method")
async def portal_update_card(
    session_id: str, body: CheckoutCompletion, context: AppContext = Depends(get_context)
) -> dict[str, object]:
    """What changing the card in the portal does: the engine hears ``payment_method.attached``
    (and, past due, retries the open invoice with the new card)."""
    simulator = _simulator(context)
    try:
        portal = await simulator.get_checkout_session(session_id)
        provider_customer = str(portal["customer"])
        await simulator.attach_payment_method(
            provider_customer,
            body.payment_method,
            idempotency_key=f"portal:{session_id}:{body.payment_method}",
        )
    except CardDeclined as exc:
        raise Problem(
            402, str(exc), type="card-declined", extra={"decline_code": exc.decline_code}
        ) from None
    except PaymentError as exc:
        raise Problem(422, str(exc), type="payment-request-rejected") from None
    events = [
        e
        for e in await simulator.events(provider_customer)
        if e["type"] == "payment_method.attached"
    ][-1:]
    return {"events": await _feed(context, events)}
