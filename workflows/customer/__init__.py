"""The customer workflow: one durable workflow per customer, owning its lifecycle.

``workflow`` holds the Temporal definition (run loop, handlers, lock); the other modules
are the concerns it dispatches to, sharing one ``CustomerContext``:

- ``trial``, ``subscription``, ``dunning``, ``addons``, ``usage``, ``provider_events``,
  ``erasure``: what each command, timer and event does;
- ``effects``: the activities (ledger and read model, email, notifications, payments);
- ``timetable`` and ``checks``: pure rules (what is due when; which command is allowed);
- ``patches``: every behaviour change made to running workflows.
"""

from __future__ import annotations

from domain.failures import PAYMENT_PROVIDER_UNAVAILABLE, TRANSITION_REFUSED
from workflows.customer.patches import GENERATION
from workflows.customer.workflow import CustomerWorkflow

__all__ = ["GENERATION", "PAYMENT_PROVIDER_UNAVAILABLE", "TRANSITION_REFUSED", "CustomerWorkflow"]
