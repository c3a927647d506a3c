"""The billing activities' registered names are in every recorded workflow history: moving
a method between the package's modules must leave them as they were."""

from __future__ import annotations

from temporalio.activity import _Definition

from activities.billing import BillingActivities

RECORDED_NAMES = {
    "ensure_provider_customer",
    "erase_provider_customer",
    "attach_payment_method",
    "sync_payment_method",
    "purchase_addon",
    "create_subscription",
    "change_price",
    "schedule_price_change",
    "subscription_command",
    "fetch_subscription",
    "fetch_invoice",
    "invoice_command",
}


def test_billing_activities_keep_their_registered_names() -> None:
    names = {
        definition.name
        for attribute in dir(BillingActivities)
        if (definition := _Definition.from_callable(getattr(BillingActivities, attribute)))
    }
    assert names == RECORDED_NAMES
