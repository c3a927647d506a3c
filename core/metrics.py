"""Every Prometheus metric the engine records, in one place (the Temporal SDK's own runtime
metrics are the SDK's: see ``workers/worker.py``).

Names follow Prometheus' conventions: the ``lifecycle_`` prefix, ``_total`` on counters,
``_seconds`` on durations (base units), snake_case labels. No label ever holds a customer
id, an email or any value a caller chooses freely: routes are templates, outcomes and
kinds are small fixed sets, so the series stay few and the output holds no personal data.

The metrics live in the process's default registry; the API serves them at ``/metrics``
(``api/metrics.py``), the worker on ``LIFECYCLE_WORKER_METRICS_ADDRESS``. Workflow code
records nothing (it is replayed): only the API, services and activities do.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Requests of a few milliseconds (the usage hot path) up to slow reports.
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The entitlement check is answered in milliseconds; its alert is p99 > 20 ms.
_CHECK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.5)

# -- the API ---------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "lifecycle_http_requests_total",
    "HTTP requests answered, by method, route template and status class (2xx, 4xx, ...).",
    ["method", "route", "status_class"],
)
HTTP_REQUEST_DURATION = Histogram(
    "lifecycle_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=_HTTP_BUCKETS,
)
USAGE_EVENTS = Counter(
    "lifecycle_usage_events_total",
    "Usage events received by POST /v1/usage, by outcome (accepted, duplicate, rejected).",
    ["outcome"],
)
ENTITLEMENT_CHECKS = Counter(
    "lifecycle_entitlement_checks_total",
    "Entitlement checks decided, by kind (consume, check, feature) and decision (allowed, denied).",
    ["kind", "decision"],
)
ENTITLEMENT_CHECK_DURATION = Histogram(
    "lifecycle_entitlement_check_duration_seconds",
    "Time the entitlement check's use case takes (check-and-consume included), by kind.",
    ["kind"],
    buckets=_CHECK_BUCKETS,
)
WEBHOOKS = Counter(
    "lifecycle_webhooks_received_total",
    "Provider events received, by provider and outcome: new, duplicate, forged (no valid "
    "signature), invalid (signed but unreadable), unavailable (refused to be delivered "
    "again), unconfigured (no webhook secret).",
    ["provider", "outcome"],
)
SECURITY_EVENTS = Counter(
    "lifecycle_security_events_total",
    "Security events appended to the security log, by kind (auth_failed, auth_rate_limited, "
    "webhook_forged, admin_sign_in_failed, api_key_created, ...): the log's rows, countable "
    "by an alert without reading the table.",
    ["kind"],
)

# -- the worker ------------------------------------------------------------------------------

EMAILS = Counter(
    "lifecycle_emails_total",
    "Email send attempts by the outbox dispatcher, by outcome (sent, failed, retried).",
    ["outcome"],
)
CHARGES = Counter(
    "lifecycle_charges_total",
    "Charges asked of the payment provider, by operation and outcome (succeeded, declined, "
    "refused: no payment method or a request the provider rejected). An activity retried "
    "after an outage counts each attempt that reached an outcome.",
    ["operation", "outcome"],
)

RECONCILIATION_DIFFERENCES = Gauge(
    "lifecycle_reconciliation_differences",
    "Differences between the engine's invoices, payments and subscriptions and the payment "
    "provider's, found by the latest reconciliation run of this process.",
)
RECONCILIATION_LAST_RUN = Gauge(
    "lifecycle_reconciliation_last_run_timestamp_seconds",
    "When this process last finished a reconciliation run (Unix time).",
)

# The route label of a path no route matches (one value, whatever the path).
UNMATCHED_ROUTE = "unmatched"
# The ASGI scope key a layer in front of the framework (``api.usage.hot``) sets to the
# route template of a request it may answer itself (the framework sets ``route``).
ROUTE_KEY = "lifecycle.route"


def status_class(status: int) -> str:
    return f"{status // 100}xx"
