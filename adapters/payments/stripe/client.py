"""What every part of the Stripe gateway shares: the SDK client (pinned to the engine's API
version), the price caches, and reading subscriptions and invoices into the gateway's values."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe

from adapters.payments.base import STRIPE_API_VERSION, PaymentRequestRejected
from adapters.payments.stripe.errors import stripe_errors
from adapters.payments.stripe_objects import parse_invoice, parse_subscription
from domain.payments import PLAN_PRICE_PREFIX, InvoiceInfo, PriceRef, SubscriptionInfo

# Expanded on every subscription we read or write: the first invoice's outcome and the
# schedule that carries a pending plan change.
SUBSCRIPTION_EXPAND = ["latest_invoice", "schedule"]
# On an invoice read on its own: the latest payment's PaymentIntent, which holds the decline
# code and whether the customer must authenticate (the Invoice has neither).
INVOICE_EXPAND = ["payments.data.payment.payment_intent"]
SCHEDULE_LIVE = ("not_started", "active")


def plain(obj: Any) -> dict[str, Any]:
    """A StripeObject (or anything dict-like) as a plain, recursive dict."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"expected a Stripe object, got {type(obj).__name__}")


def obj_id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return str(value["id"]) if value.get("id") else None
    return str(value) if value else None


def items_of(sub: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = sub.get("items")
    if isinstance(items, Mapping):
        return list(items.get("data") or [])
    return []


def price_lookup_key(price: Any) -> str | None:
    if isinstance(price, Mapping) and price.get("lookup_key"):
        return str(price["lookup_key"])
    return None


def plan_item(sub: Mapping[str, Any]) -> Mapping[str, Any]:
    for item in items_of(sub):
        if (price_lookup_key(item.get("price")) or "").startswith(PLAN_PRICE_PREFIX):
            return item
    raise PaymentRequestRejected(
        f"subscription {sub.get('id')} has no plan item (no price with a "
        f"{PLAN_PRICE_PREFIX}* lookup key)",
        code="no_plan_item",
    )


def unix(value: datetime) -> int:
    return int(value.timestamp())


def require_quantity(quantity: int) -> None:
    if quantity < 1:
        raise PaymentRequestRejected(
            f"quantity {quantity} is not a positive integer", code="parameter_invalid_integer"
        )


@dataclass(frozen=True)
class ResolvedPrice:
    id: str
    lookup_key: str
    interval: str | None


class StripeBase:
    """The client and the caches; the gateway's parts (customers, subscriptions, invoices,
    hosted pages) build on it."""

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        http_client: stripe.HTTPClient | None = None,
        price_cache_seconds: float = 600.0,
        automatic_tax: bool = False,
    ) -> None:
        self._http = http_client or stripe.HTTPXClient()
        # Stripe Tax on new subscriptions and Checkout sessions (``[tax] enabled``).
        self._automatic_tax = automatic_tax
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            # The shapes the parser reads are this version's, not the SDK's own pin.
            stripe_version=STRIPE_API_VERSION,
            # The engine's activities retry with backoff; the SDK must not retry on its own.
            max_network_retries=0,
        )
        # lookup key -> (price, when resolved). Bounded in time so that a price replaced
        # by `lifecycle stripe sync-catalog` is picked up without a restart.
        self._prices: dict[str, tuple[ResolvedPrice, float]] = {}
        self._price_cache_seconds = price_cache_seconds
        # price id -> lookup key, kept for good: a replaced price loses its lookup key at
        # Stripe, and an old invoice line still maps to the key it was sold under.
        self._lookup_keys_by_price_id: dict[str, str | None] = {}
        self._portal_configuration: str | None = None

    @property
    def client(self) -> stripe.StripeClient:
        return self._client

    async def aclose(self) -> None:
        await self._http.close_async()

    # -- prices -------------------------------------------------------------------------

    async def _price(self, key: str) -> ResolvedPrice:
        cached = self._prices.get(key)
        if cached is not None and time.monotonic() - cached[1] < self._price_cache_seconds:
            return cached[0]
        with stripe_errors("find price"):
            listing = await self._client.v1.prices.list_async(
                {"lookup_keys": [key], "active": True, "limit": 10}
            )
        for raw in listing.data:
            price = plain(raw)
            if price.get("lookup_key") == key:
                recurring = price.get("recurring") or {}
                found = ResolvedPrice(str(price["id"]), key, recurring.get("interval"))
                self._prices[key] = (found, time.monotonic())
                self._lookup_keys_by_price_id[found.id] = key
                return found
        raise PaymentRequestRejected(
            f"no active Stripe price with lookup key {key!r} (run `lifecycle stripe sync-catalog`)",
            code="price_not_found",
        )

    async def _lookup_key_of(self, price: Any) -> str | None:
        """The lookup key of a price given as an id or an expanded object."""
        if isinstance(price, Mapping):
            return price_lookup_key(price)
        price_id = obj_id(price)
        if price_id is None:
            return None
        if price_id not in self._lookup_keys_by_price_id:
            with stripe_errors("retrieve price"):
                retrieved = plain(await self._client.v1.prices.retrieve_async(price_id))
            self._lookup_keys_by_price_id[price_id] = price_lookup_key(retrieved)
        return self._lookup_keys_by_price_id[price_id]

    # -- reading ------------------------------------------------------------------------

    async def _invoice(self, obj: Mapping[str, Any]) -> InvoiceInfo:
        """An invoice with its lines' lookup keys: a line names its price by id only
        (``pricing.price_details.price``; expansion stops short of it)."""
        info = parse_invoice(obj)
        if not any(line.price_id and not line.price_lookup_key for line in info.lines):
            return info
        lines = []
        for line in info.lines:
            if line.price_id and not line.price_lookup_key:
                line = dataclasses.replace(
                    line, price_lookup_key=await self._lookup_key_of(line.price_id)
                )
            lines.append(line)
        return dataclasses.replace(info, lines=tuple(lines))

    async def _retrieve(self, subscription_id: str) -> dict[str, Any]:
        with stripe_errors("retrieve subscription"):
            return plain(
                await self._client.v1.subscriptions.retrieve_async(
                    subscription_id, {"expand": SUBSCRIPTION_EXPAND}
                )
            )

    async def _schedule(self, sub: Mapping[str, Any]) -> dict[str, Any] | None:
        schedule = sub.get("schedule")
        if not schedule:
            return None
        if isinstance(schedule, Mapping):
            return dict(schedule)
        with stripe_errors("retrieve subscription schedule"):
            return plain(await self._client.v1.subscription_schedules.retrieve_async(schedule))

    async def _scheduled_price(self, sub: Mapping[str, Any]) -> PriceRef | None:
        """The plan price of the schedule's next phase, when one is pending."""
        schedule = await self._schedule(sub)
        if schedule is None or schedule.get("status") not in SCHEDULE_LIVE:
            return None
        boundary = (schedule.get("current_phase") or {}).get("end_date")
        upcoming = sorted(
            (
                phase
                for phase in schedule.get("phases") or []
                if boundary is None or int(phase.get("start_date") or 0) >= int(boundary)
            ),
            key=lambda phase: int(phase.get("start_date") or 0),
        )
        if not upcoming:
            return None
        for item in upcoming[0].get("items") or []:
            ref = PriceRef.from_lookup_key(await self._lookup_key_of(item.get("price")))
            if ref is not None:
                return ref
        return None

    async def _info(self, sub: Mapping[str, Any], *, scheduled: bool = True) -> SubscriptionInfo:
        """``scheduled=False``: the caller knows the pending change (it just set or dropped
        it) better than a read of the schedule would."""
        info = parse_subscription(sub)
        latest = sub.get("latest_invoice")
        if isinstance(latest, Mapping):
            info = dataclasses.replace(info, latest_invoice=await self._invoice(latest))
        if not scheduled:
            return info
        pending = await self._scheduled_price(sub)
        # A schedule whose next phase keeps the plan (a coupon ending, say) changes no price.
        if pending is None or pending == info.price:
            return info
        return dataclasses.replace(info, scheduled_price=pending)
