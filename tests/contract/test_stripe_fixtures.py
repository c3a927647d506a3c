"""Stripe's own example objects (the fixtures of the spec stripe-mock embeds, at
``STRIPE_API_VERSION``) through the real parsing code, one per event type the engine handles.

Each fixture object is wrapped in an event envelope shaped per the spec's ``event`` schema;
where a scenario needs a value the generic fixture lacks (a paused status, an expanded
PaymentIntent with a decline), it is grafted on and the graft is validated against the spec.
Every field the parser reads is also looked up in the spec's schemas, so a version bump that
moves one fails here, loudly, instead of parsing to ``None`` in production.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jsonschema
import pytest

from adapters.payments.base import STRIPE_API_VERSION
from adapters.payments.stripe_objects import (
    is_preview,
    parse_event,
    parse_invoice,
    parse_payment_method,
    parse_subscription,
)
from tests.factories.stripe_spec import fixtures, spec

Json = dict[str, Any]

SUBSCRIPTION_EVENTS = [
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
]
INVOICE_EVENTS = [
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.voided",
    "invoice.marked_uncollectible",
]
CHECKOUT_EVENTS = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
]
SCHEDULE_EVENTS = [
    "subscription_schedule.created",
    "subscription_schedule.updated",
    "subscription_schedule.released",
    "subscription_schedule.canceled",
    "subscription_schedule.completed",
]
PAYMENT_METHOD_EVENTS = [
    "payment_method.attached",
    "payment_method.detached",
    "payment_method.automatically_updated",
]

# What the parser reads, per object type (``data`` steps into a list's items).
READS: dict[str, list[str]] = {
    "event": ["id", "type", "created", "api_version", "data.object", "data.previous_attributes"],
    "subscription": [
        "id",
        "customer",
        "status",
        "items.data.id",
        "items.data.price.lookup_key",
        "items.data.quantity",
        "items.data.current_period_start",
        "items.data.current_period_end",
        "cancel_at",
        "cancel_at_period_end",
        "canceled_at",
        "cancellation_details.reason",
        "pause_collection.resumes_at",
        "schedule",
        "latest_invoice",
        "metadata",
        "default_payment_method",
    ],
    "invoice": [
        "id",
        "customer",
        "parent.subscription_details.subscription",
        "parent.subscription_details.metadata",
        "number",
        "status",
        "currency",
        "subtotal",
        "total",
        "amount_due",
        "amount_paid",
        "amount_remaining",
        "billing_reason",
        "created",
        "period_start",
        "period_end",
        "status_transitions.paid_at",
        "hosted_invoice_url",
        "invoice_pdf",
        "attempt_count",
        "next_payment_attempt",
        "lines.data.description",
        "lines.data.amount",
        "lines.data.quantity",
        "lines.data.period.start",
        "lines.data.period.end",
        "lines.data.parent.subscription_item_details.proration",
        "lines.data.parent.invoice_item_details.proration",
        "lines.data.pricing.price_details.price",
        "payments.data.created",
        "payments.data.payment.payment_intent",
    ],
    "payment_intent": [
        "id",
        "status",
        "last_payment_error.code",
        "last_payment_error.decline_code",
    ],
    "subscription_schedule": [
        "subscription",
        "customer",
        "metadata",
        "status",
        "current_phase.end_date",
        "phases.start_date",
        "phases.items.price",
    ],
    "checkout.session": ["id", "customer", "client_reference_id", "metadata", "subscription"],
    "payment_method": [
        "id",
        "customer",
        "card.brand",
        "card.last4",
        "card.exp_month",
        "card.exp_year",
    ],
    "customer": ["id", "metadata", "invoice_settings.default_payment_method"],
    "charge": ["id", "customer", "payment_intent", "amount", "amount_refunded", "currency"],
    "dispute": ["id", "charge", "payment_intent", "amount", "currency", "reason"],
}


# -- the spec ---------------------------------------------------------------------------


def _schema(ref: str) -> Json:
    schema: Json = spec()["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


def _candidates(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The object schemas a property may hold: through ``$ref`` and ``anyOf``."""
    if "$ref" in schema:
        return _candidates(_schema(schema["$ref"]))
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return [c for option in options for c in _candidates(option)]
    return [schema]


def spec_has(schema_name: str, path: str) -> bool:
    level: list[Mapping[str, Any]] = [_schema(schema_name)]
    for step in path.split("."):
        following: list[Mapping[str, Any]] = []
        for schema in level:
            for candidate in _candidates(schema):
                if candidate.get("type") == "array" and step != "data":
                    # A bare array (``phases``): the step is a field of its items.
                    for item in _candidates(candidate["items"]):
                        if step in (item.get("properties") or {}):
                            following.append(item["properties"][step])
                    continue
                prop = (candidate.get("properties") or {}).get(step)
                if prop is None:
                    continue
                if step == "data" and prop.get("type") == "array":
                    following.extend(_candidates(prop["items"]))
                else:
                    following.append(prop)
        if not following:
            return False
        level = following
    return True


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 to JSON Schema: ``nullable`` becomes a ``null`` alternative."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    converted = {
        k: _json_schema(v) for k, v in node.items() if not k.startswith("x-") and k != "nullable"
    }
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@cache
def _schemas() -> Json:
    return {"components": {"schemas": _json_schema(spec()["components"]["schemas"])}}


def validate(schema_name: str, value: Any) -> None:
    jsonschema.validate(value, {**_schemas(), "$ref": f"#/components/schemas/{schema_name}"})


# -- events ---------------------------------------------------------------------------


def fixture(kind: str) -> Json:
    return copy.deepcopy(fixtures()[kind])


def envelope(type_: str, obj: Json, previous: Json | None = None) -> Json:
    """A webhook event per the spec's ``event`` schema, as the endpoint receives it."""
    data: Json = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    event: Json = {
        "id": "evt_1Pgc76B7WZ01zgkWwyRHS12y",
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": 1_767_225_600,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }
    schema = _schema("event")
    assert set(schema["required"]) <= set(event) <= set(schema["properties"])
    # The envelope alone (each object is Stripe's own fixture, or validated where grafted).
    validate("event", {**event, "data": {**data, "object": {}}})
    return event


def ts(value: int) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def test_the_spec_is_the_pinned_version() -> None:
    assert spec()["info"]["version"] == STRIPE_API_VERSION


@pytest.mark.parametrize(("kind", "path"), [(k, p) for k, paths in READS.items() for p in paths])
def test_the_spec_has_every_field_the_parser_reads(kind: str, path: str) -> None:
    assert spec_has(kind, path), f"{kind}.{path} is not in Stripe's {STRIPE_API_VERSION} spec"


@pytest.mark.parametrize("kind", [k for k in READS if k != "event"])
def test_the_fixtures_carry_the_fields_the_parser_reads(kind: str) -> None:
    obj = fixtures()[kind]
    assert obj["object"] == kind
    # Top-level fields are always present (null when unset); deeper ones only when set.
    top = {path.split(".")[0] for path in READS[kind]}
    # ``payments`` is included only when expanded, so the fixture leaves it out or null.
    assert top - set(obj) <= {"payments"}, f"{kind} fixture lacks {sorted(top - set(obj))}"


def test_fields_stripe_removed_are_not_read() -> None:
    # The invoice of a refund or dispute: a Charge no longer names it (invoice_payments do).
    assert not spec_has("charge", "invoice")
    assert spec_has("invoice_payment", "payment.payment_intent")
    assert spec_has("invoice_payment", "invoice")
    # The decline code: the PaymentIntent's, not the invoice's.
    assert not spec_has("invoice", "last_payment_error")
    # An invoice's subscription lives under its parent.
    assert not spec_has("invoice", "subscription")
    # Periods live on the subscription's items.
    assert not spec_has("subscription", "current_period_end")


# -- subscriptions ------------------------------------------------------------------------


@pytest.mark.parametrize("type_", SUBSCRIPTION_EVENTS)
def test_subscription_events(type_: str) -> None:
    sub = fixture("subscription")
    sub["metadata"] = {"customer_id": "c-1"}
    item = sub["items"]["data"][0]
    event = parse_event(envelope(type_, sub, previous={"status": "active"}))

    assert (event.id, event.type, event.api_version) == (
        "evt_1Pgc76B7WZ01zgkWwyRHS12y",
        type_,
        STRIPE_API_VERSION,
    )
    assert (event.object_type, event.object_id) == ("subscription", sub["id"])
    assert event.subscription_id == sub["id"]
    assert event.provider_customer_id == sub["customer"]
    assert event.engine_customer_id == "c-1"
    info = event.subscription
    assert info is not None
    assert info == parse_subscription(sub)
    assert info.status == sub["status"]
    # The period is the plan item's.
    assert info.current_period_start == ts(item["current_period_start"])
    assert info.current_period_end == ts(item["current_period_end"])
    assert [i.id for i in info.items] == [item["id"]]
    assert info.cancel_at == ts(sub["cancel_at"])
    assert info.cancel_at_period_end
    assert info.canceled_at == ts(sub["canceled_at"])


def test_subscription_canceled_in_the_portal_in_flexible_mode() -> None:
    """The Portal sets ``cancel_at`` and leaves the flag false: still a scheduled cancel."""
    sub = fixture("subscription")
    sub.update(cancel_at_period_end=False, canceled_at=None)
    info = parse_subscription(sub)
    assert info.cancel_at == ts(sub["cancel_at"])
    assert info.cancel_at_period_end


@pytest.mark.parametrize("reason", ["payment_failed", "payment_disputed", "cancellation_requested"])
def test_subscription_deleted_names_why(reason: str) -> None:
    sub = fixture("subscription")
    sub["status"] = "canceled"
    sub["cancellation_details"]["reason"] = reason
    validate("subscription", sub)
    event = parse_event(envelope("customer.subscription.deleted", sub))
    assert event.subscription is not None
    assert event.subscription.status == "canceled"
    assert event.subscription.cancellation_reason == reason


def test_subscription_paused_and_resumed() -> None:
    """The pause endpoint (or a trial ending without a card) sets ``status: paused`` and no
    ``pause_collection``."""
    paused = fixture("subscription")
    paused.update(status="paused", pause_collection=None)
    validate("subscription", paused)
    event = parse_event(envelope("customer.subscription.paused", paused))
    assert event.subscription is not None and event.subscription.paused

    resumed = fixture("subscription")
    resumed.update(status="active", pause_collection=None)
    event = parse_event(envelope("customer.subscription.resumed", resumed))
    assert event.subscription is not None and not event.subscription.paused

    # Collection paused (the engine's own pause): the fixture's ``pause_collection``.
    collecting = parse_subscription(fixture("subscription"))
    assert collecting.paused


def test_subscription_card_saved_by_checkout() -> None:
    sub = fixture("subscription")
    card = fixture("payment_method")
    sub["default_payment_method"] = card["id"]
    validate("subscription", sub)
    assert parse_subscription(sub).default_payment_method == card["id"]
    # Expanded, it is the same card.
    sub["default_payment_method"] = card
    assert parse_subscription(sub).default_payment_method == card["id"]


# -- invoices -------------------------------------------------------------------------


def invoice_with_payment(intent: Json) -> Json:
    """The invoice fixture with its latest payment's PaymentIntent expanded
    (``expand=payments.data.payment.payment_intent``), and a line naming its price."""
    invoice = fixture("invoice")
    payment = fixture("invoice_payment")
    payment.update(
        invoice=invoice["id"], payment={"type": "payment_intent", "payment_intent": intent}
    )
    invoice["payments"] = {
        "object": "list",
        "data": [payment],
        "has_more": False,
        "url": f"/v1/invoices/{invoice['id']}/payments",
    }
    price = fixtures()["price"]
    invoice["lines"]["data"][0]["pricing"]["price_details"] = {
        "price": price["id"],
        "product": price["product"],
    }
    validate("invoice", invoice)
    return invoice


def declined_intent(**error: str) -> Json:
    intent = fixture("payment_intent")
    intent.update(status="requires_payment_method", last_payment_error=error)
    validate("payment_intent", intent)
    return intent


@pytest.mark.parametrize("type_", INVOICE_EVENTS)
def test_invoice_events(type_: str) -> None:
    invoice = fixture("invoice")
    invoice["parent"]["subscription_details"]["metadata"] = {"customer_id": "c-1"}
    event = parse_event(envelope(type_, invoice))

    assert (event.object_type, event.object_id) == ("invoice", invoice["id"])
    assert event.invoice_id == invoice["id"]
    assert event.provider_customer_id == invoice["customer"]
    # The subscription, from the invoice's parent.
    subscription = invoice["parent"]["subscription_details"]["subscription"]
    assert event.subscription_id == subscription
    assert event.engine_customer_id == "c-1"
    info = event.invoice
    assert info is not None
    assert info == parse_invoice(invoice)
    assert info.subscription == subscription
    assert (info.status, info.amount_due_cents, info.currency) == (
        invoice["status"],
        invoice["amount_due"],
        invoice["currency"],
    )
    (line,) = info.lines
    assert line.amount_cents == invoice["lines"]["data"][0]["amount"]
    # Not expanded: neither a payment nor a decline to read.
    assert info.payment_intent is None and info.decline_code is None


def test_invoice_payment_failed_with_the_decline_on_the_payment_intent() -> None:
    intent = declined_intent(type="card_error", code="card_declined", decline_code="expired_card")
    invoice = invoice_with_payment(intent)
    event = parse_event(envelope("invoice.payment_failed", invoice))
    assert event.invoice is not None
    assert event.invoice.decline_code == "expired_card"
    assert event.invoice.payment_intent == intent["id"]
    assert not event.invoice.requires_action
    # Without a decline code (an error of another kind), its code.
    other = invoice_with_payment(declined_intent(type="card_error", code="incorrect_cvc"))
    assert parse_invoice(other).decline_code == "incorrect_cvc"


def test_invoice_payment_action_required() -> None:
    """3-D Secure on a renewal: the PaymentIntent waits for the customer."""
    intent = fixture("payment_intent")
    intent.update(status="requires_action", last_payment_error=None)
    validate("payment_intent", intent)
    event = parse_event(envelope("invoice.payment_action_required", invoice_with_payment(intent)))
    assert event.invoice is not None
    assert event.invoice.requires_action
    assert event.invoice.decline_code is None


def test_invoice_lines_name_their_price_by_id() -> None:
    invoice = invoice_with_payment(fixture("payment_intent"))
    (line,) = parse_invoice(invoice).lines
    price = fixtures()["price"]
    assert line.price_id == price["id"]
    # An id, not a price: the gateway maps it to the lookup key.
    assert line.price_lookup_key is None


def test_invoice_with_the_payment_not_expanded() -> None:
    invoice = invoice_with_payment(fixture("payment_intent"))
    intent_id = fixtures()["payment_intent"]["id"]
    invoice["payments"]["data"][0]["payment"]["payment_intent"] = intent_id
    info = parse_invoice(invoice)
    assert info.payment_intent == intent_id
    assert info.decline_code is None and not info.requires_action


@pytest.mark.parametrize("preview_id", [None, "upcoming_in_1Pgc6tB7WZ01zgkWu9fdqL6I"])
def test_invoice_upcoming_is_a_preview(preview_id: str | None) -> None:
    invoice = fixture("invoice")
    if preview_id is None:
        del invoice["id"]
    else:
        invoice["id"] = preview_id
    assert is_preview(invoice)
    assert not is_preview(fixtures()["invoice"])
    event = parse_event(envelope("invoice.upcoming", invoice))
    assert event.invoice is None
    assert event.invoice_id is None
    # Still names whose renewal it previews.
    assert event.subscription_id == invoice["parent"]["subscription_details"]["subscription"]
    assert event.provider_customer_id == invoice["customer"]


# -- checkout, schedules, cards, customers ----------------------------------------------------


@pytest.mark.parametrize("type_", CHECKOUT_EVENTS)
def test_checkout_session_events(type_: str) -> None:
    session = fixture("checkout.session")
    customer = fixtures()["customer"]["id"]
    subscription = fixtures()["subscription"]["id"]
    session.update(
        mode="subscription", customer=customer, subscription=subscription, client_reference_id="c-1"
    )
    validate("checkout.session", session)
    event = parse_event(envelope(type_, session))
    assert (event.object_type, event.object_id) == ("checkout.session", session["id"])
    assert event.checkout_subscription_id == subscription
    assert event.subscription_id == subscription
    assert event.provider_customer_id == customer
    assert event.engine_customer_id == "c-1"

    # Found by the session's metadata when it has no client reference.
    session.update(client_reference_id=None, metadata={"customer_id": "c-2"})
    assert parse_event(envelope(type_, session)).engine_customer_id == "c-2"


@pytest.mark.parametrize("type_", SCHEDULE_EVENTS)
def test_subscription_schedule_events(type_: str) -> None:
    schedule = fixture("subscription_schedule")
    subscription = fixtures()["subscription"]["id"]
    schedule.update(subscription=subscription, metadata={"customer_id": "c-1"})
    validate("subscription_schedule", schedule)
    event = parse_event(envelope(type_, schedule))
    assert (event.object_type, event.object_id) == ("subscription_schedule", schedule["id"])
    assert event.subscription_id == subscription
    assert event.provider_customer_id == schedule["customer"]
    assert event.engine_customer_id == "c-1"
    assert event.subscription is None and event.invoice is None


@pytest.mark.parametrize("type_", PAYMENT_METHOD_EVENTS)
def test_payment_method_events(type_: str) -> None:
    card = fixture("payment_method")
    customer = fixtures()["customer"]["id"]
    previous: Json | None = None
    if type_ == "payment_method.detached":
        # A detached card names no customer; the event says whose it was.
        card["customer"] = None
        previous = {"customer": customer}
    else:
        card["customer"] = customer
    validate("payment_method", card)
    event = parse_event(envelope(type_, card, previous))
    assert (event.object_type, event.object_id) == ("payment_method", card["id"])
    assert event.provider_customer_id == customer
    assert event.payment_method == parse_payment_method(card)
    assert event.payment_method is not None
    assert (event.payment_method.brand, event.payment_method.last4) == (
        card["card"]["brand"],
        card["card"]["last4"],
    )
    assert (event.payment_method.exp_month, event.payment_method.exp_year) == (
        card["card"]["exp_month"],
        card["card"]["exp_year"],
    )


def test_customer_updated() -> None:
    customer = fixture("customer")
    card = fixtures()["payment_method"]["id"]
    customer["metadata"] = {"customer_id": "c-1"}
    customer["invoice_settings"]["default_payment_method"] = card
    validate("customer", customer)
    event = parse_event(
        envelope(
            "customer.updated",
            customer,
            previous={"invoice_settings": {"default_payment_method": None}},
        )
    )
    assert (event.object_type, event.object_id) == ("customer", customer["id"])
    assert event.provider_customer_id == customer["id"]
    assert event.engine_customer_id == "c-1"


# -- refunds and disputes ---------------------------------------------------------------------


def test_charge_refunded() -> None:
    charge = fixture("charge")
    intent = fixtures()["payment_intent"]["id"]
    customer = fixtures()["customer"]["id"]
    charge.update(payment_intent=intent, customer=customer, refunded=True, amount_refunded=100)
    validate("charge", charge)
    event = parse_event(envelope("charge.refunded", charge))
    assert (event.object_type, event.object_id) == ("charge", charge["id"])
    assert event.provider_customer_id == customer
    # The invoice is found through the PaymentIntent (the gateway's invoice_payments list).
    assert event.extra == {
        "payment_intent": intent,
        "charge": charge["id"],
        "amount_cents": charge["amount"],
        "amount_refunded_cents": 100,
        "currency": charge["currency"],
        "reason": None,
    }


def test_charge_dispute_created() -> None:
    dispute = fixture("dispute")
    intent = fixtures()["payment_intent"]["id"]
    dispute["payment_intent"] = intent
    validate("dispute", dispute)
    event = parse_event(envelope("charge.dispute.created", dispute))
    assert (event.object_type, event.object_id) == ("dispute", dispute["id"])
    assert event.extra["payment_intent"] == intent
    assert event.extra["charge"] == dispute["charge"]
    assert event.extra["reason"] == dispute["reason"]
    assert event.extra["amount_cents"] == dispute["amount"]
