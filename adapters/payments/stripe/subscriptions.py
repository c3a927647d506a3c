"""Subscriptions: reading them, and every change the engine makes to one."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import stripe

from adapters.payments.base import PaymentMethodRequired, PaymentRequestRejected, ProrationBehavior
from adapters.payments.stripe.client import (
    SCHEDULE_LIVE,
    SUBSCRIPTION_EXPAND,
    StripeBase,
    items_of,
    obj_id,
    plain,
    plan_item,
    price_lookup_key,
    require_quantity,
    unix,
)
from adapters.payments.stripe.errors import is_missing_payment_method, options, stripe_errors
from domain.payments import ADDON_PRICE_PREFIX, PriceRef, SubscriptionInfo

if TYPE_CHECKING:
    from stripe.params import (
        SubscriptionCreateParams,
        SubscriptionItemCreateParams,
        SubscriptionItemUpdateParams,
        SubscriptionScheduleUpdateParamsPhase,
        SubscriptionScheduleUpdateParamsPhaseDiscount,
        SubscriptionScheduleUpdateParamsPhaseItem,
        SubscriptionUpdateParams,
        SubscriptionUpdateParamsPauseCollection,
    )

# On an add-on subscription item: the idempotency key of the last request that added to it.
# A retried add (its first attempt succeeded, the answer was lost) finds its own key there
# and adds nothing more: the quantity it would send is read from the subscription, so the
# retry is not the same request and Stripe's idempotency alone cannot recognise it.
ADD_REQUEST_METADATA = "lc_add_request"


class SubscriptionsMixin(StripeBase):
    async def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        return await self._info(await self._retrieve(subscription_id))

    async def _update(
        self, subscription_id: str, params: SubscriptionUpdateParams, key: str, operation: str
    ) -> SubscriptionInfo:
        params["expand"] = SUBSCRIPTION_EXPAND
        with stripe_errors(operation):
            updated = await self._client.v1.subscriptions.update_async(
                subscription_id, params, options(key)
            )
        return await self._info(plain(updated))

    async def _release_schedule(self, sub: Mapping[str, Any], key: str) -> bool:
        """Release the subscription's schedule (dropping its pending phases), if any."""
        schedule_id = obj_id(sub.get("schedule"))
        if schedule_id is None:
            return False
        with stripe_errors("release subscription schedule"):
            await self._client.v1.subscription_schedules.release_async(
                schedule_id, None, options(key)
            )
        return True

    # -- subscriptions: changing ---------------------------------------------------------

    async def create_subscription(
        self,
        *,
        provider_customer_id: str,
        customer_id: str,
        price: PriceRef,
        idempotency_key: str,
        coupon: str | None = None,
        currency: str | None = None,
    ) -> SubscriptionInfo:
        resolved = await self._price(price.lookup_key)
        with stripe_errors("retrieve customer"):
            customer = plain(await self._client.v1.customers.retrieve_async(provider_customer_id))
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
            "expand": SUBSCRIPTION_EXPAND,
        }
        if coupon:
            params["discounts"] = [{"coupon": coupon}]
        if currency:
            # Stripe charges the price's currency_options amount for it.
            params["currency"] = currency
        if self._automatic_tax:
            # Stripe Tax computes each invoice's tax from the customer's address and tax ids.
            params["automatic_tax"] = {"enabled": True}
        with stripe_errors("create subscription"):
            try:
                created = await self._client.v1.subscriptions.create_async(
                    params, options(idempotency_key)
                )
            except stripe.InvalidRequestError as err:
                if is_missing_payment_method(err):
                    raise PaymentMethodRequired(
                        f"customer {provider_customer_id} has no default payment method"
                    ) from None
                raise
        return await self._info(plain(created))

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
        item = plan_item(sub)
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
        require_quantity(quantity)
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
        plan_price = plan_item(sub).get("price") or {}
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
                for item in items_of(sub)
                if obj_id(item.get("price")) == resolved.id
                or price_lookup_key(item.get("price")) == lookup_key
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
                    create, options(idempotency_key)
                )
            else:
                update: SubscriptionItemUpdateParams = {
                    "quantity": int(existing.get("quantity") or 1) + quantity,
                    "proration_behavior": "always_invoice",
                    "payment_behavior": "error_if_incomplete",
                    "metadata": {ADD_REQUEST_METADATA: idempotency_key},
                }
                await self._client.v1.subscription_items.update_async(
                    str(existing["id"]), update, options(idempotency_key)
                )
        # The refreshed subscription, with the proration invoice as its latest.
        return await self._info(await self._retrieve(subscription_id))

    async def schedule_price_change(
        self, subscription_id: str, price: PriceRef, *, idempotency_key: str
    ) -> SubscriptionInfo:
        resolved = await self._price(price.lookup_key)
        sub = await self._retrieve(subscription_id)
        item = plan_item(sub)
        current_price_id = obj_id(item.get("price"))
        period_end = item.get("current_period_end") or sub.get("current_period_end")
        if not period_end:
            raise PaymentRequestRejected(
                f"subscription {subscription_id} has no current period", code="no_period"
            )
        schedule = await self._schedule(sub)
        if schedule is None or schedule.get("status") not in SCHEDULE_LIVE:
            with stripe_errors("create subscription schedule"):
                schedule = plain(
                    await self._client.v1.subscription_schedules.create_async(
                        {"from_subscription": subscription_id},
                        options(f"{idempotency_key}:schedule"),
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
            price_id = obj_id(phase_item.get("price"))
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
            if obj_id(discount.get("discount")):
                discounts.append({"discount": str(obj_id(discount.get("discount")))})
            elif obj_id(discount.get("coupon")):
                discounts.append({"coupon": str(obj_id(discount.get("coupon")))})
            elif obj_id(discount.get("promotion_code")):
                discounts.append({"promotion_code": str(obj_id(discount.get("promotion_code")))})
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
                options(f"{idempotency_key}:phases"),
            )
        info = await self._info(await self._retrieve(subscription_id), scheduled=False)
        return dataclasses.replace(info, scheduled_price=price)

    async def cancel_scheduled_change(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo:
        sub = await self._retrieve(subscription_id)
        schedule = await self._schedule(sub)
        if schedule is not None and schedule.get("status") in SCHEDULE_LIVE:
            await self._release_schedule(sub, f"{idempotency_key}:release")
            sub = await self._retrieve(subscription_id)
        info = await self._info(sub, scheduled=False)
        return dataclasses.replace(info, scheduled_price=None)

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
                    subscription_id, {"expand": SUBSCRIPTION_EXPAND}, options(idempotency_key)
                )
        except PaymentRequestRejected:
            # Cancelling twice (a retried activity): the subscription is already gone.
            sub = await self._retrieve(subscription_id)
            if sub.get("status") != "canceled":
                raise
            return await self._info(sub)
        return await self._info(plain(canceled))

    async def reactivate_subscription(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionInfo:
        sub = await self._retrieve(subscription_id)
        # Two ways to be scheduled to cancel: the flag (the engine, classic mode) or a
        # ``cancel_at`` (the Portal in flexible mode, which leaves the flag false). Each is
        # withdrawn by its own parameter.
        params: SubscriptionUpdateParams
        if sub.get("cancel_at_period_end"):
            params = {"cancel_at_period_end": False}
        elif sub.get("cancel_at"):
            params = {"cancel_at": ""}
        else:
            return await self._info(sub)
        return await self._update(
            subscription_id, params, idempotency_key, "reactivate subscription"
        )

    async def pause_subscription(
        self, subscription_id: str, *, resumes_at: datetime | None, idempotency_key: str
    ) -> SubscriptionInfo:
        pause: SubscriptionUpdateParamsPauseCollection = {"behavior": "void"}
        if resumes_at is not None:
            pause["resumes_at"] = unix(resumes_at)
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

    async def apply_coupon(
        self, subscription_id: str, *, coupon: str, idempotency_key: str
    ) -> SubscriptionInfo:
        # ``discounts`` replaces the subscription's discounts; a coupon of duration "once"
        # then applies to the next invoice only.
        return await self._update(
            subscription_id, {"discounts": [{"coupon": coupon}]}, idempotency_key, "apply coupon"
        )
