"""domain.reconciliation on hand-made sides: agreeing sides list nothing; each planted
difference is listed once, with its customer; what is not a difference stays out."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from domain.lifecycle import BillingInterval
from domain.payments import InvoiceInfo, PriceRef, SubscriptionInfo
from domain.reconciliation import (
    Difference,
    EngineInvoice,
    EngineSubscription,
    Reconciliation,
    reconcile,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
T1 = datetime(2026, 12, 1, tzinfo=UTC)
AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
CUSTOMERS = {"cus_a": "c-a", "cus_b": "c-b"}


def provider_invoice(id: str, customer: str = "cus_a", **changes: object) -> InvoiceInfo:
    invoice = InvoiceInfo(
        id=id,
        customer=customer,
        subscription="sub_a",
        number="N-1",
        status="paid",
        currency="usd",
        subtotal_cents=2900,
        total_cents=2900,
        amount_due_cents=2900,
        amount_paid_cents=2900,
        amount_remaining_cents=0,
        billing_reason="subscription_create",
        created=T0,
        period_start=T0,
        period_end=T1,
    )
    return dataclasses.replace(invoice, **changes)  # type: ignore[arg-type]


def engine_invoice(id: str, customer_id: str = "c-a", **changes: object) -> EngineInvoice:
    invoice = EngineInvoice(
        id=id,
        customer_id=customer_id,
        status="paid",
        currency="usd",
        total_cents=2900,
        amount_due_cents=2900,
        amount_paid_cents=2900,
        period_start=T0,
        period_end=T1,
        created_at=T0,
    )
    return dataclasses.replace(invoice, **changes)  # type: ignore[arg-type]


def provider_sub(id: str = "sub_a", customer: str = "cus_a", **changes: object) -> SubscriptionInfo:
    sub = SubscriptionInfo(
        id=id,
        customer=customer,
        status="active",
        price=PriceRef("starter", BillingInterval.MONTH),
        current_period_start=T0,
        current_period_end=T1,
        cancel_at_period_end=False,
    )
    return dataclasses.replace(sub, **changes)  # type: ignore[arg-type]


def engine_sub(
    id: str = "sub_a", customer_id: str = "c-a", **changes: object
) -> EngineSubscription:
    sub = EngineSubscription(
        customer_id=customer_id,
        provider_customer_id="cus_a",
        subscription_id=id,
        status="active",
        plan="starter",
        interval="month",
        cancel_at_period_end=False,
        current_period_start=T0,
        current_period_end=T1,
    )
    return dataclasses.replace(sub, **changes)  # type: ignore[arg-type]


def run(
    mine_invoices: list[EngineInvoice],
    their_invoices: list[InvoiceInfo],
    mine_subs: list[EngineSubscription],
    their_subs: list[SubscriptionInfo],
    grace: timedelta = timedelta(0),
) -> Reconciliation:
    return reconcile(
        engine_invoices=mine_invoices,
        provider_invoices=their_invoices,
        engine_subscriptions=mine_subs,
        provider_subscriptions=their_subs,
        customers_by_provider_id=CUSTOMERS,
        as_of=AS_OF,
        grace=grace,
    )


def test_agreeing_sides_list_nothing() -> None:
    result = run(
        [engine_invoice("in_1")], [provider_invoice("in_1")], [engine_sub()], [provider_sub()]
    )
    assert result.differences == ()
    assert (result.invoices_compared, result.subscriptions_compared) == (1, 1)


def test_every_invoice_and_payment_difference_is_listed_with_its_customer() -> None:
    result = run(
        [
            engine_invoice("in_1", amount_paid_cents=0, status="open"),
            engine_invoice("in_2", total_cents=100, period_end=T1 + timedelta(days=1)),
            engine_invoice("in_ghost", customer_id="c-b"),
        ],
        [
            provider_invoice("in_1"),
            provider_invoice("in_2"),
            provider_invoice("in_extra", customer="cus_b"),
            provider_invoice("in_stranger", customer="cus_unknown"),
        ],
        [],
        [],
    )
    pa, pb = "cus_a", "cus_b"
    assert list(result.differences) == [
        Difference(
            "invoice",
            "in_stranger",
            "missing_in_engine",
            None,
            "cus_unknown",
            "status",
            None,
            "paid",
        ),
        Difference("invoice", "in_1", "status_mismatch", "c-a", pa, "status", "open", "paid"),
        Difference("payment", "in_1", "amount_mismatch", "c-a", pa, "amount_paid_cents", 0, 2900),
        Difference("invoice", "in_2", "amount_mismatch", "c-a", pa, "total_cents", 100, 2900),
        Difference(
            "invoice",
            "in_2",
            "period_mismatch",
            "c-a",
            pa,
            "period_end",
            (T1 + timedelta(days=1)).isoformat(),
            T1.isoformat(),
        ),
        Difference("invoice", "in_extra", "missing_in_engine", "c-b", pb, "status", None, "paid"),
        Difference("invoice", "in_ghost", "missing_at_provider", "c-b", pb),
    ]


def test_drafts_unpaid_voids_and_young_invoices_are_no_difference() -> None:
    result = run(
        [engine_invoice("in_young", created_at=AS_OF - timedelta(minutes=1))],
        [
            provider_invoice("in_draft", status="draft"),
            provider_invoice("in_void", status="void", amount_paid_cents=0),
            provider_invoice("in_new", created=AS_OF - timedelta(minutes=5)),
        ],
        [],
        [],
        grace=timedelta(minutes=15),
    )
    assert result.differences == ()
    # A void invoice that took money is a difference.
    paid_void = run([], [provider_invoice("in_void", status="void")], [], [])
    assert [d.kind for d in paid_void.differences] == ["missing_in_engine"]


def test_every_subscription_difference_is_listed() -> None:
    result = run(
        [],
        [],
        [
            engine_sub("sub_a", status="active", cancel_at_period_end=True),
            engine_sub("sub_b", customer_id="c-b", plan="pro", current_period_end=T0),
            engine_sub("sub_gone", customer_id="c-b"),
        ],
        [
            provider_sub("sub_a", status="past_due"),
            provider_sub("sub_b", customer="cus_b"),
            provider_sub("sub_old", customer="cus_b", status="canceled"),
            provider_sub("sub_live", customer="cus_b"),
        ],
    )
    assert [
        (d.customer_id, d.object_id, d.kind, d.field, d.engine, d.provider)
        for d in result.differences
    ] == [
        ("c-a", "sub_a", "status_mismatch", "cancel_at_period_end", True, False),
        ("c-a", "sub_a", "status_mismatch", "status", "active", "past_due"),
        ("c-b", "sub_b", "period_mismatch", "current_period_end", T0.isoformat(), T1.isoformat()),
        ("c-b", "sub_b", "plan_mismatch", "plan", "pro", "starter"),
        ("c-b", "sub_gone", "missing_at_provider", "status", "active", None),
        ("c-b", "sub_live", "missing_in_engine", "status", None, "active"),
    ]


def test_a_paused_collection_agrees_with_a_paused_customer() -> None:
    paused = provider_sub(paused=True)
    assert run([], [], [engine_sub(status="paused")], [paused]).differences == ()
    (difference,) = run([], [], [engine_sub(status="active")], [paused]).differences
    assert (difference.field, difference.engine, difference.provider) == (
        "status",
        "active",
        "paused",
    )


def test_a_canceled_customer_agrees_with_an_ended_subscription_whatever_its_period() -> None:
    ended = provider_sub(status="canceled", current_period_end=T0)
    assert run([], [], [engine_sub(status="canceled")], [ended]).differences == ()
