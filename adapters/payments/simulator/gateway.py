"""``SimulatedGateway``: an in-process Stripe with test cards and a per-customer test clock.

State lives in the app database (its tables: ``models``) so the API and the worker see
the same Stripe. Everything it answers or emits is Stripe JSON at ``STRIPE_API_VERSION``
(``render``), parsed by the same code as Stripe's own (``stripe_objects``). Behaviour follows
Stripe where the engine can tell the difference:

- Test payment methods (``cards.SIM_CARDS``): attaching clones one into ``pm_sim_...``
  that remembers its behaviour; the ``pm_card_chargeDeclined*`` cards are refused on attach
  and on every charge, ``pm_card_chargeCustomerFail`` attaches and then fails every charge,
  ``pm_card_authenticationRequired`` needs 3-D Secure on every off-session payment (the
  PaymentIntent waits in ``requires_action``), ``pm_sepaDebit`` settles days later.
- Subscriptions (flexible billing mode) charge their first period at once; a decline
  leaves nothing behind. Every invoice payment goes through the invoice's PaymentIntent,
  which keeps the decline (``invoice.payments``). The subscription's own card (Checkout
  saves it there) wins over the customer's default. Price changes prorate by the second
  (``domain.proration``); an interval change resets the billing cycle; a change at the
  period end is a subscription schedule. Invoices have Stripe's amounts, balance handling
  (a negative total becomes customer credit applied to later invoices) and numbers
  ``SIM-0001`` per customer.
- Coupons need no set-up: the number an id ends with is its percent off, once
  (``prices.resolve_coupon``).
- Idempotency: the outcome of every mutating call is stored under its key in the same
  transaction as its effects, so a repeated key (even a concurrent one, which waits on the
  key's row) returns the stored result and charges nothing twice. Declines are stored and
  replayed like Stripe does; validation errors (unknown ids, no payment method) are not, so
  a corrected retry with the same key goes through. A key reused for a different request is
  refused (``idempotency_error``).
- Time: every "now" is the customer's test clock, the real clock plus the customer's
  offset, in whole seconds. ``advance_to_period_end`` moves it and renews like Stripe does;
  nothing renews by itself unless ``renew_due_subscriptions`` is called.
- Every effect emits Stripe-shaped events into ``sim_events``. Test helpers play what
  happens at Stripe without the engine asking (the hosted pages, the test clock, a dispute,
  a card updater, Stripe's own cancellations and pauses) and return their events so the
  caller can deliver them to the webhook endpoint.
"""

from __future__ import annotations

from adapters.payments.simulator.hosted import HostedPagesMixin
from adapters.payments.simulator.invoices import InvoicesMixin
from adapters.payments.simulator.listing import ListingMixin


class SimulatedGateway(HostedPagesMixin, InvoicesMixin, ListingMixin):
    """The payment gateway, one mixin per concern: ``customers`` (and cards),
    ``subscriptions`` (with ``schedules`` and ``lines``), ``invoices``, ``clock`` and
    ``hosted`` pages, over ``core``."""

    name = "simulator"
