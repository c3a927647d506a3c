"""Every invoice and subscription of the account, for reconciliation: the SDK's
auto-pagination walks the pages (100 objects a request)."""

from __future__ import annotations

from adapters.payments.stripe.client import StripeBase, plain
from adapters.payments.stripe.errors import stripe_errors
from adapters.payments.stripe_objects import parse_invoice, parse_subscription
from domain.payments import InvoiceInfo, SubscriptionInfo

PAGE = 100


class ListingMixin(StripeBase):
    async def list_all_invoices(self) -> list[InvoiceInfo]:
        # Parsed as listed: lines' lookup keys are not resolved (nothing compares them),
        # which would cost a price request per unknown price id.
        invoices: list[InvoiceInfo] = []
        with stripe_errors("list invoices"):
            listing = await self._client.v1.invoices.list_async({"limit": PAGE})
            async for invoice in listing.auto_paging_iter():
                invoices.append(parse_invoice(plain(invoice)))
        return invoices

    async def list_all_subscriptions(self) -> list[SubscriptionInfo]:
        subscriptions: list[SubscriptionInfo] = []
        with stripe_errors("list subscriptions"):
            # ``status=all``: the default leaves canceled subscriptions out.
            listing = await self._client.v1.subscriptions.list_async(
                {"limit": PAGE, "status": "all"}
            )
            async for sub in listing.auto_paging_iter():
                subscriptions.append(parse_subscription(plain(sub)))
        return subscriptions
