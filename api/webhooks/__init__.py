"""Provider events over HTTP: ``routes`` (the Stripe webhook, thin), ``service`` (what a
Stripe delivery must be before it is taken in), ``payment_events`` (taking an event in
with ``services.payment_events``, answering what it could not do; shared with the
simulator) and ``schemas``."""
