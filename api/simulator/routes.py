"""Endpoints that exist only with the embedded payment simulator (no STRIPE_API_KEY):
the test clock, and stand-ins for Stripe's hosted pages (Checkout, the hosted invoice page,
the Customer Portal). What a customer does on a page feeds the events the simulator emitted
to the engine, as Stripe's webhooks would."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Header, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from adapters.payments.base import CardDeclined, PaymentError
from api.auth import require_admin
from api.context import AppContext, get_context
from api.customers.service import customer_view
from api.errors import SIMULATOR_PAGE_PROBLEMS, Problem, not_found, problem_responses
from api.simulator.schemas import CheckoutCompletion, TestClockAdvance, TestClockResult
from api.webhooks.payment_events import ingest_event
from db.models import Customer
from domain.emails import format_money
from domain.lifecycle import BillingInterval
from domain.payments import PriceRef

if TYPE_CHECKING:
    from collections.abc import Awaitable

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
        await ingest_event(context, event, provider="simulator")
    return [str(event["type"]) for event in events]


@admin_router.post(
    "/advance", response_model=TestClockResult, responses=problem_responses(404, 409, 503)
)
async def advance_test_clock(
    body: TestClockAdvance,
    context: AppContext = Depends(get_context),
    idempotency_key: str | None = Header(
        default=None,
        alias="Idempotency-Key",
        max_length=255,
        description="A retry with the same key answers the first advance, moving nothing.",
    ),
) -> TestClockResult:
    """Move the customer's test clock to the end of the current period: the simulator
    renews (or ends) the subscription, charges the card, and feeds the resulting events
    to the engine exactly as Stripe's webhooks would. Events this request could not feed
    (the API stopped half-way) are delivered again until acknowledged
    (``api.simulator.delivery``)."""
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
        events = await simulator.advance_to_period_end(
            customer.provider_customer_id,
            idempotency_key=f"test-clock:{body.customer_id}:{idempotency_key}"
            if idempotency_key
            else None,
        )
    except PaymentError as exc:
        raise Problem(409, str(exc), type="transition-not-allowed") from None
    types = await _feed(context, events)
    async with context.sessions() as session:
        refreshed = await session.get(Customer, body.customer_id)
    assert refreshed is not None
    return TestClockResult(events=types, customer=customer_view(refreshed))


# Test payment methods the pages offer (``adapters/payments/simulator/cards.py``); the
# Checkout page shows those of the types its session offers.
CHECKOUT_METHODS = (
    "pm_card_visa",
    "pm_card_authenticationRequired",
    "pm_sepaDebit",
    "pm_ideal",
    "pm_bancontact",
    "pm_upi",
    "pm_boleto",
    "pm_pix",
    "pm_card_chargeDeclined",
    "pm_card_chargeCustomerFail",
)
PORTAL_CARDS = ("pm_card_visa", "pm_card_mastercard", "pm_card_chargeCustomerFail")


class PlanChange(BaseModel):
    """A plan chosen in the portal, by its price's lookup key (``plan_pro_month``)."""

    price: str = Field(min_length=1)


class InvoicePayment(BaseModel):
    # None: complete 3-D Secure for the card already on the invoice.
    payment_method: str | None = None


def _options(values: tuple[str, ...]) -> str:
    return "".join(f"<option>{html.escape(v)}</option>" for v in values)


def _page(title: str, body: str) -> str:
    """A page whose forms POST JSON to their ``action`` and show the answer below."""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">
<h1>{html.escape(title)}</h1>
{body}
<script>
for (const form of document.querySelectorAll("form")) {{
  form.addEventListener("submit", async (e) => {{
    e.preventDefault();
    const body = Object.fromEntries(new FormData(e.target));
    const r = await fetch(e.target.action, {{
      method: "POST",
      headers: {{"content-type": "application/json"}},
      body: JSON.stringify(body),
    }});
    document.body.insertAdjacentHTML("beforeend", "<pre>" + (await r.text()) + "</pre>");
  }});
}}
</script></body></html>"""


async def _act(context: AppContext, action: Awaitable[list[dict]]) -> dict[str, object]:
    """Run a page action and deliver its events; declines and refusals as problems."""
    try:
        events = await action
    except CardDeclined as exc:
        raise Problem(
            402, str(exc), type="card-declined", extra={"decline_code": exc.decline_code}
        ) from None
    except PaymentError as exc:
        raise Problem(422, str(exc), type="payment-request-rejected") from None
    return {"events": await _feed(context, events)}


@public_router.get("/checkout/{session_id}", response_class=HTMLResponse)
async def checkout_page(session_id: str, context: AppContext = Depends(get_context)) -> str:
    """Offers the test payment methods of the types the session offers: the card, and the
    local methods of the customer's currency and country (``domain.payment_methods``)."""
    from adapters.payments.simulator.cards import SIM_CARDS

    simulator = _simulator(context)
    try:
        found = await simulator.get_checkout_session(session_id)
    except PaymentError:
        raise not_found("checkout session", session_id) from None
    offered = set(found["payment_method_types"])
    methods = tuple(m for m in CHECKOUT_METHODS if SIM_CARDS[m].type in offered)
    safe = html.escape(session_id)
    return _page(
        "Simulated checkout",
        f"""<p>This page stands in for Stripe Checkout while the engine runs without a Stripe
key. 3-D Secure completes on this page; a SEPA debit or a boleto completes the session
unpaid, and the subscription starts when the payment settles.</p>
<form method="post" action="/v1/simulator/checkout/{safe}/complete">
<label>Test payment method <select name="payment_method">{_options(methods)}</select>
</label> <button type="submit">Pay</button></form>""",
    )


@public_router.post("/checkout/{session_id}/complete", responses=SIMULATOR_PAGE_PROBLEMS)
async def complete_checkout(
    session_id: str, body: CheckoutCompletion, context: AppContext = Depends(get_context)
) -> dict[str, object]:
    """What a customer paying on the Checkout page does; the engine hears of it through
    ``checkout.session.completed`` like with Stripe."""
    simulator = _simulator(context)
    return await _act(context, simulator.complete_checkout(session_id, body.payment_method))


class CheckoutSettlement(BaseModel):
    """How the delayed payment of a completed Checkout ends: collected (true) or returned,
    unpaid (false)."""

    succeeded: bool = True


@admin_router.post("/checkout/{session_id}/settle", responses=SIMULATOR_PAGE_PROBLEMS)
async def settle_checkout(
    session_id: str, body: CheckoutSettlement, context: AppContext = Depends(get_context)
) -> dict[str, object]:
    """Days later at the bank: a Checkout paid by a method that settles later (a SEPA
    debit, a boleto) is paid or fails, and the engine hears
    ``checkout.session.async_payment_succeeded`` or ``..._failed`` as from Stripe."""
    simulator = _simulator(context)
    return await _act(context, simulator.settle_async_payment(session_id, succeeded=body.succeeded))


@public_router.get("/invoices/{invoice_id}", response_class=HTMLResponse)
async def invoice_page(invoice_id: str, context: AppContext = Depends(get_context)) -> str:
    """Stands in for Stripe's hosted invoice page: an open invoice can be paid here,
    completing 3-D Secure for the card on file or with another card."""
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
    safe = html.escape(invoice_id)
    pay = ""
    if invoice.status == "open":
        note = (
            "<p>Your bank asks you to confirm this payment (3-D Secure).</p>"
            if invoice.requires_action
            else ""
        )
        pay = f"""{note}<form method="post" action="/v1/simulator/invoices/{safe}/pay">
<button type="submit">Confirm and pay</button></form>
<form method="post" action="/v1/simulator/invoices/{safe}/pay">
<label>Or pay with <select name="payment_method">{_options(PORTAL_CARDS)}</select></label>
<button type="submit">Pay</button></form>"""
    return _page(
        f"Invoice {invoice.number or invoice.id}",
        f"""<p>Status: <strong>{html.escape(invoice.status)}</strong></p>
<table style="width: 100%">{lines}
<tr><th style="text-align:left">Total</th>
<th style="text-align:right">{format_money(invoice.total_cents, invoice.currency)}</th></tr>
<tr><td>Paid</td>
<td style="text-align:right">{format_money(invoice.amount_paid_cents, invoice.currency)}</td></tr>
</table>{pay}<pre>{html.escape(await simulator.invoice_text(invoice_id))}</pre>""",
    )


@public_router.post("/invoices/{invoice_id}/pay", responses=SIMULATOR_PAGE_PROBLEMS)
async def pay_invoice_page(
    invoice_id: str, body: InvoicePayment, context: AppContext = Depends(get_context)
) -> dict[str, object]:
    """Paying on the hosted invoice page; a decline shows in the events it returns."""
    simulator = _simulator(context)
    return await _act(
        context, simulator.pay_invoice_on_hosted_page(invoice_id, body.payment_method)
    )


@public_router.get(
    "/invoices/{invoice_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def invoice_pdf(invoice_id: str, context: AppContext = Depends(get_context)) -> Response:
    """A plain-text rendering where Stripe would serve a PDF."""
    simulator = _simulator(context)
    try:
        # The legal content: parties, tax ids, tax per rate, the reverse-charge mention.
        text = await simulator.invoice_text(invoice_id)
    except PaymentError:
        raise not_found("invoice", invoice_id) from None
    return Response(text, media_type="text/plain")


@public_router.get("/portal/{session_id}", response_class=HTMLResponse)
async def portal_page(session_id: str, context: AppContext = Depends(get_context)) -> str:
    """Stands in for the Stripe Customer Portal as the engine configures it: change plan
    (upgrades now, downgrades at the period end), cancel at the period end, replace the
    card."""
    _simulator(context)
    safe = html.escape(session_id)
    plans = tuple(
        PriceRef(plan_id, interval).lookup_key
        for plan_id, plan in context.config.catalog.plans.items()
        for interval in BillingInterval
        if context.config.catalog.price_cents(plan, interval) is not None
    )
    base = f"/v1/simulator/portal/{safe}"
    return _page(
        "Simulated customer portal",
        f"""<form method="post" action="{base}/plan"><label>Plan
<select name="price">{_options(plans)}</select></label>
<button type="submit">Change plan</button></form>
<form method="post" action="{base}/cancel"><button type="submit">Cancel plan</button></form>
<form method="post" action="{base}/renew"><button type="submit">Don't cancel</button></form>
<form method="post" action="{base}/payment-method"><label>New card
<select name="payment_method">{_options(PORTAL_CARDS)}</select></label>
<button type="submit">Save</button></form>""",
    )


@public_router.post("/portal/{session_id}/plan", responses=SIMULATOR_PAGE_PROBLEMS)
async def portal_change_plan(
    session_id: str, body: PlanChange, context: AppContext = Depends(get_context)
) -> dict[str, object]:
    simulator = _simulator(context)
    price = PriceRef.from_lookup_key(body.price)
    if price is None:
        raise Problem(422, f"not a plan price: {body.price}", type="payment-request-rejected")
    return await _act(context, simulator.portal_change_plan(session_id, price))


@public_router.post("/portal/{session_id}/cancel", responses=SIMULATOR_PAGE_PROBLEMS)
async def portal_cancel(
    session_id: str, context: AppContext = Depends(get_context)
) -> dict[str, object]:
    return await _act(context, _simulator(context).portal_cancel(session_id))


@public_router.post("/portal/{session_id}/renew", responses=SIMULATOR_PAGE_PROBLEMS)
async def portal_renew(
    session_id: str, context: AppContext = Depends(get_context)
) -> dict[str, object]:
    return await _act(context, _simulator(context).portal_reactivate(session_id))


@public_router.post("/portal/{session_id}/payment-method", responses=SIMULATOR_PAGE_PROBLEMS)
async def portal_update_card(
    session_id: str, body: CheckoutCompletion, context: AppContext = Depends(get_context)
) -> dict[str, object]:
    """What changing the card in the portal does: the engine hears
    ``payment_method.attached``, ``customer.updated`` and, when the subscription had its
    own card, ``customer.subscription.updated``."""
    simulator = _simulator(context)
    return await _act(context, simulator.portal_update_card(session_id, body.payment_method))
