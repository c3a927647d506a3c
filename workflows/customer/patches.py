"""Every behaviour change made to customer workflows, and how runs of older code keep theirs.

Two mechanisms, both deterministic on replay:

- **Generations.** A run's input carries the generation of the code that started it (the
  API at sign-up, or the previous run at continue-as-new). Changes listed under a
  generation apply to runs of that generation and later, never to a run already going,
  and cost the history nothing. ``GENERATION`` is what this code starts runs at.
- **Patches.** A fix that must also reach runs already going sits behind
  ``workflow.patched(id)`` where it diverges, in runs of an older generation only
  (``CustomerContext.fixed``): such a run replays its history with ``patched`` answering
  False until the branch is first reached after the deploy, and True from then on. A
  newer run takes the fix without consulting the patch (each patch records a marker and
  upserts the ``TemporalChangeVersion`` search attribute, a write to the server's
  visibility store: four of them per sign-up cost the burst benchmark its headroom).

When no run of an older generation can still be running (and its saved histories are
retired), its branches go; a patch id then stays one release as ``deprecate_patch``.

A fix that turns a failing workflow task into progress needs neither: no history holds the
failing branch's commands (a failed task records none).

The saved histories in ``tests/workflows/histories/v<N>`` are generation N (``v0`` was
recorded before every change below). ``make test`` replays them all.
"""

from __future__ import annotations

GENERATION = 2

# -- generation 1 (2026-12): runs of generation 1 and later ----------------------------------
LEAN_RUNS = 1
#
# - Timed actions take the lock one at a time, so a command waiting on it runs between two
#   of them (a new card before an overdue dunning retry). Before: all due actions under one
#   hold of the lock.
# - State stays bounded: step keys the timetable can no longer produce are dropped, usage
#   notices keep only each metric's latest period, and a notice for an older period is
#   stale. Before: every key ever was kept.
# - The ledger-and-read-model write and in-app notifications run as local activities: a
#   short, idempotent database write each, with no activity task, no extra workflow task
#   and no input in the history. Before: regular activities (a sign-up cost the server
#   three workflow tasks and two activity tasks; now two and one).
# - Search attributes are upserted only when a value changes (the API sets them at start),
#   each upsert being a write to the visibility store. Before: all of them at every ledger
#   row, and the customer id again at sign-up.

# -- generation 2 (2026-12): runs of generation 2 and later ----------------------------------
PROVIDER_STATE_READ = 2
#
# - Provider events are notices, not states (see the patch below, which makes it the rule).
# - The card mirror and a new card follow the subscription's own default payment method,
#   and a one-off charge (a message pack) is paid with that card.
# - A hard decline (``domain.declines``) stops the retries' charges until a new card comes;
#   the schedule and its final action stay. Before: the same card charged every retry.

# -- patches: fixes that also reach runs of older generations --------------------------------

# Continue-as-new carries the terms' version (or the terms the run already has): nothing
# is awaited between draining handlers and continuing, and a config change never reaches
# a running customer. Before: an activity read today's config file first.
TERMS_KEPT_AT_CONTINUE_AS_NEW = "2026-12-terms-kept-at-continue-as-new"

# A timed step or provider event that fails for a reason other than the card (provider
# outage, refused request) is retried with backoff and flagged for admins, never marked
# done; provider calls outside a command give up after a few tries and leave the lock.
# Before: recorded once and marked done (dunning then never ended), or retried without
# limit while holding the lock.
FAILED_STEPS_RETRY = "2026-12-failed-steps-retry"

# Dunning retries missed during a stall collapse into one catch-up attempt, and the final
# action is a step of its own (retried like any other). Before: each overdue retry ran
# back to back, and the final action ran inside the last retry.
DUNNING_CATCH_UP = "2026-12-dunning-catch-up"

# A subscription created in Checkout that waits for its first payment (3-D Secure, delayed
# methods) is remembered and adopted once the provider reports it active. Before: ignored.
ADOPT_PENDING_CHECKOUT = "2026-12-adopt-pending-checkout"

# Stripe delivers events in any order, late and twice: a provider event makes the workflow
# read the subscription (and the invoice it names) as the provider has it now and apply
# that, never the event's payload and never a decision by ``created``; the engine's own
# commands are newest by construction (an event is applied under the lock, after them).
# Also: involuntary cancellations (``cancellation_details.reason``), scheduled changes and
# cancellations made in the Portal (``schedule``, ``cancel_at``), real pauses (``status:
# paused``), 3-D Secure renewals (``invoice.payment_action_required``), invoices closed
# outside dunning (voided, written off) and Checkout payments that fail later. Runs of
# generation 2 take it unconditionally; older ones from the first event after the deploy.
# Before: the event's objects were applied unless ``created`` was older than the last one.
PROVIDER_EVENTS_READ_CURRENT = "2026-12-provider-events-read-current"

# The daily churn run tells a customer's workflow its risk band when it changes, and the
# workflow shows it as the ``ChurnRisk`` search attribute. A new signal: a history recorded
# before it has none, but a run whose signal an older worker received (and ignored) must
# replay without the upsert.
CHURN_RISK_ATTRIBUTE = "2026-12-churn-risk-attribute"

# Offers reach the customer through the workflow (``make_offer``: campaigns, the churn run's
# proactive offer). A new signal, guarded like the one above: a run whose signal an older
# worker received (and ignored) must replay without the email and the ledger row.
OFFERS = "2026-12-offers"

# A customer whose region changed (``domain.regions``) asks for its current plan with new
# terms: the new price is scheduled for the renewal and the workflow's MRR follows then.
# Before: refused as "already on" the plan (so no history holds the branch).
REPRICE_AT_RENEWAL = "2026-12-reprice-at-renewal"

# A Checkout paid by a method that settles days later (a SEPA debit, a boleto) tells the
# customer the payment is under way (ledger ``checkout_payment_processing``, an email) when
# the pending subscription is first heard of. Before: silence until it settled or failed.
CHECKOUT_PAYMENT_PROCESSING = "2026-12-checkout-payment-processing"

# A renewal declined with ``authentication_required`` (3-D Secure) asks the customer to
# confirm on the hosted invoice page, from the decline itself: Stripe promises neither the
# delivery nor the order of ``invoice.payment_action_required``. One ask per invoice,
# whichever comes first; a new card would not help, so no "update your card" email.
# Before: the decline sent "update your card", and the event (when it came) the link too.
CONFIRM_ON_AUTHENTICATION_DECLINE = "2026-12-confirm-on-authentication-decline"

# A trial that changed its currency and converts in Checkout is billed in the new currency,
# while its terms' catalog is still in the sign-up one (Checkout brings no terms): the
# workflow takes its amounts (MRR first) in the currency the subscription is billed in
# (``CustomerState.billed_currency``). Before: the sign-up currency's prices until the next
# plan change. Catalogs at a price book's prices (a region's, an experiment's) keep theirs.
CHECKOUT_IN_BILLED_CURRENCY = "2026-12-checkout-in-billed-currency"

# A dunning retry that fails because the renewal still waits for 3-D Secure (the customer
# was asked to confirm) reminds them of the confirmation link, once per attempt. Before:
# each such retry sent "update your card", though the card works once confirmed.
CONFIRMATION_REMINDER_ON_RETRY = "2026-12-confirmation-reminder-on-retry"
