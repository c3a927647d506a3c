"""Stripe's hosted pages: Checkout for a first subscription, the Customer Portal after."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.payments.base import PaymentRequestRejected
from adapters.payments.stripe.client import StripeBase
from adapters.payments.stripe.errors import options, stripe_errors
from adapters.payments.stripe.portal import find_portal_configuration
from domain.payments import PriceRef

if TYPE_CHECKING:
    from stripe.params.checkout import SessionCreateParams as CheckoutSessionCreateParams
    from stripe.params.checkout import SessionCreateParamsPaymentMethodOptions

# Renewals in India need an e-mandate (RBI): registered once with the customer's
# authentication, a pre-debit notice 24 hours before each charge, and the customer's PIN or
# 3-D Secure again above 15,000 INR. For cards Checkout registers it itself from the
# subscription when the session is in INR (at this API version it takes no card
# ``mandate_options``). For UPI AutoPay the engine sets the mandate's ceiling: up to the
# 15,000 INR above which every debit asks the customer anyway, so an upgrade or an add-on
# needs no new mandate. Amounts in paise.
INDIA_MANDATE_MAXIMUM = 1_500_000
INDIA_MANDATES: SessionCreateParamsPaymentMethodOptions = {
    "upi": {
        "mandate_options": {
            "amount": INDIA_MANDATE_MAXIMUM,
            "amount_type": "maximum",
            "description": "Subscription",
        }
    }
}


class HostedPagesMixin(StripeBase):
    async def create_checkout_session(
        self,
        *,
        provider_customer_id: str,
        customer_id: str,
        price: PriceRef,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
        coupon: str | None = None,
        currency: str | None = None,
        country: str | None = None,
    ) -> str:
        # No ``payment_method_types``: Stripe's dynamic payment methods offer what the
        # Dashboard turns on and what suits the customer's currency and location (the rule
        # ``domain.payment_methods`` writes down). ``country`` is for the simulator, which
        # has no page to locate the customer on.
        del country
        resolved = await self._price(price.lookup_key)
        # In subscription mode Checkout saves the card on the subscription
        # (``default_payment_method``), not on the customer: the card reads ask there first.
        params: CheckoutSessionCreateParams = {
            "mode": "subscription",
            "customer": provider_customer_id,
            "client_reference_id": customer_id,
            "line_items": [{"price": resolved.id, "quantity": 1}],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": {"customer_id": customer_id},
            "subscription_data": {"metadata": {"customer_id": customer_id}},
        }
        if coupon:
            params["discounts"] = [{"coupon": coupon}]
        if currency:
            # Stripe charges the price's currency_options amount for it.
            params["currency"] = currency
        if currency == "inr":
            params["payment_method_options"] = INDIA_MANDATES
        if self._automatic_tax:
            # Stripe Tax needs the buyer's address: the one Checkout collects is kept.
            params["automatic_tax"] = {"enabled": True}
            params["customer_update"] = {"address": "auto"}
        with stripe_errors("create checkout session"):
            session = await self._client.v1.checkout.sessions.create_async(
                params, options(idempotency_key)
            )
        if not session.url:
            raise PaymentRequestRejected("checkout session has no URL", code="no_url")
        return str(session.url)

    async def _portal_configuration_id(self) -> str:
        # Looked up once per process: sync-catalog updates the configuration in place, so
        # its id does not change.
        if self._portal_configuration is None:
            found = await find_portal_configuration(self._client, active_only=True)
            if found is None:
                raise PaymentRequestRejected(
                    "Stripe has no active Customer Portal configuration of the engine's "
                    "(run `lifecycle stripe sync-catalog`)",
                    code="portal_not_configured",
                )
            self._portal_configuration = str(found["id"])
        return self._portal_configuration

    async def create_portal_session(self, *, provider_customer_id: str, return_url: str) -> str:
        configuration = await self._portal_configuration_id()
        # A short-lived link with nothing to replay: no caller key (the SDK sends a fresh one).
        with stripe_errors("create portal session"):
            session = await self._client.v1.billing_portal.sessions.create_async(
                {
                    "customer": provider_customer_id,
                    "return_url": return_url,
                    "configuration": configuration,
                }
            )
        return str(session.url)
