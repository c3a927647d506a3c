"""Buying add-ons: recurring ones join the subscription, a one-off pack is invoiced now."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities, PurchaseAddonInput
    from domain.payments import addon_lookup_key
    from workflows.customer import effects, patches
    from workflows.customer.context import CustomerContext
    from workflows.messages import PurchaseAddon


async def purchase(ctx: CustomerContext, command: PurchaseAddon) -> None:
    state = ctx.state
    addon = ctx.catalog.addons[command.addon]
    assert state.interval is not None and state.subscription_id is not None
    assert state.provider_customer_id is not None
    seq = ctx.next_command()
    one_off = addon.kind == "one_off"
    result = await effects.billing(
        ctx,
        BillingActivities.purchase_addon,
        PurchaseAddonInput(
            customer_id=state.customer_id,
            provider_customer_id=state.provider_customer_id,
            subscription_id=state.subscription_id,
            addon=addon.id,
            kind=addon.kind,
            lookup_key=addon_lookup_key(addon.id, None if one_off else state.interval),
            quantity=command.quantity,
            idempotency_key=ctx.key(seq, f"addon:{addon.id}"),
            period_start=state.current_period_start,
            period_end=state.current_period_end,
            payment_method=state.payment_method_id
            if ctx.since(patches.PROVIDER_STATE_READ)
            else None,
        ),
    )
    new_mrr = None
    if not one_off:
        state.addons = {**state.addons, addon.id: state.addons.get(addon.id, 0) + command.quantity}
        new_mrr = ctx.mrr(state.plan, state.interval)
    await effects.record(
        ctx,
        "addon_purchased",
        actor=command.actor,
        new_mrr=new_mrr,
        data={
            "addon": addon.id,
            "kind": addon.kind,
            "quantity": command.quantity,
            "amount_paid_cents": result.amount_paid_cents,
            "invoice_id": result.invoice_id,
        },
    )
