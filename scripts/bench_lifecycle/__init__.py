"""Lifecycle benchmark: `make bench-lifecycle` (``python -m scripts.bench_lifecycle``).

On a throw-away PostgreSQL database and one Temporal dev server, with the engine's API and
worker as separate processes (embedded payment simulator, email outbox), in one run:

- sign-up throughput through ``POST /v1/customers`` until each welcome email is ``sent``,
  against a bare workflow of the same shape (insert a row, then send through an outbox) run
  by a bare worker process with the SDK's defaults; rounds alternate bare / engine;
- a burst of sign-ups: acceptance rate, time until every welcome is sent, workflow-task
  timeouts and failures in the histories, and the bare baseline on the same burst;
- many trialing customers with one reminder each: worker and Temporal server RSS, and how
  late each reminder is against its schedule;
- one customer's history over a simulated year of monthly renewals (test clock).

Nothing here imports the engine's code: it is driven through its CLI (``lifecycle migrate``,
``temporal setup``, ``api``, ``worker``), its HTTP API, its database tables and a Temporal
client. Modules: ``stack`` (processes, RSS), ``database``, ``signups`` (the sign-up driver and
the outbox watcher), ``throughput``, ``burst``, ``trialing``, ``year``, ``report``, ``bare``
and ``bare_worker`` (the baseline), ``http`` (a bare keep-alive HTTP client).
"""
