"""Reconciliation: the engine's invoices, payments and subscriptions against the payment
provider's, every difference listed with the customer it concerns. Pure: the caller reads
both sides (``db.reconciliation``, the gateway's ``list_all_*``) and stores the result.

What is compared, and why some objects are left out:

- **Invoices** by id: status, currency, total and amount due (``amount_mismatch``), the
  billing period (``period_mismatch``). Provider drafts are not compared: a draft is not
  yet a financial document (Stripe finalizes a renewal's draft about an hour later) and the
  engine mirrors invoices once they are. A voided invoice on which nothing was paid is not
  missing from the engine either: a declined first charge leaves one behind, and no money
  moved.
- **Payments** are what was paid on each invoice (``amount_paid``): the engine has no
  payment table of its own, its invoices carry the amount paid.
- **Subscriptions**: each customer's ``provider_subscription_id`` against the provider's
  subscription: status (the engine's lifecycle status against the provider's, a paused
  collection counting as paused), ``cancel_at_period_end``, plan and interval, the current
  period. A provider subscription no customer references is a difference only while it can
  still charge (a re-subscribed customer's old, canceled one is history).
- Objects created within ``grace`` before ``as_of`` are skipped: a webhook may still be
  on its way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Literal

from domain.lifecycle import Status
from domain.payments import InvoiceInfo, SubscriptionInfo

ObjectKind = Literal["invoice", "payment", "subscription"]
DifferenceKind = Literal[
    "missing_in_engine",
    "missing_at_provider",
    "amount_mismatch",
    "status_mismatch",
    "period_mismatch",
    "plan_mismatch",
]
Value = str | int | bool | None

# Provider subscription statuses that can still charge the customer.
LIVE_PROVIDER = frozenset({"active", "past_due", "unpaid", "paused", "trialing", "incomplete"})
ENDED_PROVIDER = frozenset({"canceled", "incomplete_expired"})
# The provider statuses each engine status agrees with (after ``provider_status``).
AGREEING: Mapping[str, frozenset[str]] = {
    Status.ACTIVE: frozenset({"active"}),
    Status.PAST_DUE: frozenset({"past_due", "unpaid"}),
    Status.PAUSED: frozenset({"paused"}),
    Status.CANCELED: ENDED_PROVIDER,
    # The engine's trial has no provider subscription; one left over must have ended.
    Status.TRIALING: ENDED_PROVIDER,
    Status.TRIAL_EXPIRED: ENDED_PROVIDER,
}
# Engine statuses whose subscription still bills: its plan and period must agree.
BILLING = frozenset({Status.ACTIVE, Status.PAST_DUE, Status.PAUSED})


@dataclass(frozen=True)
class EngineInvoice:
    id: str
    customer_id: str
    status: str
    currency: str
    total_cents: int
    amount_due_cents: int
    amount_paid_cents: int
    period_start: datetime | None
    period_end: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class EngineSubscription:
    """A customer of the read model with a provider subscription."""

    customer_id: str
    provider_customer_id: str | None
    subscription_id: str
    status: str
    plan: str
    interval: str | None
    cancel_at_period_end: bool
    current_period_start: datetime | None
    current_period_end: datetime | None


@dataclass(frozen=True)
class Difference:
    object: ObjectKind
    object_id: str
    kind: DifferenceKind
    # The engine's customer id; None when the provider object names no customer the
    # engine knows (then ``provider_customer_id`` says whose it is).
    customer_id: str | None
    provider_customer_id: str | None
    field: str | None = None
    engine: Value = None
    provider: Value = None

    def as_json(self) -> dict[str, Value]:
        return asdict(self)


@dataclass(frozen=True)
class Reconciliation:
    as_of: datetime
    invoices_compared: int
    subscriptions_compared: int
    differences: tuple[Difference, ...]


def provider_status(sub: SubscriptionInfo) -> str:
    """Stripe keeps a subscription ``active`` while its collection is paused: the engine's
    pause (``pause_collection``) reads as ``paused``."""
    if sub.paused and sub.status in ("active", "past_due"):
        return "paused"
    return sub.status


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _same_time(a: datetime | None, b: datetime | None) -> bool:
    # Whole seconds: Stripe's timestamps are Unix seconds.
    if a is None or b is None:
        return a is b
    return int(a.timestamp()) == int(b.timestamp())


def _invoice_differences(
    mine: EngineInvoice, theirs: InvoiceInfo, provider_customer_id: str | None
) -> Iterable[Difference]:
    def diff(obj: ObjectKind, kind: DifferenceKind, field: str, a: Value, b: Value) -> Difference:
        return Difference(obj, mine.id, kind, mine.customer_id, provider_customer_id, field, a, b)

    if mine.status != theirs.status:
        yield diff("invoice", "status_mismatch", "status", mine.status, theirs.status)
    if mine.currency.lower() != theirs.currency.lower():
        yield diff("invoice", "amount_mismatch", "currency", mine.currency, theirs.currency)
    for field, a, b in (
        ("total_cents", mine.total_cents, theirs.total_cents),
        ("amount_due_cents", mine.amount_due_cents, theirs.amount_due_cents),
    ):
        if a != b:
            yield diff("invoice", "amount_mismatch", field, a, b)
    if mine.amount_paid_cents != theirs.amount_paid_cents:
        yield diff(
            "payment",
            "amount_mismatch",
            "amount_paid_cents",
            mine.amount_paid_cents,
            theirs.amount_paid_cents,
        )
    for field, x, y in (
        ("period_start", mine.period_start, theirs.period_start),
        ("period_end", mine.period_end, theirs.period_end),
    ):
        if not _same_time(x, y):
            yield diff("invoice", "period_mismatch", field, _iso(x), _iso(y))


def _subscription_differences(
    mine: EngineSubscription, theirs: SubscriptionInfo
) -> Iterable[Difference]:
    def diff(kind: DifferenceKind, field: str, a: Value, b: Value) -> Difference:
        return Difference(
            "subscription",
            mine.subscription_id,
            kind,
            mine.customer_id,
            mine.provider_customer_id or theirs.customer,
            field,
            a,
            b,
        )

    status = provider_status(theirs)
    if status not in AGREEING.get(mine.status, frozenset({mine.status})):
        yield diff("status_mismatch", "status", mine.status, status)
    if mine.status not in BILLING:
        return
    if mine.cancel_at_period_end != theirs.cancel_at_period_end:
        yield diff(
            "status_mismatch",
            "cancel_at_period_end",
            mine.cancel_at_period_end,
            theirs.cancel_at_period_end,
        )
    price = theirs.price
    if price is None or price.plan != mine.plan:
        yield diff("plan_mismatch", "plan", mine.plan, price.plan if price else None)
    elif price.interval.value != mine.interval:
        yield diff("plan_mismatch", "interval", mine.interval, price.interval.value)
    for field, x, y in (
        ("current_period_start", mine.current_period_start, theirs.current_period_start),
        ("current_period_end", mine.current_period_end, theirs.current_period_end),
    ):
        if not _same_time(x, y):
            yield diff("period_mismatch", field, _iso(x), _iso(y))


def reconcile(
    *,
    engine_invoices: Sequence[EngineInvoice],
    provider_invoices: Sequence[InvoiceInfo],
    engine_subscriptions: Sequence[EngineSubscription],
    provider_subscriptions: Sequence[SubscriptionInfo],
    customers_by_provider_id: Mapping[str, str],
    as_of: datetime,
    grace: timedelta = timedelta(0),
) -> Reconciliation:
    """Every difference between the two sides, sorted by customer, object id and field."""
    cutoff = as_of - grace
    found: list[Difference] = []
    provider_ids = {cid: pid for pid, cid in customers_by_provider_id.items()}

    theirs_invoices = {
        i.id: i for i in provider_invoices if i.status != "draft" and i.created <= cutoff
    }
    mine_invoices = {i.id: i for i in engine_invoices if i.created_at <= cutoff}
    for invoice_id, mine in mine_invoices.items():
        theirs = theirs_invoices.get(invoice_id)
        pid = provider_ids.get(mine.customer_id)
        if theirs is None:
            found.append(
                Difference("invoice", invoice_id, "missing_at_provider", mine.customer_id, pid)
            )
        else:
            found.extend(_invoice_differences(mine, theirs, pid))
    for invoice_id, theirs in theirs_invoices.items():
        if invoice_id in mine_invoices:
            continue
        if theirs.status == "void" and theirs.amount_paid_cents == 0:
            continue
        found.append(
            Difference(
                "invoice",
                invoice_id,
                "missing_in_engine",
                customers_by_provider_id.get(theirs.customer),
                theirs.customer,
                "status",
                None,
                theirs.status,
            )
        )

    theirs_subs = {s.id: s for s in provider_subscriptions}
    referenced = {s.subscription_id for s in engine_subscriptions}
    for mine_sub in engine_subscriptions:
        theirs_sub = theirs_subs.get(mine_sub.subscription_id)
        if theirs_sub is None:
            found.append(
                Difference(
                    "subscription",
                    mine_sub.subscription_id,
                    "missing_at_provider",
                    mine_sub.customer_id,
                    mine_sub.provider_customer_id,
                    "status",
                    mine_sub.status,
                    None,
                )
            )
        else:
            found.extend(_subscription_differences(mine_sub, theirs_sub))
    for sub_id, theirs_sub in theirs_subs.items():
        if sub_id in referenced or theirs_sub.status not in LIVE_PROVIDER:
            continue
        if theirs_sub.current_period_start > cutoff:
            continue
        found.append(
            Difference(
                "subscription",
                sub_id,
                "missing_in_engine",
                theirs_sub.engine_customer_id or customers_by_provider_id.get(theirs_sub.customer),
                theirs_sub.customer,
                "status",
                None,
                provider_status(theirs_sub),
            )
        )

    found.sort(key=lambda d: (d.customer_id or "", d.object_id, d.object, d.kind, d.field or ""))
    return Reconciliation(
        as_of=as_of,
        invoices_compared=len(mine_invoices.keys() | theirs_invoices.keys()),
        subscriptions_compared=len(referenced | theirs_subs.keys()),
        differences=tuple(found),
    )
