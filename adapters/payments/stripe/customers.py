"""Customers and their cards."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from adapters.payments.base import PaymentRequestRejected
from adapters.payments.stripe.client import StripeBase, plain
from adapters.payments.stripe.errors import options, stripe_errors
from adapters.payments.stripe_objects import parse_payment_method
from domain.payments import Address, PaymentMethodInfo

if TYPE_CHECKING:
    from stripe.params import (
        CustomerCreateParams,
        CustomerUpdateParams,
        CustomerUpdateParamsAddress,
    )


class CustomersMixin(StripeBase):
    async def ensure_customer(
        self,
        *,
        customer_id: str,
        email: str | None,
        name: str | None,
        idempotency_key: str,
    ) -> str:
        params: CustomerCreateParams = {"metadata": {"customer_id": customer_id}}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        with stripe_errors("create customer"):
            customer = await self._client.v1.customers.create_async(
                params, options(idempotency_key)
            )
        return str(customer.id)

    async def update_customer(
        self,
        provider_customer_id: str,
        *,
        idempotency_key: str,
        email: str | None = None,
        name: str | None = None,
        address: Address | None = None,
    ) -> None:
        params: CustomerUpdateParams = {}
        if email is not None:
            params["email"] = email
        if name is not None:
            params["name"] = name
        if address is not None:
            stripe_address: CustomerUpdateParamsAddress = {
                "line1": address.line1,
                "city": address.city,
                "postal_code": address.postal_code,
                "country": address.country,
            }
            if address.line2 is not None:
                stripe_address["line2"] = address.line2
            if address.state is not None:
                stripe_address["state"] = address.state
            params["address"] = stripe_address
        if not params:
            return
        with stripe_errors("update customer"):
            await self._client.v1.customers.update_async(
                provider_customer_id, params, options(idempotency_key)
            )

    async def erase_customer(self, provider_customer_id: str, *, idempotency_key: str) -> None:
        # DELETE is not covered by Stripe's idempotency keys (the key is sent, and ignored);
        # a repeated erasure finds the customer gone, which is the wanted outcome.
        try:
            with stripe_errors("delete customer"):
                await self._client.v1.customers.delete_async(
                    provider_customer_id, None, options(idempotency_key)
                )
        except PaymentRequestRejected as err:
            if err.code != "resource_missing":
                raise

    async def _payment_method(self, method: Any) -> PaymentMethodInfo | None:
        if isinstance(method, Mapping):
            return parse_payment_method(method)
        if method:
            # Not expanded after all (an id): fetch it.
            with stripe_errors("retrieve payment method"):
                return parse_payment_method(
                    plain(await self._client.v1.payment_methods.retrieve_async(str(method)))
                )
        return None

    async def default_payment_method(
        self, provider_customer_id: str, *, subscription_id: str | None = None
    ) -> PaymentMethodInfo | None:
        if subscription_id is not None:
            # Checkout (subscription mode) saves the card on the subscription, and the
            # subscription's own card wins over the customer's for its invoices.
            with stripe_errors("retrieve subscription"):
                sub = plain(
                    await self._client.v1.subscriptions.retrieve_async(
                        subscription_id, {"expand": ["default_payment_method"]}
                    )
                )
            own = await self._payment_method(sub.get("default_payment_method"))
            if own is not None:
                return own
        with stripe_errors("retrieve customer"):
            customer = plain(
                await self._client.v1.customers.retrieve_async(
                    provider_customer_id, {"expand": ["invoice_settings.default_payment_method"]}
                )
            )
        if customer.get("deleted"):
            return None
        settings = customer.get("invoice_settings") or {}
        return await self._payment_method(settings.get("default_payment_method"))

    async def attach_payment_method(
        self,
        provider_customer_id: str,
        payment_method: str,
        *,
        idempotency_key: str,
        subscription_id: str | None = None,
    ) -> PaymentMethodInfo:
        with stripe_errors("attach payment method"):
            attached = await self._client.v1.payment_methods.attach_async(
                payment_method,
                {"customer": provider_customer_id},
                options(f"{idempotency_key}:attach"),
            )
            await self._client.v1.customers.update_async(
                provider_customer_id,
                {"invoice_settings": {"default_payment_method": payment_method}},
                options(f"{idempotency_key}:default"),
            )
            if subscription_id is not None:
                # Otherwise a card Checkout saved on the subscription keeps winning, and
                # ``invoices.pay`` during dunning charges it instead of the new one.
                await self._client.v1.subscriptions.update_async(
                    subscription_id,
                    {"default_payment_method": payment_method},
                    options(f"{idempotency_key}:subscription"),
                )
        return parse_payment_method(plain(attached))
