"""Billing activities: every call to the payment provider, and the mirror of what it did.

Each activity passes the caller's idempotency key (derived from the customer and the
workflow's command sequence) to the provider, so a retry after a crash at any line
returns the first result instead of charging again; database writes are upserts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.payments.addresses import sync_billing_address
from adapters.payments.base import (
    CardDeclined,
    PaymentGateway,
    PaymentMethodRequired,
    PaymentRequestRejected,
    ProrationBehavior,
)
from adapters.payments.tax_ids import sync_tax_ids
from core.clock import utcnow
from core.metrics import CHARGES
from db.engine import SessionFactory
from db.experiments import price_book_of
from db.invoices import upsert_invoice
from db.models import Customer, CustomerAddon
from db.writes import insert_ignoring_conflict
from domain.failures import CARD_DECLINED, PAYMENT_METHOD_REQUIRED, PAYMENT_REQUEST_REJECTED
from domain.lifecycle import BillingInterval
from domain.payments import InvoiceInfo, PaymentMethodInfo, PriceRef, SubscriptionInfo
from domain.regions import region_book


@dataclass(frozen=True)
class EnsureProviderCustomerInput:
    customer_id: str
    idempotency_key: str


@dataclass(frozen=True)
class EraseProviderCustomerInput:
    customer_id: str
    idempotency_key: str
    # Known to the workflow; else looked up (Checkout or the portal may have created one).
    provider_customer_id: str | None = None


@dataclass(frozen=True)
class AttachPaymentMethodInput:
    customer_id: str
    provider_customer_id: str
    payment_method: str
    idempotency_key: str
    # Set when there is a subscription: its own card is replaced too, or its invoices
    # (dunning retries among them) would keep charging the old one.
    subscription_id: str | None = None


@dataclass(frozen=True)
class CreateSubscriptionInput:
    customer_id: str
    provider_customer_id: str
    plan: str
    interval: BillingInterval
    idempotency_key: str
    coupon: str | None = None


@dataclass(frozen=True)
class ChangePriceInput:
    customer_id: str
    subscription_id: str
    plan: str
    interval: BillingInterval
    proration: ProrationBehavior
    idempotency_key: str


@dataclass(frozen=True)
class SchedulePriceChangeInput:
    customer_id: str
    subscription_id: str
    plan: str
    interval: BillingInterval
    idempotency_key: str


@dataclass(frozen=True)
class SubscriptionCommandInput:
    """cancel (now / at period end), reactivate, pause, resume, drop a scheduled change,
    apply a coupon to the next invoice."""

    customer_id: str
    subscription_id: str
    command: str
    idempotency_key: str
    at_period_end: bool = False
    resumes_at: datetime | None = None
    coupon: str | None = None


@dataclass(frozen=True)
class FetchSubscriptionInput:
    customer_id: str
    subscription_id: str


@dataclass(frozen=True)
class PurchaseAddonInput:
    customer_id: str
    provider_customer_id: str
    subscription_id: str
    addon: str
    kind: str
    lookup_key: str
    quantity: int
    idempotency_key: str
    # The billing period a one-off pack belongs to.
    period_start: datetime | None = None
    period_end: datetime | None = None
    # The card a one-off pack is charged to: the one the subscription pays with (a Checkout
    # customer has no default card of its own).
    payment_method: str | None = None


@dataclass(frozen=True)
class PurchaseAddonResult:
    amount_paid_cents: int
    invoice_id: str | None
    subscription: SubscriptionInfo | None = None


@dataclass(frozen=True)
class SyncPaymentMethodInput:
    customer_id: str
    provider_customer_id: str
    # The subscription's own card wins over the customer's default (Checkout saves it there).
    subscription_id: str | None = None


@dataclass(frozen=True)
class FetchInvoiceInput:
    customer_id: str
    invoice_id: str


@dataclass(frozen=True)
class InvoiceCommandInput:
    """pay (a dunning retry) or write off an open invoice."""

    customer_id: str
    invoice_id: str
    command: str
    idempotency_key: str


def payment_failure(exc: Exception) -> ApplicationError:
    """Provider errors the workflow must see as final: a decline is the customer's to fix."""
    if isinstance(exc, CardDeclined):
        return ApplicationError(
            str(exc),
            {"code": exc.code, "decline_code": exc.decline_code},
            type=CARD_DECLINED,
            non_retryable=True,
        )
    if isinstance(exc, PaymentMethodRequired):
        return ApplicationError(str(exc), type=PAYMENT_METHOD_REQUIRED, non_retryable=True)
    assert isinstance(exc, PaymentRequestRejected)
    return ApplicationError(
        str(exc), {"code": exc.code}, type=PAYMENT_REQUEST_REJECTED, non_retryable=True
    )


_FINAL = (CardDeclined, PaymentMethodRequired, PaymentRequestRejected)


@contextmanager
def final_failures(charge: str | None = None) -> Iterator[None]:
    """Around a provider call: its final errors become non-retryable activity failures
    (others, like an outage, stay retryable). A call that charges names its ``charge``
    operation: its outcome is counted (``lifecycle_charges_total``)."""
    try:
        yield
    except _FINAL as exc:
        if charge is not None:
            outcome = "declined" if isinstance(exc, CardDeclined) else "refused"
            CHARGES.labels(charge, outcome).inc()
        raise payment_failure(exc) from exc
    if charge is not None:
        CHARGES.labels(charge, "succeeded").inc()


class BillingActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        gateway: PaymentGateway,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._gateway = gateway
        self._clock = clock

    async def _price(self, customer_id: str, plan: str, interval: BillingInterval) -> PriceRef:
        """The plan's price in the customer's price book: a customer an experiment pinned to
        a variant that changes amounts buys from the variant's book (the workflow's catalog
        is that variant's, so both agree on the amount). A customer in a region buys from
        the region's book, which wins over an experiment's (``domain.regions``)."""
        async with self._sessions() as session:
            customer = await session.get(Customer, customer_id)
            if customer is not None and customer.region:
                return PriceRef(plan, interval, book=region_book(customer.region))
            book = await price_book_of(session, customer_id)
        return PriceRef(plan, interval, book=book)

    async def _currency(self, customer_id: str) -> str | None:
        """The currency the customer chose (None: the provider's default for it): read
        here, not carried by the workflow, which needs only the amounts of its terms."""
        async with self._sessions() as session:
            customer = await session.get(Customer, customer_id)
        return customer.currency if customer is not None else None

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

    @activity.defn(name="purchase_addon")
    async def purchase_addon(self, request: PurchaseAddonInput) -> PurchaseAddonResult:
        """Charge for the add-on, then record it in the read model (keyed by the purchase,
        so a retry after a crash charges and records once)."""
        subscription = None
        invoice: InvoiceInfo | None
        with final_failures(charge="purchase_addon"):
            if request.kind == "one_off":
                invoice = await self._gateway.charge_one_off(
                    request.provider_customer_id,
                    request.lookup_key,
                    request.quantity,
                    idempotency_key=request.idempotency_key,
                    payment_method=request.payment_method,
                )
            else:
                subscription = await self._gateway.add_subscription_item(
                    request.subscription_id,
                    request.lookup_key,
                    request.quantity,
                    idempotency_key=request.idempotency_key,
                )
                invoice = subscription.latest_invoice
        now = self._clock()
        item = (
            next(
                (i for i in subscription.items if i.price_lookup_key == request.lookup_key),
                None,
            )
            if subscription
            else None
        )
        async with self._sessions.begin() as session:
            if invoice is not None:
                await upsert_invoice(session, request.customer_id, invoice, now=now)
            await insert_ignoring_conflict(
                session,
                CustomerAddon,
                {
                    "purchase_key": request.idempotency_key,
                    "customer_id": request.customer_id,
                    "addon": request.addon,
                    "kind": request.kind,
                    "quantity": request.quantity,
                    "period_start": request.period_start if request.kind == "one_off" else None,
                    "period_end": request.period_end if request.kind == "one_off" else None,
                    "provider_item_id": item.id if item else None,
                    "invoice_id": invoice.id if invoice else None,
                    "active": True,
                    "created_at": now,
                },
                on=["purchase_key"],
            )
        return PurchaseAddonResult(
            amount_paid_cents=invoice.amount_paid_cents if invoice else 0,
            invoice_id=invoice.id if invoice else None,
            subscription=subscription,
        )

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

    @activity.defn(name="create_subscription")
    async def create_subscription(self, request: CreateSubscriptionInput) -> SubscriptionInfo:
        with final_failures(charge="create_subscription"):
            subscription = await self._gateway.create_subscription(
                provider_customer_id=request.provider_customer_id,
                customer_id=request.customer_id,
                price=await self._price(request.customer_id, request.plan, request.interval),
                idempotency_key=request.idempotency_key,
                coupon=request.coupon,
                currency=await self._currency(request.customer_id),
            )
        await self._mirror(request.customer_id, subscription)
        return subscription

    @activity.defn(name="change_price")
    async def change_price(self, request: ChangePriceInput) -> SubscriptionInfo:
        with final_failures(charge="change_price"):
            subscription = await self._gateway.change_price(
                request.subscription_id,
                await self._price(request.customer_id, request.plan, request.interval),
                proration=request.proration,
                idempotency_key=request.idempotency_key,
            )
        await self._mirror(request.customer_id, subscription)
        return subscription

    @activity.defn(name="schedule_price_change")
    async def schedule_price_change(self, request: SchedulePriceChangeInput) -> SubscriptionInfo:
        with final_failures():
            subscription = await self._gateway.schedule_price_change(
                request.subscription_id,
                await self._price(request.customer_id, request.plan, request.interval),
                idempotency_key=request.idempotency_key,
            )
        await self._mirror(request.customer_id, subscription)
        return subscription

    @activity.defn(name="subscription_command")
    async def subscription_command(self, request: SubscriptionCommandInput) -> SubscriptionInfo:
        gateway, sub, key = self._gateway, request.subscription_id, request.idempotency_key
        with final_failures():
            if request.command == "cancel":
                subscription = await gateway.cancel_subscription(
                    sub, at_period_end=request.at_period_end, idempotency_key=key
                )
            elif request.command == "reactivate":
                subscription = await gateway.reactivate_subscription(sub, idempotency_key=key)
            elif request.command == "pause":
                subscription = await gateway.pause_subscription(
                    sub, resumes_at=request.resumes_at, idempotency_key=key
                )
            elif request.command == "resume":
                subscription = await gateway.resume_subscription(sub, idempotency_key=key)
            elif request.command == "cancel_scheduled_change":
                subscription = await gateway.cancel_scheduled_change(sub, idempotency_key=key)
            elif request.command == "apply_coupon" and request.coupon:
                subscription = await gateway.apply_coupon(
                    sub, coupon=request.coupon, idempotency_key=key
                )
            else:
                raise ApplicationError(
                    f"unknown subscription command {request.command!r}", non_retryable=True
                )
        await self._mirror(request.customer_id, subscription)
        return subscription

    @activity.defn(name="fetch_subscription")
    async def fetch_subscription(self, request: FetchSubscriptionInput) -> SubscriptionInfo:
        with final_failures():
            subscription = await self._gateway.get_subscription(request.subscription_id)
        await self._mirror(request.customer_id, subscription)
        return subscription

    @activity.defn(name="fetch_invoice")
    async def fetch_invoice(self, request: FetchInvoiceInput) -> InvoiceInfo:
        """The invoice as the provider has it now (a webhook's payload may be stale)."""
        with final_failures():
            invoice = await self._gateway.get_invoice(request.invoice_id)
        async with self._sessions.begin() as session:
            await upsert_invoice(session, request.customer_id, invoice, now=self._clock())
        return invoice

    @activity.defn(name="invoice_command")
    async def invoice_command(self, request: InvoiceCommandInput) -> InvoiceInfo:
        with final_failures(charge="pay_invoice" if request.command == "pay" else None):
            if request.command == "pay":
                invoice = await self._gateway.pay_invoice(
                    request.invoice_id, idempotency_key=request.idempotency_key
                )
            elif request.command == "mark_uncollectible":
                invoice = await self._gateway.mark_invoice_uncollectible(
                    request.invoice_id, idempotency_key=request.idempotency_key
                )
            else:
                raise ApplicationError(
                    f"unknown invoice command {request.command!r}", non_retryable=True
                )
        async with self._sessions.begin() as session:
            await upsert_invoice(session, request.customer_id, invoice, now=self._clock())
        return invoice

    async def _mirror(self, customer_id: str, subscription: SubscriptionInfo) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(Customer)
                .where(Customer.id == customer_id)
                .values(
                    provider_subscription_id=subscription.id,
                    # The provider's word on the currency it bills in, fixed from now on.
                    currency=func.coalesce(subscription.currency, Customer.currency),
                    updated_at=self._clock(),
                )
            )
            if subscription.latest_invoice is not None:
                await upsert_invoice(
                    session, customer_id, subscription.latest_invoice, now=self._clock()
                )
