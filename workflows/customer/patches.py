"""Every behaviour change made to running customer workflows, one patch id each.

A workflow started before a change replays its history with ``workflow.patched(id)``
answering False at the point where the change applies, so it keeps the old behaviour for
the rest of that run; a run started (or continued as new) after the change answers True
and records that it did. When no running workflow can still replay without the marker
(every run started before the change has ended or continued as new, and its saved history
is retired), the old branch goes and ``workflow.deprecate_patch(id)`` stays one release.

A fix that turns a failing workflow task into progress needs no patch: no history holds
the failing branch's commands (a failed task records none).

The saved histories in ``tests/workflows/histories/v0`` were recorded before every change
below, and replay in ``make test``.
"""

from __future__ import annotations

# Continue-as-new carries the terms' version (or the terms the run already has): nothing
# is awaited between draining handlers and continuing, and a config change never reaches
# a running customer. Before: an activity read today's config file first.
TERMS_KEPT_AT_CONTINUE_AS_NEW = "2026-12-terms-kept-at-continue-as-new"

# Timed actions take the lock one at a time, so a command waiting on it runs between two
# of them (a new card before an overdue dunning retry). Before: all due actions under one
# hold of the lock.
LOCK_PER_TIMED_ACTION = "2026-12-lock-per-timed-action"

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

# State stays bounded: step keys the timetable can no longer produce are dropped, usage
# notices keep only each metric's latest period, and a notice for an older period is
# stale. Before: every key ever was kept.
BOUNDED_STATE = "2026-12-bounded-state"

# A subscription created in Checkout that waits for its first payment (3-D Secure, delayed
# methods) is remembered and adopted once the provider reports it active. Before: ignored.
ADOPT_PENDING_CHECKOUT = "2026-12-adopt-pending-checkout"
