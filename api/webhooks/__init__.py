"""Provider events over HTTP: ``routes`` (the Stripe webhook, thin), ``service`` (what a
Stripe delivery must be before it is taken in), ``payment_events`` (taking an event in:
the inbox, the invoice mirror, the workflow signal; shared with the simulator) and
``schemas``."""
