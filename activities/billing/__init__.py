"""Billing activities: every call to the payment provider, and the mirror of what it did.

Each activity passes the caller's idempotency key (derived from the customer and the
workflow's command sequence) to the provider, so a retry after a crash at any line
returns the first result instead of charging again; database writes are upserts.

The activities live by concern (``customers``, ``subscriptions``, ``invoices``);
``BillingActivities`` gathers them on one object for the worker and the workflows' stubs.
Their registered names (``activity.defn(name=...)``) are what workflow histories record,
so moving a method between modules never changes them.
"""

from __future__ import annotations

from activities.billing.customers import ProviderCustomerActivities
from activities.billing.failures import final_failures, payment_failure
from activities.billing.inputs import (
    AttachPaymentMethodInput,
    ChangePriceInput,
    CreateSubscriptionInput,
    EnsureProviderCustomerInput,
    EraseProviderCustomerInput,
    FetchInvoiceInput,
    FetchSubscriptionInput,
    InvoiceCommandInput,
    PurchaseAddonInput,
    PurchaseAddonResult,
    SchedulePriceChangeInput,
    SubscriptionCommandInput,
    SyncPaymentMethodInput,
)
from activities.billing.invoices import InvoiceActivities
from activities.billing.subscriptions import SubscriptionActivities


class BillingActivities(ProviderCustomerActivities, SubscriptionActivities, InvoiceActivities):
    """All billing activities on one object, sharing one gateway and session factory."""


__all__ = [
    "AttachPaymentMethodInput",
    "BillingActivities",
    "ChangePriceInput",
    "CreateSubscriptionInput",
    "EnsureProviderCustomerInput",
    "EraseProviderCustomerInput",
    "FetchInvoiceInput",
    "FetchSubscriptionInput",
    "InvoiceActivities",
    "InvoiceCommandInput",
    "ProviderCustomerActivities",
    "PurchaseAddonInput",
    "PurchaseAddonResult",
    "SchedulePriceChangeInput",
    "SubscriptionActivities",
    "SubscriptionCommandInput",
    "SyncPaymentMethodInput",
    "final_failures",
    "payment_failure",
]
