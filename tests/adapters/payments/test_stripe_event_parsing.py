"""``parse_event`` on invoice events: the subscription under ``parent.subscription_details``
(which is null on an invoice of no subscription), and nowhere else. Stripe's own fixtures
go through the parser in ``tests/contract/test_stripe_fixtures.py``."""

from __future__ import annotations

from adapters.payments.stripe_objects import parse_event


def _invoice_event(**invoice: object) -> dict[str, object]:
    base = {
        "id": "in_1",
        "object": "invoice",
        "customer": "cus_1",
        "status": "paid",
        "created": 1_767_225_600,
    }
    return {
        "id": "evt_1",
        "type": "invoice.paid",
        "created": 1_767_225_600,
        "data": {"object": {**base, **invoice}},
    }


def test_invoice_event_of_no_subscription() -> None:
    event = parse_event(_invoice_event(parent=None))
    assert event.invoice is not None
    assert event.engine_customer_id is None
    assert event.provider_customer_id == "cus_1"


def test_invoice_event_names_the_engine_customer() -> None:
    current = parse_event(
        _invoice_event(
            parent={
                "type": "subscription_details",
                "subscription_details": {
                    "subscription": "sub_1",
                    "metadata": {"customer_id": "c-1"},
                },
            }
        )
    )
    assert current.engine_customer_id == "c-1"
    assert current.invoice is not None and current.invoice.subscription == "sub_1"
    assert current.subscription_id == "sub_1"


def test_invoice_event_in_an_older_shape_is_not_guessed_at() -> None:
    # Before 2025-03-31 the subscription was a top-level field. The webhook endpoint refuses
    # events of other API versions, so the parser has no fallback to read it.
    legacy = parse_event(
        _invoice_event(
            subscription="sub_1", subscription_details={"metadata": {"customer_id": "c-1"}}
        )
    )
    assert legacy.engine_customer_id is None
    assert legacy.subscription_id is None
