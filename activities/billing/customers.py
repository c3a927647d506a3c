"""The provider's customer and its card: create (with the address and tax ids given
during the trial), erase, attach a card, mirror the card the provider charges."""

from __future__ import annotations

from sqlalchemy import update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.billing.base import BillingBase
from activities.billing.failures import final_failures
from activities.billing.inputs import (
    AttachPaymentMethodInput,
    EnsureProviderCustomerInput,
    EraseProviderCustomerInput,
    SyncPaymentMethodInput,
)
from adapters.payments.addresses import sync_billing_address
from adapters.payments.tax_ids import sync_tax_ids
from db.models import Customer
from domain.payments import PaymentMethodInfo


class ProviderCustomerActivities(BillingBase):
    @activity.defn(name="ensure_provider_customer")
    async def ensure_provider_customer(self, request: EnsureProviderCustomerInput) -> str:
        async with self._sessions() as session:
            customer = await session.get(Customer, request.customer_id)
        if customer is None:
            raise ApplicationError(f"customer {request.customer_id} not found")
        if customer.provider_customer_id:
            return customer.provider_customer_id
        with final_failures():
            provider_id = await self._gateway.ensure_customer(
                customer_id=customer.id,
                email=customer.email,
                name=customer.name,
                idempotency_key=request.idempotency_key,
            )
        if customer.billing_address:
            # An address given during the trial belongs on the provider's invoices too.
            with final_failures():
                await sync_billing_address(
                    self._gateway,
                    provider_id,
                    customer_id=customer.id,
                    address=customer.billing_address,
                    stored_at=customer.updated_at,
                )
        with final_failures():
            # Tax ids given during the trial: Stripe Tax and the invoices read them there.
            await sync_tax_ids(
                self._gateway,
                self._sessions,
                customer_id=customer.id,
                provider_customer_id=provider_id,
            )
        async with self._sessions.begin() as session:
            await session.execute(
                update(Customer)
                .where(Customer.id == customer.id)
                .values(provider_customer_id=provider_id, updated_at=self._clock())
            )
        return provider_id

    @activity.defn(name="erase_provider_customer")
    async def erase_provider_customer(self, request: EraseProviderCustomerInput) -> None:
        """Delete the provider's customer (and with it the personal data it holds)."""
        provider_id = request.provider_customer_id
        if provider_id is None:
            async with self._sessions() as session:
                customer = await session.get(Customer, request.customer_id)
            provider_id = customer.provider_customer_id if customer else None
        if provider_id is None:
            return
        with final_failures():
            await self._gateway.erase_customer(provider_id, idempotency_key=request.idempotency_key)

    @activity.defn(name="attach_payment_method")
    async def attach_payment_method(self, request: AttachPaymentMethodInput) -> PaymentMethodInfo:
        with final_failures():
            method = await self._gateway.attach_payment_method(
                request.provider_customer_id,
                request.payment_method,
                idempotency_key=request.idempotency_key,
                subscription_id=request.subscription_id,
            )
        async with self._sessions.begin() as session:
            await session.execute(
                update(Customer)
                .where(Customer.id == request.customer_id)
                .values(
                    payment_method_id=method.id,
                    payment_method_brand=method.brand,
                    payment_method_last4=method.last4,
                    payment_method_exp_month=method.exp_month,
                    payment_method_exp_year=method.exp_year,
                    updated_at=self._clock(),
                )
            )
        return method

    @activity.defn(name="sync_payment_method")
    async def sync_payment_method(
        self, request: SyncPaymentMethodInput
    ) -> PaymentMethodInfo | None:
        """Mirror the provider's current default card (changed in Checkout or the portal)."""
        with final_failures():
            method = await self._gateway.default_payment_method(
                request.provider_customer_id, subscription_id=request.subscription_id
            )
        async with self._sessions.begin() as session:
            await session.execute(
                update(Customer)
                .where(Customer.id == request.customer_id)
                .values(
                    payment_method_id=method.id if method else None,
                    payment_method_brand=method.brand if method else None,
                    payment_method_last4=method.last4 if method else None,
                    payment_method_exp_month=method.exp_month if method else None,
                    payment_method_exp_year=method.exp_year if method else None,
                    updated_at=self._clock(),
                )
            )
        return method
