"""Inputs, commands, state and query results of the customer workflow.

No PII here: ids, plans, amounts and times only. Emails and names stay in the database,
where activities look them up.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from domain.catalog import Catalog
from domain.lifecycle import BillingInterval, Status
from domain.policy import Policy


def workflow_id_for(customer_id: str) -> str:
    return f"customer-{customer_id}"


def command_fingerprint(command: Any) -> str:
    """The command and the caller's arguments, so an idempotency key reused for another
    request is noticed (not the terms version: the API adds it, a redeploy may change it)."""
    arguments = {
        k: v for k, v in asdict(command).items() if k not in ("request_id", "terms_version")
    }
    canonical = json.dumps([type(command).__name__, arguments], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ScheduledChange:
    plan: str
    interval: BillingInterval
    effective_at: datetime


@dataclass
class Dunning:
    """An unpaid renewal the engine is retrying."""

    invoice_id: str
    started_at: datetime
    # Failed payment attempts so far; the failed renewal itself is the first.
    attempts: int = 1
    next_retry_at: datetime | None = None
    # Set when the retries are used up: the policy's final action is due then.
    final_action_at: datetime | None = None
    # The card on file was declined for good (``domain.declines``): retries wait for a new
    # card rather than charge it again.
    hard_decline: bool = False


@dataclass
class Stall:
    """A timed step (or a provider event) that failed for a reason other than the card:
    retried with backoff until it succeeds, and shown to admins meanwhile."""

    key: str
    first_failed_at: datetime
    attempts: int
    next_attempt_at: datetime
    error: str
    error_type: str | None = None


@dataclass
class RequestRecord:
    """A caller's idempotency key already honoured, so a retry answers instead of rerunning."""

    id: str
    # Digest of the command's arguments: the same key with other arguments is refused.
    fingerprint: str
    at: datetime


@dataclass
class OfferRecord:
    """An offer made to the customer (``MakeOffer``) or taken in the save flow, kept so a
    repeated offer changes nothing and each is taken once."""

    id: str
    kind: str
    source: str
    at: datetime
    coupon: str | None = None
    expires_at: datetime | None = None
    # False when it did not fit the customer (nothing was sent).
    sent: bool = True
    accepted_at: datetime | None = None


@dataclass
class CustomerState:
    """Everything the workflow knows; carried across continue-as-new. What can be derived
    is not kept, nor what nothing reads (the trial starts at sign-up; when a customer was
    canceled is in the ledger). Runs carried across continue-as-new from older code may
    hold fields gone since: they are ignored when decoded."""

    customer_id: str
    status: Status
    plan: str
    signed_up_at: datetime
    interval: BillingInterval | None = None
    trial_ends_at: datetime | None = None
    # Trial reminders due before this moment (sign-up or the last extension) are skipped.
    trial_planned_from: datetime | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    scheduled_change: ScheduledChange | None = None
    dunning: Dunning | None = None
    pause_resumes_at: datetime | None = None
    # Monthly recurring revenue in cents (annual plans count one twelfth per month).
    mrr_cents: int = 0
    provider_customer_id: str | None = None
    subscription_id: str | None = None
    # The provider's id of the default card (not the card), to notice when it changes.
    payment_method_id: str | None = None
    # Recurring and feature add-ons held, by add-on id (one-off packs are not kept here).
    addons: dict[str, int] = field(default_factory=dict)
    # Creation time of the newest provider event applied: older ones never roll state back.
    provider_as_of: datetime | None = None
    # Recently applied provider event ids (bounded), so redeliveries change nothing.
    seen_events: list[str] = field(default_factory=list)
    # Keys of timed actions already carried out (emails sent, expiry applied, ...); only
    # those the current timetable can still produce are kept.
    done: list[str] = field(default_factory=list)
    # Win-back emails sent so far (a customer who was sent one converts with its coupon).
    winbacks_sent: int = 0
    # Usage notices already sent, ``usage:<metric>:<period start>:<threshold>``; only the
    # latest period of each metric is kept.
    usage_notified: list[str] = field(default_factory=list)
    # Steps failing for a reason other than the card, by step key (see ``Stall``).
    stalled: dict[str, Stall] = field(default_factory=dict)
    # A subscription made in Checkout that still waits for its first payment (3-D Secure,
    # delayed methods): adopted when the provider says it is active.
    pending_subscription_id: str | None = None
    # Callers' idempotency keys honoured recently (bounded by count and age).
    requests: list[RequestRecord] = field(default_factory=list)
    # Bumped at every change mirrored to the read model, which ignores older writes.
    version: int = 0
    # Numbers ledger rows so their keys stay stable across retries and replays.
    ledger_seq: int = 0
    # Numbers commands, from which provider idempotency keys are derived.
    command_seq: int = 0
    # Offers made and save-flow offers taken (bounded, newest last).
    offers: list[OfferRecord] = field(default_factory=list)
    # A coupon offer taken before subscribing: applied when the customer converts.
    conversion_coupon: str | None = None
    # The invoice whose 3-D Secure confirmation the customer was last asked for: asked once,
    # whichever comes first of the decline and ``invoice.payment_action_required``.
    confirmation_asked_for: str | None = None
    # The currency the provider bills in when it differs from the terms' catalog's (a trial
    # that changed currency, then converted in Checkout): amounts are taken in it.
    billed_currency: str | None = None

    def offer(self, offer_id: str) -> OfferRecord | None:
        return next((r for r in self.offers if r.id == offer_id), None)


@dataclass(frozen=True)
class CustomerWorkflowInput:
    """Ids and versions only: the terms (policy and catalog) are found by version.

    Runs started before terms had versions carry them inline (``policy``/``catalog``) and
    keep doing so until the customer changes plan.
    """

    customer_id: str
    signed_up_at: datetime
    # The version of the terms the customer signed up under (``TermsStore``).
    terms_version: str | None = None
    # The generation of the code that started this run (see workflows/customer/patches.py);
    # absent (0) in inputs from before generations existed.
    generation: int = 0
    # Present when the workflow continues as new.
    state: CustomerState | None = None
    policy: Policy | None = None
    catalog: Catalog | None = None


# -- commands (Temporal Updates) --------------------------------------------------------

When = Literal["now", "period_end"]


@dataclass(frozen=True)
class ChangeSubscription:
    """Convert a trial (or a canceled customer), or change an active customer's plan."""

    plan: str
    interval: BillingInterval
    actor: str
    payment_method: str | None = None
    # None: upgrades now, downgrades at period end.
    when: When | None = None
    coupon: str | None = None
    # The terms the caller's catalog comes from; a plan change adopts them.
    terms_version: str | None = None
    # The caller's idempotency key: a retry (even after continue-as-new) answers with the
    # first outcome, and provider idempotency keys derive from it.
    request_id: str | None = None


@dataclass(frozen=True)
class CancelSubscription:
    actor: str
    at_period_end: bool = True
    # The caller's idempotency key: a retry (even after continue-as-new) answers with the
    # first outcome, and provider idempotency keys derive from it.
    request_id: str | None = None


@dataclass(frozen=True)
class ReactivateSubscription:
    actor: str
    # The caller's idempotency key: a retry (even after continue-as-new) answers with the
    # first outcome, and provider idempotency keys derive from it.
    request_id: str | None = None


@dataclass(frozen=True)
class PauseSubscription:
    actor: str
    resumes_at: datetime | None = None
    # The caller's idempotency key: a retry (even after continue-as-new) answers with the
    # first outcome, and provider idempotency keys derive from it.
    request_id: str | None = None


@dataclass(frozen=True)
class ResumeSubscription:
    actor: str
    # The caller's idempotency key: a retry (even after continue-as-new) answers with the
    # first outcome, and provider idempotency keys derive from it.
    request_id: str | None = None


@dataclass(frozen=True)
class UpdatePaymentMethod:
    actor: str
    payment_method: str
    # The caller's idempotency key: a retry (even after continue-as-new) answers with the
    # first outcome, and provider idempotency keys derive from it.
    request_id: str | None = None


@dataclass(frozen=True)
class ExtendTrial:
    """An admin moves the trial end (also reopening an expired trial). Also accepted as a
    signal, so it can be sent from the Temporal Web UI."""

    days: int
    reason: str
    actor: str = "admin:temporal-ui"
    # The caller's idempotency key: a retry (even after continue-as-new) answers with the
    # first outcome, and provider idempotency keys derive from it.
    request_id: str | None = None


@dataclass(frozen=True)
class EraseCustomer:
    """GDPR erasure: end billing, erase personal data, end the lifecycle."""

    actor: str
    # The caller's idempotency key: a retry (even after continue-as-new) answers with the
    # first outcome, and provider idempotency keys derive from it.
    request_id: str | None = None


@dataclass(frozen=True)
class PurchaseAddon:
    """Buy ``quantity`` more of an add-on: recurring ones join the subscription (prorated
    now), a one-off pack is invoiced now for the current period."""

    addon: str
    quantity: int
    actor: str
    # The caller's idempotency key: a retry (even after continue-as-new) answers with the
    # first outcome, and provider idempotency keys derive from it.
    request_id: str | None = None


@dataclass(frozen=True)
class RequestCancellation:
    """The customer asked to cancel: the exit reason and the offers the API showed, for the
    ledger. Cancels nothing (``CancelSubscription`` does, if the customer goes on)."""

    reason: str
    # The offer kinds shown (``domain.retention.OfferKind`` values), best first.
    offers: tuple[str, ...]
    actor: str
    # The caller's idempotency key: a retry (even after continue-as-new) answers with the
    # first outcome, and provider idempotency keys derive from it.
    request_id: str | None = None


@dataclass(frozen=True)
class AcceptOffer:
    """Take an offer in one call: from the save flow (decided by the API from today's
    config) or one sent earlier (``offer_id`` of a ``MakeOffer``). Withdraws a cancellation
    scheduled for the period end."""

    kind: str
    actor: str
    reason: str | None = None
    offer_id: str | None = None
    coupon: str | None = None
    plan: str | None = None
    interval: BillingInterval | None = None
    days: int | None = None
    # The caller's idempotency key: a retry (even after continue-as-new) answers with the
    # first outcome, and provider idempotency keys derive from it.
    request_id: str | None = None


# -- signals ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChurnRiskScored:
    """Sent by the daily churn run when a customer's risk band changes."""

    risk: str


@dataclass(frozen=True)
class UsageThresholdCrossed:
    """Sent by the API once per customer, metric, period and threshold (80 or 100 percent)."""

    metric: str
    threshold: int
    period_start: datetime
    used: int
    limit: int
    # The cheapest plan or add-on that fits the projected usage, when there is one.
    upgrade_plan: str | None = None
    upgrade_addon: str | None = None
    upgrade_price_difference_cents: int | None = None


@dataclass(frozen=True)
class MakeOffer:
    """An offer sent through the customer's workflow (a campaign, churn prevention): an
    email, an in-app notice and an ``offer_sent`` ledger row, once per ``offer_id``; a
    customer it does not fit gets an ``offer_not_sent`` row instead. Taken with
    ``AcceptOffer(kind="coupon", offer_id=...)``."""

    # Stable across retries: ``campaign:<id>``, ``churn:<scoring day>``.
    offer_id: str
    # "campaign" or "churn_prevention".
    source: str
    # The offer in a sentence, as the email and the notice show it.
    headline: str
    # A ``[coupons]`` id: the next invoice's discount (or the conversion's, in a trial).
    coupon: str
    expires_at: datetime | None = None
    # Not sent if an offer from the same source was sent within this many days.
    quiet_days: int = 0
    actor: str = "system"


# -- query ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NextAction:
    key: str
    at: datetime


@dataclass(frozen=True)
class CustomerSnapshot:
    """What the ``state`` query answers: the lifecycle plus what the workflow will do next."""

    state: CustomerState
    next_action: NextAction | None
    # None only in the moment a new run is still loading its terms.
    policy: Policy | None
    terms_version: str | None = None


@dataclass(frozen=True)
class CustomerSummary:
    """The lifecycle as a command's caller needs it: no bookkeeping, no terms."""

    customer_id: str
    status: Status
    plan: str
    interval: BillingInterval | None
    trial_ends_at: datetime | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    scheduled_change: ScheduledChange | None
    dunning: Dunning | None
    pause_resumes_at: datetime | None
    mrr_cents: int
    addons: dict[str, int]
    subscription_id: str | None
    payment_method_id: str | None
    needs_attention: bool


@dataclass(frozen=True)
class CommandResult:
    """What every command (Temporal Update) answers; small, as it lands in the history."""

    state: CustomerSummary
    next_action: NextAction | None
