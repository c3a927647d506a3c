"""Customers' tax ids (``POST /v1/customers/{id}/tax_ids``), which Stripe Tax reads to
treat a buyer as a business (the reverse charge) and invoices print
(``customer_tax_ids``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from adapters.payments.base import PaymentRequestRejected
from adapters.payments.stripe.client import StripeBase
from adapters.payments.stripe.errors import options, stripe_errors

if TYPE_CHECKING:
    from stripe.params import CustomerCreateTaxIdParams


class TaxIdsMixin(StripeBase):
    async def add_tax_id(
        self, provider_customer_id: str, type_: str, value: str, *, idempotency_key: str
    ) -> str:
        params = cast("CustomerCreateTaxIdParams", {"type": type_, "value": value})
        with stripe_errors("create tax id"):
            created = await self._client.v1.customers.tax_ids.create_async(
                provider_customer_id, params, options(idempotency_key)
            )
        return str(created.id)

    async def delete_tax_id(self, provider_customer_id: str, tax_id: str) -> None:
        # Not covered by idempotency keys: a repeated delete finds it gone, as wanted.
        try:
            with stripe_errors("delete tax id"):
                await self._client.v1.customers.tax_ids.delete_async(provider_customer_id, tax_id)
        except PaymentRequestRejected as exc:
            if exc.code != "resource_missing":
                raise
