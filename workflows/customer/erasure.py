"""GDPR erasure: end billing, erase the provider's and the app's personal data.

The workflow never held personal data; it ends once this is done.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities, EraseProviderCustomerInput
    from activities.privacy import ErasePersonalDataInput, PrivacyActivities
    from domain.lifecycle import Status
    from workflows.customer import effects, subscription
    from workflows.customer.context import CustomerContext
    from workflows.messages import EraseCustomer

_TIMEOUT = timedelta(seconds=15)
_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))


async def erase(ctx: CustomerContext, command: EraseCustomer) -> None:
    state = ctx.state
    seq = ctx.next_command()
    if state.status is not Status.CANCELED and state.subscription_id is not None:
        await effects.subscription_command(ctx, "cancel", seq, at_period_end=False)
        state.dunning = None
        await subscription.end_subscription(
            ctx, actor=command.actor, reason="erased", key=f"erase:{seq}"
        )
    elif state.status in (Status.TRIALING, Status.TRIAL_EXPIRED):
        # A trial ends too: no more reminders or win-backs to an erased customer.
        await effects.move(ctx, Status.CANCELED, "trial_ended", actor=command.actor)
    await effects.billing(
        ctx,
        BillingActivities.erase_provider_customer,
        EraseProviderCustomerInput(
            customer_id=state.customer_id,
            provider_customer_id=state.provider_customer_id,
            idempotency_key=f"{state.customer_id}:erase_provider",
        ),
    )
    await workflow.execute_activity_method(
        PrivacyActivities.erase_personal_data,
        ErasePersonalDataInput(
            customer_id=state.customer_id, actor=command.actor, erased_at=workflow.now()
        ),
        start_to_close_timeout=_TIMEOUT,
        retry_policy=_RETRY,
    )
