"""Customers and their payment methods."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments.base import PaymentRequestRejected
from adapters.payments.simulator import render
from adapters.payments.simulator.core import (
    Json,
    Outcome,
    customer_ref,
    missing,
    new_id,
)
from adapters.payments.simulator.models import (
    SimCustomer,
    SimEvent,
    SimIdempotencyRecord,
    SimInvoice,
    SimPaymentMethod,
    SimSubscription,
)
from adapters.payments.simulator.payments import PaymentsMixin
from adapters.payments.stripe_objects import parse_payment_method
from domain.payments import Address, PaymentMethodInfo


class CustomersMixin(PaymentsMixin):
    async def ensure_customer(
        self,
        *,
        customer_id: str,
        email: str | None,
        name: str | None,
        idempotency_key: str,
    ) -> str:
        """Find the simulated customer for the engine customer, or create it."""

        async def effect(session: AsyncSession) -> Outcome:
            existing = (
                await session.execute(
                    select(SimCustomer).where(SimCustomer.engine_customer_id == customer_id)
                )
            ).scalar_one_or_none()
            if existing is not None:
                return Outcome(customer_ref(existing))
            now = self._real_now()
            created = SimCustomer(
                id=new_id("cus"),
                engine_customer_id=customer_id,
                email=email,
                name=name,
                balance_cents=0,
                invoice_sequence=0,
                clock_offset_seconds=0,
                created_at=now,
            )
            session.add(created)
            await session.flush()
            self._emit(session, created, "customer.created", render.customer(created), now)
            return Outcome(customer_ref(created))

        obj = await self._idempotent(
            idempotency_key, "ensure_customer", {"customer_id": customer_id}, effect
        )
        return str(obj["id"])

    async def update_customer(
        self,
        provider_customer_id: str,
        *,
        idempotency_key: str,
        email: str | None = None,
        name: str | None = None,
        address: Address | None = None,
    ) -> None:
        async def effect(session: AsyncSession) -> Outcome:
            customer = await self._lock_customer(session, provider_customer_id)
            if email is not None:
                customer.email = email
            if name is not None:
                customer.name = name
            if address is not None:
                customer.address = asdict(address)
            obj = render.customer(customer)
            self._emit(session, customer, "customer.updated", obj, self._now(customer))
            return Outcome(customer_ref(customer))

        fields = {
            "customer": provider_customer_id,
            "email": email is not None,
            "name": name is not None,
            "address": address is not None,
        }
        await self._idempotent(idempotency_key, "update_customer", fields, effect)

    async def erase_customer(self, provider_customer_id: str, *, idempotency_key: str) -> None:
        async def effect(session: AsyncSession) -> Outcome:
            customer = await self._lock_customer(session, provider_customer_id)
            customer.email = None
            customer.name = None
            customer.address = None
            customer.erased_at = self._now(customer)
            # The customer's copies elsewhere go too: its events, the parties frozen on its
            # invoices (customer_name, customer_address) and the stored answers that
            # carried them. The invoices keep their amounts, taxes and the seller.
            events = await session.scalars(
                select(SimEvent).where(SimEvent.customer_id == customer.id)
            )
            for event in events:
                event.payload = scrub_personal_data(event.payload)
            invoices = await session.scalars(
                select(SimInvoice).where(SimInvoice.customer_id == customer.id)
            )
            for invoice in invoices:
                if invoice.tax_details is not None:
                    invoice.tax_details = scrub_personal_data(invoice.tax_details)
            answers = await session.scalars(
                select(SimIdempotencyRecord).where(
                    cast(SimIdempotencyRecord.response, Text).contains(customer.id)
                )
            )
            for answer in answers:
                if answer.response is not None:
                    answer.response = scrub_personal_data(answer.response)
            return Outcome(customer_ref(customer))

        await self._idempotent(
            idempotency_key, "erase_customer", {"customer": provider_customer_id}, effect
        )

    async def attach_payment_method(
        self,
        provider_customer_id: str,
        payment_method: str,
        *,
        idempotency_key: str,
        subscription_id: str | None = None,
    ) -> PaymentMethodInfo:
        """The customer's default for invoices, and the subscription's own when given."""

        async def effect(session: AsyncSession) -> Outcome:
            customer = await self._lock_customer(session, provider_customer_id)
            pm = await self._attach(session, customer, payment_method)
            if subscription_id is not None:
                sub = await self._fresh(session, SimSubscription, subscription_id)
                if sub.customer_id != customer.id:
                    raise missing("subscription", subscription_id)
                await self._set_subscription_card(session, customer, sub, pm.id)
            return Outcome(render.payment_method(pm))

        params = {"customer": provider_customer_id, "payment_method": payment_method}
        if subscription_id is not None:
            params["subscription"] = subscription_id
        obj = await self._idempotent(idempotency_key, "attach_payment_method", params, effect)
        return parse_payment_method(obj)

    async def default_payment_method(
        self, provider_customer_id: str, *, subscription_id: str | None = None
    ) -> PaymentMethodInfo | None:
        async with self._sessions() as session:
            customer = await self._get_customer(session, provider_customer_id)
            candidates = []
            if subscription_id is not None:
                sub = await self._get_subscription(session, subscription_id)
                candidates.append(sub.default_payment_method_id)
            candidates.append(customer.default_payment_method_id)
            for pm_id in candidates:
                pm = await session.get(SimPaymentMethod, pm_id) if pm_id else None
                if pm is not None and pm.customer_id == customer.id:
                    return parse_payment_method(render.payment_method(pm))
            return None

    async def _set_subscription_card(
        self, session: AsyncSession, customer: SimCustomer, sub: SimSubscription, pm_id: str
    ) -> None:
        if sub.default_payment_method_id == pm_id:
            return
        previous = sub.default_payment_method_id
        sub.default_payment_method_id = pm_id
        now = self._now(customer)
        sub.updated_at = now
        self._emit(
            session,
            customer,
            "customer.subscription.updated",
            await self._render_sub(session, sub),
            now,
            {"default_payment_method": previous},
        )

    # -- test helpers: what happens to cards outside the engine ---------------------------

    async def detach_payment_method(self, payment_method_id: str) -> list[Json]:
        """The customer removes the card (or the bank revokes it): it is no longer anyone's
        default, and ``payment_method.detached`` names its customer only in
        ``previous_attributes``."""
        async with self._sessions.begin() as session:
            found = await session.get(SimPaymentMethod, payment_method_id)
            if found is None or found.customer_id is None:
                raise missing("PaymentMethod", payment_method_id)
            customer = await self._lock_customer(session, found.customer_id)
            pm = await self._fresh_pm(session, payment_method_id)
            now = self._now(customer)
            pm.customer_id = None
            self._emit(
                session,
                customer,
                "payment_method.detached",
                render.payment_method(pm),
                now,
                {"customer": customer.id},
            )
            if customer.default_payment_method_id == pm.id:
                customer.default_payment_method_id = None
                self._emit(
                    session,
                    customer,
                    "customer.updated",
                    render.customer(customer),
                    now,
                    {"invoice_settings": {"default_payment_method": pm.id}},
                )
            subs = await session.execute(
                select(SimSubscription).where(SimSubscription.default_payment_method_id == pm.id)
            )
            for sub in subs.scalars():
                sub.default_payment_method_id = None
                sub.updated_at = now
                self._emit(
                    session,
                    customer,
                    "customer.subscription.updated",
                    await self._render_sub(session, sub),
                    now,
                    {"default_payment_method": pm.id},
                )
            return list(self._emitted(session))

    async def auto_update_payment_method(
        self,
        payment_method_id: str,
        *,
        exp_month: int,
        exp_year: int,
        last4: str | None = None,
    ) -> list[Json]:
        """The card network's account updater replaced the card's expiry (or number):
        ``payment_method.automatically_updated``."""
        async with self._sessions.begin() as session:
            found = await session.get(SimPaymentMethod, payment_method_id)
            if found is None or found.customer_id is None or found.type != "card":
                raise missing("PaymentMethod", payment_method_id)
            customer = await self._lock_customer(session, found.customer_id)
            pm = await self._fresh_pm(session, payment_method_id)
            before = render.payment_method(pm)["card"]
            pm.exp_month, pm.exp_year = exp_month, exp_year
            if last4 is not None:
                pm.last4 = last4
            # An updated card is a working card: its old failures were about the old one.
            pm.charge_error_code = pm.charge_decline_code = None
            self._emit(
                session,
                customer,
                "payment_method.automatically_updated",
                render.payment_method(pm),
                self._now(customer),
                {"card": before},
            )
            return list(self._emitted(session))

    async def _fresh_pm(self, session: AsyncSession, payment_method_id: str) -> SimPaymentMethod:
        pm = (
            await session.execute(
                select(SimPaymentMethod)
                .where(SimPaymentMethod.id == payment_method_id)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        if pm is None:
            raise PaymentRequestRejected(
                f"No such PaymentMethod: '{payment_method_id}'", code="resource_missing"
            )
        return pm


# Where a Stripe object holds a person's data: a customer's own fields, and what an invoice
# freezes of its customer.
_CUSTOMER_FIELDS = ("email", "name", "address", "phone", "shipping")
_INVOICE_FIELDS = (
    "customer_email",
    "customer_name",
    "customer_address",
    "customer_phone",
    "customer_shipping",
)


def scrub_personal_data(value: Any) -> Any:
    """``value`` (Stripe-shaped JSON) with every customer's personal fields emptied."""
    if isinstance(value, list):
        return [scrub_personal_data(item) for item in value]
    if not isinstance(value, dict):
        return value
    scrubbed = {key: scrub_personal_data(item) for key, item in value.items()}
    for key in _INVOICE_FIELDS:
        if key in scrubbed:
            scrubbed[key] = None
    if scrubbed.get("object") == "customer":
        for key in _CUSTOMER_FIELDS:
            if key in scrubbed:
                scrubbed[key] = None
    return scrubbed
