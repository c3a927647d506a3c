"""Churn prevention in the customer's workflow: offers sent to the customer (a campaign, the
churn run), the save flow's exit reason, and taking an offer in one command."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.emails import EmailTemplate
    from domain.lifecycle import Status
    from domain.notifications import NotificationKind
    from domain.retention import OfferKind, OfferSource
    from workflows.customer import subscription, trial
    from workflows.customer.context import CustomerContext
    from workflows.customer.effects import email, iso, notify, record, subscription_command
    from workflows.messages import (
        AcceptOffer,
        ChangeSubscription,
        ExtendTrial,
        MakeOffer,
        OfferRecord,
        PauseSubscription,
        ReactivateSubscription,
        RequestCancellation,
    )

# Offers kept in the state: enough to refuse a repeat and to find the one being taken.
KEPT = 20

# Who an offer may reach: a paying customer in good standing (one scheduled to cancel
# too: that is whom an offer may keep) or a trial, running or expired.
OFFERABLE = (Status.ACTIVE, Status.TRIALING, Status.TRIAL_EXPIRED)


def _keep(ctx: CustomerContext, offer: OfferRecord) -> None:
    ctx.state.offers = [*ctx.state.offers, offer][-KEPT:]


def _why_not(ctx: CustomerContext, offer: MakeOffer) -> str | None:
    state, now = ctx.state, workflow.now()
    if state.status not in OFFERABLE:
        return f"status {state.status.value}"
    if offer.expires_at is not None and offer.expires_at <= now:
        return "expired"
    if offer.quiet_days:
        quiet = timedelta(days=offer.quiet_days)
        if any(r.source == offer.source and r.sent and now - r.at < quiet for r in state.offers):
            return f"an offer from {offer.source} within {offer.quiet_days} days"
    return None


async def make(ctx: CustomerContext, offer: MakeOffer) -> None:
    """Send the offer once: a repeated id changes nothing, one that does not fit is
    recorded as not sent."""
    if ctx.state.offer(offer.offer_id) is not None:
        return
    why_not = _why_not(ctx, offer)
    _keep(
        ctx,
        OfferRecord(
            id=offer.offer_id,
            kind=OfferKind.COUPON.value,
            source=offer.source,
            at=workflow.now(),
            coupon=offer.coupon,
            expires_at=offer.expires_at,
            sent=why_not is None,
        ),
    )
    data: dict[str, Any] = {
        "offer_id": offer.offer_id,
        "source": offer.source,
        "coupon": offer.coupon,
        "headline": offer.headline,
        "expires_at": iso(offer.expires_at),
    }
    if why_not is not None:
        await record(ctx, "offer_not_sent", actor=offer.actor, data={**data, "why": why_not})
        return
    await record(ctx, "offer_sent", actor=offer.actor, data=data)
    message = {
        "offer_id": offer.offer_id,
        "headline": offer.headline,
        "expires_at": iso(offer.expires_at),
    }
    key = f"offer:{offer.offer_id}"
    await email(ctx, EmailTemplate.OFFER, key=key, data=message)
    await notify(ctx, NotificationKind.OFFER, key=key, data=message)


async def request_cancellation(ctx: CustomerContext, command: RequestCancellation) -> None:
    await record(
        ctx,
        "cancellation_requested",
        actor=command.actor,
        data={"reason": command.reason, "offers": list(command.offers)},
    )


async def accept(ctx: CustomerContext, command: AcceptOffer) -> None:
    """Carry the offer out, withdrawing a scheduled cancellation first (the customer
    stays), then record the acceptance."""
    state, now = ctx.state, workflow.now()
    kind = OfferKind(command.kind)
    made = state.offer(command.offer_id) if command.offer_id else None
    coupon = made.coupon if made is not None else command.coupon
    if state.cancel_at_period_end:
        await subscription.reactivate(ctx, ReactivateSubscription(actor=command.actor))
    if kind is OfferKind.PAUSE:
        assert command.days is not None
        resumes_at = now + timedelta(days=command.days)
        await subscription.pause(ctx, PauseSubscription(actor=command.actor, resumes_at=resumes_at))
    elif kind is OfferKind.DOWNGRADE:
        assert command.plan is not None and command.interval is not None
        await subscription.change_plan(
            ctx,
            ChangeSubscription(
                plan=command.plan,
                interval=command.interval,
                actor=command.actor,
                when="period_end",
            ),
        )
    elif kind is OfferKind.EXTEND_TRIAL:
        assert command.days is not None
        await trial.extend(
            ctx,
            ExtendTrial(
                days=command.days,
                reason=f"save offer ({command.reason or 'no reason given'})",
                actor=command.actor,
            ),
        )
    elif state.status is Status.ACTIVE:
        assert coupon is not None
        await subscription_command(ctx, "apply_coupon", ctx.next_command(), coupon=coupon)
    else:
        # A trial: the discount waits for the conversion.
        state.conversion_coupon = coupon
    if made is not None:
        made.accepted_at = now
    else:
        seq_id = f"{OfferSource.SAVE_FLOW.value}:{kind.value}:{state.ledger_seq}"
        _keep(
            ctx,
            OfferRecord(
                id=seq_id,
                kind=kind.value,
                source=OfferSource.SAVE_FLOW.value,
                at=now,
                coupon=coupon,
                accepted_at=now,
            ),
        )
    await record(
        ctx,
        "offer_accepted",
        actor=command.actor,
        data={
            "offer_id": command.offer_id,
            "source": made.source if made is not None else OfferSource.SAVE_FLOW.value,
            "kind": kind.value,
            "reason": command.reason,
            "coupon": coupon,
            "plan": command.plan,
            "days": command.days,
        },
    )
