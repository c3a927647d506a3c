"""The subscription at the provider: create, change or schedule a price, commands
(cancel, reactivate, pause, resume, coupon), fetch; each mirrored into the read model."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.billing.base import BillingBase
from activities.billing.failures import final_failures
from activities.billing.inputs import (
    ChangePriceInput,
    CreateSubscriptionInput,
    FetchSubscriptionInput,
    SchedulePriceChangeInput,
    SubscriptionCommandInput,
)
from domain.payments import SubscriptionInfo


class SubscriptionActivities(BillingBase):
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
