"""Usage metering storage: events, counters, daily totals, threshold crossings, overrides.

One module per use: ``context`` (what limits depend on, read in one query), ``ingest``
(``POST /v1/usage``), ``consume`` (check-and-consume), ``thresholds`` (crossings and the
grace mark), ``overrides`` and ``history``; ``records`` holds the rows they share and
``pool`` the hot paths' own asyncpg connections.

The two hot flows own their transaction: :func:`db.usage.ingest.ingest_batch` and
:func:`db.usage.consume.check_and_consume`. On PostgreSQL they talk to asyncpg directly:
one read, then one write statement, each its own implicit transaction (arrays through
``unnest``; stable SQL, so asyncpg reuses its prepared statements) with no ORM or result
processing in between. On SQLite (the embedded default) the same steps run through
SQLAlchemy. The other helpers run inside the caller's session and never commit.

Lock order, so concurrent requests cannot deadlock: events (by customer and key), then
counters (by customer, metric, period), then daily totals (by customer, metric, day), then
threshold crossings.
"""
