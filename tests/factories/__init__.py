"""Every helper the tests share, one module per thing it makes or does (fixtures live in the
``conftest.py`` files, which use these):

- ``settings``: the API keys and auth header, ``Settings`` for a test, config files
- ``apps``: the real app in-process behind an HTTP client
- ``policies``: the configured policy with durations or dunning rules replaced
- ``customers``: customers inserted directly, in a given state, with add-ons; their terms
- ``records``: a customer's outbox emails and ledger rows
- ``polling``: waiting for what another process or task does
- ``schedules``: a Temporal Schedule kept clean around a test; one triggered run
- ``workers``: a worker with the real activities; the payment simulator
- ``workflows``: a customer's workflow started as the API starts it
- ``histories``: the saved replay corpus (``tests/workflows/histories``), a history as text
- ``processes``: the ``lifecycle`` CLI and worker as OS processes
- ``databases``: fresh migrated databases; a search of every table
- ``tools``: the pinned binaries (Temporal servers, stripe-mock)
- ``responses``: JSON bodies, RFC 9457 problems, cursors
- ``usage``: usage through the API; a consume at the store
- ``webhooks``: Stripe webhooks signed and delivered; what the engine holds after them
- ``stripe_mock``: the recording HTTP client between the Stripe adapter and stripe-mock
- ``payments``: the consistent world on top of stripe-mock's fixtures
- ``stripe_spec``, ``stripe_schema``: Stripe's OpenAPI spec and fixtures; validation
- ``reporting``: the scripted ten-customer history the reports are checked on
- ``sendgrid``: the local SendGrid stand-in
- ``churn``: generated customer histories with a planted churn driver, written to a database
- ``competitors``: competitor plans for the competitive pricing tests
- ``forecast``: generated ledgers with a planted growth trend for the revenue forecast
"""
