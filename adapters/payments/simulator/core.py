"""The simulator's machinery shared by every concern: idempotency, the per-customer lock and
test clock, rendering, the event log, and taking money (PaymentIntents and charges)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments.base import CardDeclined, PaymentProviderUnavailable, PaymentRequestRejected
from adapters.payments.simulator import render, render_payments, render_subscriptions
from adapters.payments.simulator.cards import (
    LEGACY_CHECKOUT_METHODS,
    Decline,
)
from adapters.payments.simulator.models import (
    SimCheckoutSession,
    SimCustomer,
    SimEvent,
    SimIdempotencyRecord,
    SimInvoice,
    SimPaymentIntent,
    SimPaymentMethod,
    SimSubscription,
    SimSubscriptionSchedule,
)
from adapters.payments.simulator.prices import SimPrice, resolve_price
from core.clock import utcnow
from db.engine import SessionFactory
from db.writes import insert_ignoring_conflict, rows_affected
from domain.catalog import Catalog
from domain.tax.settings import TaxSettings

Json = dict[str, Any]
_Row = TypeVar("_Row", SimInvoice, SimSubscription, SimCheckoutSession)

# Statuses in which a subscription renews at its period end.
LIVE_STATUSES = ("active", "past_due")
# Statuses from which nothing about a subscription can change any more.
ENDED_STATUSES = ("canceled", "incomplete_expired")
CHECKOUT_SESSION_LIFETIME = timedelta(hours=24)


def new_id(prefix: str) -> str:
    return f"{prefix}_sim_{uuid.uuid4().hex[:24]}"


def decline_error(decline: Decline) -> CardDeclined:
    return CardDeclined(decline.message, code=decline.code, decline_code=decline.decline_code)


def error_json(error: CardDeclined) -> Json:
    return {
        "type": "card_error",
        "code": error.code,
        "decline_code": error.decline_code,
        "message": str(error),
    }


def customer_ref(customer: SimCustomer) -> Json:
    """What idempotency records keep of a customer: no personal data (erasure can't reach
    stored responses)."""
    return {"id": customer.id, "object": "customer"}


def rejected_state(message: str) -> PaymentRequestRejected:
    return PaymentRequestRejected(message, code="resource_state")


def missing(kind: str, object_id: str) -> PaymentRequestRejected:
    return PaymentRequestRejected(f"No such {kind}: '{object_id}'", code="resource_missing")


@dataclass
class Outcome:
    """What an idempotent effect produced: the rendered object, and a decline to raise after
    committing (a failed payment attempt is itself an effect that must stay)."""

    obj: Json
    error: CardDeclined | None = None


class SimulatorCore:
    def __init__(
        self,
        sessions: SessionFactory,
        catalog: Catalog,
        *,
        base_url: str = "http://127.0.0.1:8000",
        clock: Callable[[], datetime] = utcnow,
        tax: TaxSettings | None = None,
    ) -> None:
        self._sessions = sessions
        self._catalog = catalog
        # Off by default: invoices carry no tax unless the seller is configured.
        self._tax = tax or TaxSettings()
        self._base_url = base_url.rstrip("/")
        self._clock = clock

    # -- idempotency ----------------------------------------------------------------------

    async def _idempotent(
        self,
        key: str,
        operation: str,
        params: dict[str, Any],
        effect: Callable[[AsyncSession], Awaitable[Outcome]],
    ) -> Json:
        """Run ``effect`` once per key; its outcome is stored with its effects, atomically."""
        if not key:
            raise PaymentRequestRejected("An idempotency key is required", code="parameter_missing")
        request_hash = hashlib.sha256(
            json.dumps({"operation": operation, **params}, sort_keys=True, default=str).encode()
        ).hexdigest()
        contention: Exception | None = None
        for _ in range(5):
            stored = await self._stored(key, operation, request_hash)
            if stored is not None:
                return self._replay(stored)
            try:
                async with self._sessions.begin() as session:
                    record = SimIdempotencyRecord(
                        key=key,
                        operation=operation,
                        request_hash=request_hash,
                        response=None,
                        created_at=self._real_now(),
                    )
                    session.add(record)
                    # Insert first: a concurrent call with the same key waits here for this
                    # transaction, then fails on the key and reads the stored outcome.
                    await session.flush()
                    outcome = await effect(session)
                    record.response = (
                        {"error": error_json(outcome.error)}
                        if outcome.error is not None
                        else {"object": outcome.obj}
                    )
            except IntegrityError as error:
                # The key's twin committed first (or another unique row raced us): read again.
                contention = error
                await asyncio.sleep(0.01)
                continue
            except CardDeclined as declined:
                # Effects rolled back; remember the decline like Stripe does.
                async with self._sessions.begin() as session:
                    await insert_ignoring_conflict(
                        session,
                        SimIdempotencyRecord,
                        {
                            "key": key,
                            "operation": operation,
                            "request_hash": request_hash,
                            "response": {"error": error_json(declined)},
                            "created_at": self._real_now(),
                        },
                        on=["key"],
                    )
                raise
            if outcome.error is not None:
                raise outcome.error
            return outcome.obj
        raise PaymentProviderUnavailable(
            f"idempotency key {key!r} stayed contended; retry"
        ) from contention

    async def _stored(self, key: str, operation: str, request_hash: str) -> Json | None:
        async with self._sessions() as session:
            record = await session.get(SimIdempotencyRecord, key)
            if record is None or record.response is None:
                return None
            if record.operation != operation or record.request_hash != request_hash:
                raise PaymentRequestRejected(
                    f"Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with (key {key!r} was used for {record.operation})",
                    code="idempotency_error",
                )
            return dict(record.response)

    @staticmethod
    def _replay(stored: Json) -> Json:
        error = stored.get("error")
        if error:
            raise CardDeclined(
                str(error.get("message") or "Your card was declined."),
                code=str(error.get("code") or "card_declined"),
                decline_code=error.get("decline_code"),
            )
        return dict(stored["object"])

    # -- time, loading and locking ----------------------------------------------------------

    def _real_now(self) -> datetime:
        return self._clock().astimezone(UTC).replace(microsecond=0)

    def _now(self, customer: SimCustomer) -> datetime:
        return self._real_now() + timedelta(seconds=customer.clock_offset_seconds)

    async def _get_customer(self, session: AsyncSession, customer_id: str) -> SimCustomer:
        customer = await session.get(SimCustomer, customer_id)
        if customer is None:
            raise missing("customer", customer_id)
        return customer

    async def _lock_customer(self, session: AsyncSession, customer_id: str) -> SimCustomer:
        """Serialize everything one customer's state goes through. A no-op UPDATE locks the
        row on PostgreSQL and takes the write lock on SQLite before anything is read."""
        result = await session.execute(
            update(SimCustomer)
            .where(SimCustomer.id == customer_id)
            .values(clock_offset_seconds=SimCustomer.clock_offset_seconds)
        )
        if not rows_affected(result):
            raise missing("customer", customer_id)
        return (
            await session.execute(
                select(SimCustomer)
                .where(SimCustomer.id == customer_id)
                .execution_options(populate_existing=True)
            )
        ).scalar_one()

    async def _get_subscription(
        self, session: AsyncSession, subscription_id: str
    ) -> SimSubscription:
        sub = await session.get(SimSubscription, subscription_id)
        if sub is None:
            raise missing("subscription", subscription_id)
        return sub

    async def _fresh(self, session: AsyncSession, model: type[_Row], object_id: str) -> _Row:
        """Read a row again once its customer is locked (another transaction may have
        changed it while this one waited)."""
        return (
            await session.execute(
                select(model).where(model.id == object_id).execution_options(populate_existing=True)
            )
        ).scalar_one()

    async def _lock_subscription(
        self, session: AsyncSession, subscription_id: str
    ) -> tuple[SimCustomer, SimSubscription]:
        found = await self._get_subscription(session, subscription_id)
        customer = await self._lock_customer(session, found.customer_id)
        return customer, await self._fresh(session, SimSubscription, subscription_id)

    async def _lock_invoice(
        self, session: AsyncSession, invoice_id: str
    ) -> tuple[SimCustomer, SimInvoice]:
        found = await session.get(SimInvoice, invoice_id)
        if found is None:
            raise missing("invoice", invoice_id)
        customer = await self._lock_customer(session, found.customer_id)
        return customer, await self._fresh(session, SimInvoice, invoice_id)

    async def _live_subscriptions(
        self, session: AsyncSession, customer_id: str
    ) -> list[SimSubscription]:
        return list(
            (
                await session.execute(
                    select(SimSubscription)
                    .where(
                        SimSubscription.customer_id == customer_id,
                        SimSubscription.status.in_(LIVE_STATUSES),
                    )
                    .order_by(SimSubscription.created_at)
                    .execution_options(populate_existing=True)
                )
            ).scalars()
        )

    async def _intents(self, session: AsyncSession, invoice_id: str) -> list[SimPaymentIntent]:
        rows = await session.execute(
            select(SimPaymentIntent)
            .where(SimPaymentIntent.invoice_id == invoice_id)
            .order_by(SimPaymentIntent.created_at)
        )
        return list(rows.scalars())

    def _require_live(self, sub: SimSubscription) -> None:
        if sub.status in ENDED_STATUSES:
            raise rejected_state(
                f"Subscription {sub.id} is {sub.status}: an ended subscription cannot be updated"
            )

    def _price(self, lookup_key: str, currency: str | None = None) -> SimPrice:
        """The price as charged in ``currency`` (a subscription's: its currency_options)."""
        price = resolve_price(self._catalog, lookup_key, currency)
        if not self._tax.enabled:
            return price
        codes = {price.currency, price.list_currency or price.currency, *price.currency_options}
        behaviors = {code: self._tax.behavior_for(code).value for code in codes}
        return dataclasses.replace(price, tax_behaviors=behaviors)

    def _charge_currency(self, customer: SimCustomer, requested: str | None) -> str | None:
        """Stripe's rule: a customer's currency is set by its first subscription or
        invoice, and nothing is charged to it in another one afterwards."""
        wanted = requested.lower() if requested else None
        if customer.currency and wanted and wanted != customer.currency:
            raise PaymentRequestRejected(
                "You cannot combine currencies on a single customer. This customer has had a "
                f"subscription or payment in {customer.currency}, but you are trying to pay "
                f"in {wanted}."
            )
        return wanted or customer.currency

    # -- rendering and the event log ----------------------------------------------------------

    async def _render_invoice(
        self, session: AsyncSession, inv: SimInvoice, *, expand: bool = False
    ) -> Json:
        """``expand``: the payments' PaymentIntents expanded (the gateway's own answers)."""
        await session.flush()
        payments = [
            render_payments.invoice_payment(
                pi,
                expanded_with_methods=await self._intent_methods(session, inv, pi)
                if expand
                else None,
            )
            for pi in await self._intents(session, inv.id)
        ]
        return render.invoice(inv, base_url=self._base_url, payments=payments)

    async def _intent_methods(
        self, session: AsyncSession, inv: SimInvoice, pi: SimPaymentIntent
    ) -> list[str]:
        """The ``payment_method_types`` Stripe shows on an invoice's PaymentIntent: for
        the invoice a Checkout session paid, the methods the session offered; for any other
        (a renewal, a retry, a pack), the type of the method it charges (card for a card,
        sepa_debit for a SEPA mandate), and card while none is set."""
        checkout = await session.scalar(
            select(SimCheckoutSession).where(
                SimCheckoutSession.invoice_id == inv.id, SimCheckoutSession.mode == "subscription"
            )
        )
        if checkout is not None:
            return list(checkout.payment_method_types or LEGACY_CHECKOUT_METHODS)
        method = (
            await session.get(SimPaymentMethod, pi.payment_method_id)
            if pi.payment_method_id
            else None
        )
        return [method.type if method is not None else "card"]

    async def _render_sub(
        self, session: AsyncSession, sub: SimSubscription, *, expand: bool = False
    ) -> Json:
        """As events carry it (ids), or with ``expand`` as the gateway answers: the latest
        invoice and the schedule (its phases' prices too) expanded."""
        keys = [sub.price_lookup_key] + [str(i["price"]) for i in sub.items or []]
        prices = {key: self._price(key, sub.currency) for key in keys}
        if not expand:
            return render_subscriptions.subscription(sub, prices)
        await session.flush()
        latest = (
            await session.get(SimInvoice, sub.latest_invoice_id) if sub.latest_invoice_id else None
        )
        schedule = (
            await session.get(SimSubscriptionSchedule, sub.schedule_id) if sub.schedule_id else None
        )
        return render_subscriptions.subscription(
            sub,
            prices,
            latest_invoice=await self._render_invoice(session, latest, expand=True)
            if latest is not None
            else None,
            schedule=self._render_schedule(schedule, expand_prices=True)
            if schedule is not None
            else None,
        )

    def _render_schedule(
        self, schedule: SimSubscriptionSchedule, *, expand_prices: bool = False
    ) -> Json:
        prices = {str(p["price"]): self._price(str(p["price"])) for p in schedule.phases or []}
        return render_subscriptions.subscription_schedule(
            schedule, prices, expand_prices=expand_prices
        )

    def _emit(
        self,
        session: AsyncSession,
        customer: SimCustomer,
        type_: str,
        obj: Json,
        at: datetime,
        previous: Json | None = None,
    ) -> Json:
        event = render.event(new_id("evt"), type_, at, obj, previous)
        session.add(
            SimEvent(
                event_id=event["id"],
                customer_id=customer.id,
                type=type_,
                created=at,
                payload=event,
            )
        )
        self._emitted(session).append(event)
        return event

    @staticmethod
    def _emitted(session: AsyncSession) -> list[Json]:
        """The events this transaction emitted, in order (test helpers return them)."""
        emitted: list[Json] = session.info.setdefault("sim_emitted", [])
        return emitted

    async def _emit_sub(
        self,
        session: AsyncSession,
        customer: SimCustomer,
        type_: str,
        sub: SimSubscription,
        at: datetime,
    ) -> Json:
        return self._emit(session, customer, type_, await self._render_sub(session, sub), at)

    async def _emit_invoice(
        self,
        session: AsyncSession,
        customer: SimCustomer,
        type_: str,
        inv: SimInvoice,
        at: datetime,
    ) -> Json:
        return self._emit(session, customer, type_, await self._render_invoice(session, inv), at)

    async def _events_by_id(self, session: AsyncSession, event_ids: list[str]) -> list[Json]:
        rows = await session.execute(
            select(SimEvent.payload).where(SimEvent.event_id.in_(event_ids)).order_by(SimEvent.seq)
        )
        return [dict(p) for p in rows.scalars()]
