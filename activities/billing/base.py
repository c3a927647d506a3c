"""What every billing activity shares: the database, the payment gateway, the clock, the
customer's price book and currency, and the mirror of a subscription into the read model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, update

from adapters.payments.base import PaymentGateway
from core.clock import utcnow
from db.engine import SessionFactory
from db.experiments import price_book_of
from db.invoices import upsert_invoice
from db.models import Customer
from domain.lifecycle import BillingInterval
from domain.payments import PriceRef, SubscriptionInfo
from domain.regions import region_book


class BillingBase:
    """The state and helpers of each concern's activities (``customers``,
    ``subscriptions``, ``invoices``), which ``BillingActivities`` gathers on one object."""

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
