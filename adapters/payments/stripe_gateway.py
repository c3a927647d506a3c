"""The real payments gateway: Stripe through the stripe SDK's ``StripeClient`` (async).

Every mutating request carries the caller's idempotency key (or a deterministic sub-key
``<key>:<step>`` when one method makes several mutating requests), so a retried activity
replays Stripe's first answer instead of charging twice. Stripe's errors become the
gateway's errors; their messages are rebuilt from codes and ids only, because Stripe's own
messages may quote what was sent (an email address, a name) and these errors end up in
Temporal histories and logs.

Written against the SDK's pinned API version (2026-10-28) and kept to parameters that the
2025-09-30 OpenAPI spec of stripe-mock accepts too (see ``tests/payments``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import stripe

from adapters.payments.base import (
    ADDON_PRICE_PREFIX,
    PLAN_PRICE_PREFIX,
    Address,
    CardDeclined,
    InvoiceInfo,
    InvoicePreview,
    PaymentMethodInfo,
    PaymentMethodRequired,
    PaymentProviderUnavailable,
    PaymentRequestRejected,
    PriceRef,
    ProrationBehavior,
    SubscriptionInfo,
)
from adapters.payments.stripe_objects import (
    parse_invoice,
    parse_payment_method,
    parse_subscription,
)

if TYPE_CHECKING:
    from stripe import RequestOptions
    from stripe.params import (
        CustomerCreateParams,
        CustomerUpdateParams,
        CustomerUpdateParamsAddress,
        InvoiceCreatePreviewParams,
        SubscriptionCreateParams,
        SubscriptionItemCreateParams,
        SubscriptionItemUpdateParams,
        SubscriptionScheduleUpdateParamsPhase,
        SubscriptionScheduleUpdateParamsPhaseDiscount,
        SubscriptionScheduleUpdateParamsPhaseItem,
        SubscriptionUpdateParams,
        SubscriptionUpdateParamsPauseCollection,
    )
    from stripe.params.checkout import SessionCreateParams as CheckoutSessionCreateParams

    from lifecycle.settings import Settings

# Expanded on every subscription we read or write: the first invoice's outcome and the
# schedule that carries a pending plan change.
_SUBSCRIPTION_EXPAND = ["latest_invoice", "schedule"]
_SCHEDULE_LIVE = ("not_started", "active")
# On an add-on subscription item: the idempotency key of the last request that added to it.
# A retried add (its first attempt succeeded, the answer was lost) finds its own key there
# and adds nothing more: the quantity it would send is read from the subscription, so the
# retry is not the same request and Stripe's idempotency alone cannot recognise it.
ADD_REQUEST_METADATA = "lc_add_request"


# -- errors ---------------------------------------------------------------------------


def _describe(err: stripe.StripeError) -> str:
    parts = [type(err).__name__]
    if err.http_status:
        parts.append(f"HTTP {err.http_status}")
    if err.code:
        parts.append(f"code {err.code}")
    param = getattr(err, "param", None)
    if param:
        parts.append(f"param {param}")
    if err.request_id:
        parts.append(f"request {err.request_id}")
    return ", ".join(parts)


@contextmanager
def stripe_errors(operation: str) -> Iterator[None]:
    """Translate the SDK's exceptions into the gateway's, without Stripe's messages.

    ``from None``: the original exception (whose message may carry personal data) is not
    chained, so it never reaches a Temporal failure or a log line through ``__cause__``.
    """
    try:
        yield
    except stripe.CardError as err:
        code = err.code or "card_declined"
        decline = (err.error.decline_code if err.error else None) or code
        raise CardDeclined(
            f"{operation}: the card was declined ({decline})", code=code, decline_code=decline
        ) from None
    except (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError) as err:
        raise PaymentProviderUnavailable(
            f"{operation}: Stripe is unavailable ({_describe(err)})"
        ) from None
    except (
        stripe.InvalidRequestError,
        stripe.AuthenticationError,
        stripe.PermissionError,
        stripe.IdempotencyError,
    ) as err:
        error_type = err.error.type if err.error else None
        raise PaymentRequestRejected(
            f"{operation}: Stripe rejected the request ({_describe(err)})",
            code=err.code or error_type or type(err).__name__,
        ) from None
    except stripe.StripeError as err:
        raise PaymentRequestRejected(
            f"{operation}: Stripe error ({_describe(err)})", code=err.code
        ) from None


def _is_missing_payment_method(err: stripe.StripeError) -> bool:
    # Stripe answers a subscription for a customer without a default payment method with
    # an invalid_request_error that has no dedicated code; recognise it by its text (used
    # only to choose the exception, never copied).
    message = (err.user_message or "").lower()
    return isinstance(err, stripe.InvalidRequestError) and (
        "no attached payment source" in message or "default payment method" in message
    )


def _options(idempotency_key: str) -> RequestOptions:
    return {"idempotency_key": idempotency_key}


# -- helpers --------------------------------------------------------------------------


def _plain(obj: Any) -> dict[str, Any]:
    """A StripeObject (or anything dict-like) as a plain, recursive dict."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"expected a Stripe object, got {type(obj).__name__}")


def _id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return str(value["id"]) if value.get("id") else None
    return str(value) if value else None


def _items(sub: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = sub.get("items")
    if isinstance(items, Mapping):
        return list(items.get("data") or [])
    return []


def _lookup_key(price: Any) -> str | None:
    if isinstance(price, Mapping) and price.get("lookup_key"):
        return str(price["lookup_key"])
    return None


def _plan_item(sub: Mapping[str, Any]) -> Mapping[str, Any]:
    for item in _items(sub):
        if (_lookup_key(item.get("price")) or "").startswith(PLAN_PRICE_PREFIX):
            return item
    raise PaymentRequestRejected(
        f"subscription {sub.get('id')} has no plan item (no price with a "
        f"{PLAN_PRICE_PREFIX}* lookup key)",
        code="no_plan_item",
    )


def _ts(value: datetime) -> int:
    return int(value.timestamp())


def _require_quantity(quantity: int) -> None:
    if quantity < 1:
        raise PaymentRequestRejected(
            f"quantity {quantity} is not a positive integer", code="parameter_invalid_integer"
        )


@dataclass(frozen=True)
class _Price:
    id: str
    lookup_key: str
    interval: str | None


class StripeGateway:
    """``PaymentGateway`` on Stripe. One instance per process; prices are cached."""

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        http_client: stripe.HTTPClient | None = None,
        price_cache_seconds: float = 600.0,
    ) -> None:
        self._http = http_client or stripe.HTTPXClient()
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            # The engine's activities retry with backoff; the SDK must not retry on its own.
            max_network_retries=0,
        )
        # lookup key -> (price, when resolved). Bounded in time so that a price replaced
        # by `lifecycle stripe sync-catalog` is picked up without a restart.
        self._prices: dict[str, tuple[_Price, float]] = {}
        self._price_cache_seconds = price_cache_seconds
        self._lookup_keys_by_price_id: dict[str, str | None] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeGateway:
        if not settings.stripe_api_key:
            raise ValueError("STRIPE_API_KEY is not set")
        return cls(settings.stripe_api_key, api_base=settings.stripe_api_base)

    @property
    def client(self) -> stripe.StripeClient:
        return self._client

    async def aclose(self) -> None:
        await self._http.close_async()

    # -- prices -------------------------------------------------------------------------

    async def _price(self, lookup_key: str) -> _Price:
        cached = self._prices.get(lookup_key)
        if cached is not None and time.monotonic() - cached[1] < self._price_cache_seconds:
            return cached[0]
        with stripe_errors("find price"):
            listing = await self._client.v1.prices.list_async(
                {"lookup_keys": [lookup_key], "active": True, "limit": 10}
            )
        for raw in listing.data:
            price = _plain(raw)
            if price.get("lookup_key") == lookup_key:
                recurring = price.get("recurring") or {}
                found = _Price(str(price["id"]), lookup_key, recurring.get("interval"))
                self._prices[lookup_key] = (found, time.monotonic())
                self._lookup_keys_by_price_id[found.id] = lookup_key
                return found
        raise PaymentRequestRejected(
            f"no active Stripe price with lookup key {lookup_key!r} "
            "(run `lifecycle stripe sync-catalog`)",
            code="price_not_found",
        )

    async def _lookup_key_of(self, price: Any) -> str | None:
        """The lookup key of a price given as an id or an expanded object."""
        if isinstance(price, Mapping):
            return _lookup_key(price)
        price_id = _id(price)
        if price_id is None:
            return None
        if price_id not in self._lookup_keys_by_price_id:
            with stripe_errors("retrieve price"):
                retrieved = _plain(await self._client.v1.prices.retrieve_async(price_id))
            self._lookup_keys_by_price_id[price_id] = _lookup_key(retrieved)
        return self._lookup_keys_by_price_id[price_id]

    # -- subscriptions: reading ----------------------------------------------------------

    async def _retrieve(self, subscription_id: str) -> dict[str, Any]:
        with stripe_errors("retrieve subscription"):
            return _plain(
                await self._client.v1.subscriptions.retrieve_async(
                    subscription_id, {"expand": _SUBSCRIPTION_EXPAND}
                )
            )

    async def _schedule(self, sub: Mapping[str, Any]) -> dict[str, Any] | None:
        schedule = sub.get("schedule")
        if not schedule:
            return None
        if isinstance(schedule, Mapping):
            return dict(schedule)
        with stripe_errors("retrieve subscription schedule"):
            return _plain(await self._client.v1.subscription_schedules.retrieve_async(schedule))

    async def _scheduled_price(self, sub: Mapping[str, Any]) -> PriceRef | None:
        """The plan price of the schedule's next phase, when one is pending."""
        schedule = await self._schedule(sub)
        if schedule is None or schedule.get("status") not in _SCHEDULE_LIVE:
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

    async def _info(self, sub: Mapping[str, Any]) -> SubscriptionInfo:
        info = parse_subscription(sub)
        scheduled = await self._scheduled_price(sub)
        # A schedule whose next phase keeps the plan (a coupon ending, say) changes no price.
        if scheduled is None or scheduled == info.price:
            return info
        return dataclasses.replace(info, scheduled_price=scheduled)

    async def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        return await self._info(await self._retrieve(subscription_id))

    async def _update(
        self, subscription_id: str, params: SubscriptionUpdateParams, key: str, operation: str
    ) -> SubscriptionInfo:
        params["expand"] = _SUBSCRIPTION_EXPAND
        with stripe_errors(operation):
            updated = await self._client.v1.subscriptions.update_async(
                subscription_id, params, _options(key)
            )
        return await self._info(_plain(updated))

    async def _release_schedule(self, sub: Mapping[str, Any], key: str) -> bool:
        """Release the subscription's schedule (dropping its pending phases), if any."""
        schedule_id = _id(sub.get("schedule"))
        if schedule_id is None:
            return False
        with stripe_errors("release subscription schedule"):
            await self._client.v1.subscription_schedules.release_async(
                schedule_id, None, _options(key)
            )
        return True

    # -- customers ----------------------------------------------------------------------

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
                params, _options(idempotency_key)
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
                provider_customer_id, params, _options(idempotency_key)
            )

    async def erase_customer(self, provider_customer_id: str, *, idempotency_key: str) -> None:
        # DELETE is not covered by Stripe's idempotency keys (the key is sent, and ignored);
        # a repeated erasure finds the customer gone, which is the wanted outcome.
        try:
            with stripe_errors("delete customer"):
                await self._client.v1.customers.delete_async(
                    provider_customer_id, None, _options(idempotency_key)
                )
        except PaymentRequestRejected as err:
            if err.code != "resource_missing":
                raise

    async def default_payment_method(self, provider_customer_id: str) -> PaymentMethodInfo | None:
        with stripe_errors("retrieve customer"):
            customer = _plain(
                await self._client.v1.customers.retrieve_async(
                    provider_customer_id, {"expand": ["invoice_settings.default_payment_method"]}
                )
            )
        if customer.get("deleted"):
            return None
        method = (customer.get("invoice_settings") or {}).get("default_payment_method")
        if isinstance(method, Mapping):
            return parse_payment_method(method)
        if method:
            # Not expanded after all (an id): fetch it.
            with stripe_errors("retrieve payment method"):
                return parse_payment_method(
                    _plain(await self._client.v1.payment_methods.retrieve_async(str(method)))
                )
        return None

    async def attach_payment_method(
        self, provider_customer_id: str, payment_method: str, *, idempotency_key: str
    ) -> PaymentMethodInfo:
        with stripe_errors("attach payment method"):
            attached = await self._client.v1.payment_methods.attach_async(
                payment_method,
                {"customer": provider_customer_id},
                _options(f"{idempotency_key}:attach"),
            )
            await self._client.v1.customers.update_async(
                provider_customer_id,
                {"invoice_settings": {"default_payment_method": payment_method}},
                _options(f"{idempotency_key}:default"),
            )
        return parse_payment_method(_plain(attached))

    # -- subscriptions: changing ---------------------------------------------------------

    async def create_subscription(
        self,
        *,
        provider_customer_id: str,
        customer_id: str,
        price: PriceRef,
        idempotency_key: str,
        coupon: str | None = None,
    ) -> SubscriptionInfo:
        resolved = await self._price(price.lookup_key)
        with stripe_errors("retrieve customer"):
            customer = _plain(await self._client.v1.customers.retrieve_async(provider_customer_id))
        if customer.get("deleted"):
            raise PaymentRequestRejected(
                f"customer {provider_customer_id} is deleted", code="resource_missing"
            )
        invoice_settings = customer.get("invoice_settings") or {}
        if not invoice_settings.get("default_payment_method") and not customer.get(
            "default_source"
        ):
            raise PaymentMethodRequired(
                f"customer {provider_customer_id} has no default payment method"
            )
        params: SubscriptionCreateParams = {
            "customer": provider_customer_id,
            "items": [{"price": resolved.id, "quantity": 1}],
            # A decline raises a card error and leaves no incomplete subscription behind.
            "payment_behavior": "error_if_incomplete",
            "metadata": {"customer_id": customer_id},
            "expand": _SUBSCRIPTION_EXPAND,
        }
        if coupon:
            params["discounts"] = [{"coupon": coupon}]
        with stripe_errors("create subscription"):
            try:
                created = await self._client.v1.subscriptions.create_async(
                    params, _options(idempotency_key)
                )
            except stripe.InvalidRequestError as err:
                if _is_missing_payment_method(err):
                    raise PaymentMethodRequired(
                        f"customer {provider_customer_id} has no default payment method"
                    ) from None
                raise
        return await self._info(_plain(created))

    async def change_price(
        self,
        subscription_id: str,
        price: PriceRef,
        *,
        proration: ProrationBehavior,
        idempotency_key: str,
    ) -> SubscriptionInfo:
        resolved = await self._price(price.lookup_key)
        sub = await self._retrieve(subscription_id)
        item = _plan_item(sub)
        # A change now replaces a pending scheduled change (a schedule would also refuse
        # direct edits of what it manages).
        await self._release_schedule(sub, f"{idempotency_key}:release")
        params: SubscriptionUpdateParams = {
            "items": [{"id": str(item["id"]), "price": resolved.id}],
            "proration_behavior": proration,
        }
        if proration == "always_invoice":
            # The proration is invoiced and charged now; a decline leaves the price as it was.
            params["payment_behavior"] = "error_if_incomplete"
        return await self._update(subscription_id, params, idempotency_key, "change price")

    async def add_subscription_item(
        self, subscription_id: str, lookup_key: str, quantity: int, *, idempotency_key: str
    ) -> SubscriptionInfo:
        _require_quantity(quantity)
        if not lookup_key.startswith(ADDON_PRICE_PREFIX):
            raise PaymentRequestRejected(
                f"{lookup_key!r} is not an add-on price", code="parameter_invalid_string"
            )
        resolved = await self._price(lookup_key)
        if resolved.interval is None:
            raise PaymentRequestRejected(
                f"price {lookup_key!r} is one-time: a subscription item needs a recurring price",
                code="parameter_invalid_string",
            )
        sub = await self._retrieve(subscription_id)
        plan_price = _plan_item(sub).get("price") or {}
        plan_interval = (plan_price.get("recurring") or {}).get("interval")
        if plan_interval and plan_interval != resolved.interval:
            # Every item bills with the plan, in one invoice per period (as the simulator).
            raise PaymentRequestRejected(
                f"price {lookup_key!r} bills per {resolved.interval}, subscription "
                f"{subscription_id} per {plan_interval}",
                code="parameter_invalid_string",
            )
        existing = next(
            (
                item
                for item in _items(sub)
                if _id(item.get("price")) == resolved.id
                or _lookup_key(item.get("price")) == lookup_key
            ),
            None,
        )
        if (
            existing is not None
            and (existing.get("metadata") or {}).get(ADD_REQUEST_METADATA) == idempotency_key
        ):
            # This very request already went through (a retry): add nothing twice.
            return await self._info(sub)
        with stripe_errors("add subscription item"):
            if existing is None:
                create: SubscriptionItemCreateParams = {
                    "subscription": subscription_id,
                    "price": resolved.id,
                    "quantity": quantity,
                    # The rest of the period is invoiced and charged now; a decline raises
                    # a card error and leaves the subscription as it was.
                    "proration_behavior": "always_invoice",
                    "payment_behavior": "error_if_incomplete",
                    "metadata": {ADD_REQUEST_METADATA: idempotency_key},
                }
                await self._client.v1.subscription_items.create_async(
                    create, _options(idempotency_key)
                )
            else:
                update: SubscriptionItemUpdateParams = {
                    "quantity": int(existing.get("quantity") or 1) + quantity,
                    "proration_behavior": "always_invoice",
                    "payment_behavior": "error_if_incomplete",
                    "metadata": {ADD_REQUEST_METADATA: idempotency_key},
                }
                await self._client.v1.subscription_items.update_async(
                    str(existing["id"]), update, _options(idempotency_key)
                )
        # The refreshed subscription, with the proration invoice as its latest.
        return await self._info(await self._retrieve(subscription_id))

    async def schedule_price_change(
        self, subscription_id: str, price: PriceRef, *, idempotency_key: str
    ) -> SubscriptionInfo:
        resolved = await self._price(price.lookup_key)
        sub = await self._retrieve(subscription_id)
        item = _plan_item(sub)
        current_price_id = _id(item.get("price"))
        period_end = item.get("current_period_end") or sub.get("current_period_end")
        if not period_end:
            raise PaymentRequestRejected(
                f"subscription {subscription_id} has no current period", code="no_period"
            )
        schedule = await self._schedule(sub)
        if schedule is None or schedule.get("status") not in _SCHEDULE_LIVE:
            with stripe_errors("create subscription schedule"):
                schedule = _plain(
                    await self._client.v1.subscription_schedules.create_async(
                        {"from_subscription": subscription_id},
                        _options(f"{idempotency_key}:schedule"),
                    )
                )
        phases = schedule.get("phases") or []
        current_start = (schedule.get("current_phase") or {}).get("start_date")
        phase = next(
            (p for p in phases if p.get("start_date") == current_start),
            phases[0] if phases else None,
        )
        if phase is None:
            raise PaymentRequestRejected(
                f"subscription schedule {schedule.get('id')} has no phase", code="no_phase"
            )
        now_items: list[SubscriptionScheduleUpdateParamsPhaseItem] = []
        next_items: list[SubscriptionScheduleUpdateParamsPhaseItem] = []
        swapped = False
        for phase_item in phase.get("items") or []:
            price_id = _id(phase_item.get("price"))
            if price_id is None:
                continue
            quantity = int(phase_item.get("quantity") or 1)
            now_items.append({"price": price_id, "quantity": quantity})
            if price_id == current_price_id and not swapped:
                next_items.append({"price": resolved.id, "quantity": quantity})
                swapped = True
            else:
                next_items.append({"price": price_id, "quantity": quantity})
        if not swapped:
            raise PaymentRequestRejected(
                f"subscription schedule {schedule.get('id')} does not carry the plan price",
                code="no_plan_item",
            )
        discounts: list[SubscriptionScheduleUpdateParamsPhaseDiscount] = []
        for discount in phase.get("discounts") or []:
            # Keep the phase's discount (a coupon applied at sign-up) on both phases.
            if _id(discount.get("discount")):
                discounts.append({"discount": str(_id(discount.get("discount")))})
            elif _id(discount.get("coupon")):
                discounts.append({"coupon": str(_id(discount.get("coupon")))})
            elif _id(discount.get("promotion_code")):
                discounts.append({"promotion_code": str(_id(discount.get("promotion_code")))})
        first: SubscriptionScheduleUpdateParamsPhase = {
            "items": now_items,
            "start_date": int(phase["start_date"]),
            "end_date": int(period_end),
            "proration_behavior": "none",
        }
        # One period of the new price, then the schedule releases the subscription, which
        # keeps renewing on it. ``duration`` replaced ``iterations`` (removed 2025-09-30).
        second: SubscriptionScheduleUpdateParamsPhase = {
            "items": next_items,
            "duration": {"interval": resolved.interval or "month", "interval_count": 1},
            "proration_behavior": "none",
        }
        if discounts:
            first["discounts"] = discounts
            second["discounts"] = discounts
        with stripe_errors("schedule price change"):
            await self._client.v1.subscription_schedules.update_async(
                str(schedule["id"]),
                {
                    "phases": [first, second],
                    "end_behavior": "release",
                    "proration_behavior": "none",
                },
                _options(f"{idempotency_key}:phases"),
            )
        info = parse_subscription(await self._retrieve(subscription_id))
        return dataclasses.replace(info, scheduled_price=price)

    async def cancel_scheduled_change(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo:
        sub = await self._retrieve(subscription_id)
        schedule = await self._schedule(sub)
        if schedule is not None and schedule.get("status") in _SCHEDULE_LIVE:
            await self._release_schedule(sub, f"{idempotency_key}:release")
            sub = await self._retrieve(subscription_id)
        return dataclasses.replace(parse_subscription(sub), scheduled_price=None)

    async def cancel_subscription(
        self, subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> SubscriptionInfo:
        if at_period_end:
            sub = await self._retrieve(subscription_id)
            # A schedule refuses direct changes of the cancellation; cancelling also makes a
            # pending plan change moot.
            await self._release_schedule(sub, f"{idempotency_key}:release")
            return await self._update(
                subscription_id,
                {"cancel_at_period_end": True},
                idempotency_key,
                "cancel subscription at period end",
            )
        try:
            with stripe_errors("cancel subscription"):
                canceled = await self._client.v1.subscriptions.cancel_async(
                    subscription_id, {"expand": _SUBSCRIPTION_EXPAND}, _options(idempotency_key)
                )
        except PaymentRequestRejected:
            # Cancelling twice (a retried activity): the subscription is already gone.
            sub = await self._retrieve(subscription_id)
            if sub.get("status") != "canceled":
                raise
            return await self._info(sub)
        return await self._info(_plain(canceled))

    async def reactivate_subscription(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo:
        return await self._update(
            subscription_id,
            {"cancel_at_period_end": False},
            idempotency_key,
            "reactivate subscription",
        )

    async def pause_subscription(
        self, subscription_id: str, *, resumes_at: datetime | None, idempotency_key: str
    ) -> SubscriptionInfo:
        pause: SubscriptionUpdateParamsPauseCollection = {"behavior": "void"}
        if resumes_at is not None:
            pause["resumes_at"] = _ts(resumes_at)
        return await self._update(
            subscription_id, {"pause_collection": pause}, idempotency_key, "pause subscription"
        )

    async def resume_subscription(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo:
        # An empty string unsets pause_collection: invoices are collected again.
        return await self._update(
            subscription_id, {"pause_collection": ""}, idempotency_key, "resume subscription"
        )

    # -- invoices -----------------------------------------------------------------------

    async def _preview(self, params: InvoiceCreatePreviewParams) -> InvoiceInfo:
        # A preview changes nothing: no caller key; the SDK sends a fresh one per request
        # (a fixed key would replay a stale proration for 24 hours).
        with stripe_errors("preview invoice"):
            return parse_invoice(
                _plain(await self._client.v1.invoices.create_preview_async(params))
            )

    async def preview_change(
        self,
        *,
        provider_customer_id: str,
        subscription_id: str | None,
        price: PriceRef,
        proration: ProrationBehavior,
    ) -> InvoicePreview:
        resolved = await self._price(price.lookup_key)
        if subscription_id is None:
            # A new subscription: its first invoice is charged now, and renews alike.
            first = await self._preview(
                {
                    "customer": provider_customer_id,
                    "subscription_details": {"items": [{"price": resolved.id, "quantity": 1}]},
                }
            )
            ends = [line.period_end for line in first.lines if line.period_end]
            return InvoicePreview(
                amount_due_now_cents=first.amount_due_cents,
                currency=first.currency,
                lines=first.lines,
                next_invoice_amount_cents=first.amount_due_cents,
                next_invoice_at=max(ends) if ends else None,
            )
        sub = await self._retrieve(subscription_id)
        item_id = str(_plan_item(sub)["id"])
        now: InvoiceInfo | None = None
        if proration == "always_invoice":
            # With always_invoice the preview is the invoice created (and charged) at once.
            now = await self._preview(
                {
                    "subscription": subscription_id,
                    "subscription_details": {
                        "items": [{"id": item_id, "price": resolved.id}],
                        "proration_behavior": "always_invoice",
                    },
                }
            )
        upcoming = await self._preview(
            {
                "subscription": subscription_id,
                "subscription_details": {
                    "items": [{"id": item_id, "price": resolved.id}],
                    "proration_behavior": "none",
                },
            }
        )
        regular = [line.period_start for line in upcoming.lines if not line.proration]
        next_at = min((s for s in regular if s), default=None) or (
            upcoming.next_payment_attempt or upcoming.period_end
        )
        return InvoicePreview(
            amount_due_now_cents=now.amount_due_cents if now else 0,
            currency=(now or upcoming).currency,
            lines=(now or upcoming).lines,
            next_invoice_amount_cents=upcoming.amount_due_cents,
            next_invoice_at=next_at,
        )

    async def list_invoices(
        self, provider_customer_id: str, *, limit: int = 24
    ) -> list[InvoiceInfo]:
        with stripe_errors("list invoices"):
            listing = await self._client.v1.invoices.list_async(
                {"customer": provider_customer_id, "limit": max(1, min(limit, 100))}
            )
        return [parse_invoice(_plain(invoice)) for invoice in listing.data]

    async def pay_invoice(self, invoice_id: str, *, idempotency_key: str) -> InvoiceInfo:
        try:
            with stripe_errors("pay invoice"):
                paid = await self._client.v1.invoices.pay_async(
                    invoice_id, None, _options(idempotency_key)
                )
        except PaymentRequestRejected:
            # Paid meanwhile (by Stripe's own retry, or a retried activity with a new key).
            with stripe_errors("retrieve invoice"):
                invoice = parse_invoice(
                    _plain(await self._client.v1.invoices.retrieve_async(invoice_id))
                )
            if invoice.status != "paid":
                raise
            return invoice
        return parse_invoice(_plain(paid))

    async def charge_one_off(
        self,
        provider_customer_id: str,
        lookup_key: str,
        quantity: int,
        *,
        idempotency_key: str,
    ) -> InvoiceInfo:
        """A draft invoice (nothing pending swept in), the price as its one invoice item,
        finalized and paid now; a failed payment voids it. Each step has its own sub-key, so
        a retry replays the steps already done."""
        _require_quantity(quantity)
        resolved = await self._price(lookup_key)
        if resolved.interval is not None:
            raise PaymentRequestRejected(
                f"price {lookup_key!r} is recurring: a one-off charge needs a one-time price",
                code="parameter_invalid_string",
            )
        with stripe_errors("create invoice"):
            draft = await self._client.v1.invoices.create_async(
                {
                    "customer": provider_customer_id,
                    "collection_method": "charge_automatically",
                    # Finalized and paid below, not an hour later by Stripe.
                    "auto_advance": False,
                    # Only the item below, never other pending items of the customer.
                    "pending_invoice_items_behavior": "exclude",
                },
                _options(f"{idempotency_key}:invoice"),
            )
        invoice_id = str(draft.id)
        with stripe_errors("create invoice item"):
            # Attached to the draft: a pending item could be swept into a subscription
            # invoice made meanwhile (a renewal, an add-on's proration).
            await self._client.v1.invoice_items.create_async(
                {
                    "customer": provider_customer_id,
                    "invoice": invoice_id,
                    # ``pricing.price`` replaced ``price`` in 2025-03-31.basil.
                    "pricing": {"price": resolved.id},
                    "quantity": quantity,
                },
                _options(f"{idempotency_key}:item"),
            )
        with stripe_errors("finalize invoice"):
            finalized = parse_invoice(
                _plain(
                    await self._client.v1.invoices.finalize_invoice_async(
                        invoice_id, {"auto_advance": False}, _options(f"{idempotency_key}:finalize")
                    )
                )
            )
        if finalized.status == "paid":
            # Nothing was due (the customer's credit balance covered it).
            return finalized
        failure: CardDeclined | PaymentMethodRequired | None = None
        try:
            with stripe_errors("pay invoice"):
                try:
                    paid = await self._client.v1.invoices.pay_async(
                        invoice_id, None, _options(f"{idempotency_key}:pay")
                    )
                except stripe.InvalidRequestError as err:
                    if _is_missing_payment_method(err):
                        raise PaymentMethodRequired(
                            f"customer {provider_customer_id} has no default payment method"
                        ) from None
                    raise
        except (CardDeclined, PaymentMethodRequired) as err:
            failure = err
        if failure is None:
            return parse_invoice(_plain(paid))
        # Leave nothing payable behind. If voiding fails the error propagates (a retry with
        # the same key replays the failed payment and voids again).
        with stripe_errors("void invoice"):
            await self._client.v1.invoices.void_invoice_async(
                invoice_id, None, _options(f"{idempotency_key}:void")
            )
        raise failure

    async def mark_invoice_uncollectible(
        self, invoice_id: str, *, idempotency_key: str
    ) -> InvoiceInfo:
        with stripe_errors("retrieve invoice"):
            current = parse_invoice(
                _plain(await self._client.v1.invoices.retrieve_async(invoice_id))
            )
        if current.status != "open":
            return current
        with stripe_errors("mark invoice uncollectible"):
            marked = await self._client.v1.invoices.mark_uncollectible_async(
                invoice_id, None, _options(idempotency_key)
            )
        return parse_invoice(_plain(marked))

    # -- hosted pages -------------------------------------------------------------------

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
    ) -> str:
        resolved = await self._price(price.lookup_key)
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
        with stripe_errors("create checkout session"):
            session = await self._client.v1.checkout.sessions.create_async(
                params, _options(idempotency_key)
            )
        if not session.url:
            raise PaymentRequestRejected("checkout session has no URL", code="no_url")
        return str(session.url)

    async def create_portal_session(self, *, provider_customer_id: str, return_url: str) -> str:
        # A short-lived link with nothing to replay: no caller key (the SDK sends a fresh one).
        with stripe_errors("create portal session"):
            session = await self._client.v1.billing_portal.sessions.create_async(
                {"customer": provider_customer_id, "return_url": return_url}
            )
        return str(session.url)
