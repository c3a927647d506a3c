"""``parse_event`` on invoice events whose subscription details are present but null."""

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


def test_invoice_event_with_null_subscription_details() -> None:
    # Older API versions put subscription_details at the top level, and it may be null.
    event = parse_event(_invoice_event(parent=None, subscription_details=None))
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
    legacy = parse_event(
        _invoice_event(
            subscription="sub_1", subscription_details={"metadata": {"customer_id": "c-1"}}
        )
    )
    assert legacy.engine_customer_id == "c-1"
    assert legacy.invoice is not None and legacy.invoice.subscription == "sub_1"
