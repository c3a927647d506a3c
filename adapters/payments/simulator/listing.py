"""Every invoice and subscription the simulator holds, as Stripe lists them (for
reconciliation): invoices with their payments' intents as ids, subscriptions unexpanded."""

from __future__ import annotations

from sqlalchemy import select

from adapters.payments.simulator.core import SimulatorCore
from adapters.payments.simulator.models import SimInvoice, SimSubscription
from adapters.payments.stripe_objects import parse_invoice, parse_subscription
from domain.payments import InvoiceInfo, SubscriptionInfo


class ListingMixin(SimulatorCore):
    async def list_all_invoices(self) -> list[InvoiceInfo]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(SimInvoice).order_by(SimInvoice.created_at.desc(), SimInvoice.id)
            )
            return [parse_invoice(await self._render_invoice(session, inv)) for inv in rows.all()]

    async def list_all_subscriptions(self) -> list[SubscriptionInfo]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(SimSubscription).order_by(
                    SimSubscription.created_at.desc(), SimSubscription.id
                )
            )
            return [parse_subscription(await self._render_sub(session, sub)) for sub in rows.all()]
