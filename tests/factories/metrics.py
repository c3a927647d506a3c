"""The metric names the engine exports, for the tests of what reads them (alert rules, the
Grafana dashboard): a renamed metric would silence them without an error."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from core import metrics

# Computed at scrape time by the API (api/metrics.py, OperationsGauges).
SCRAPE_TIME_GAUGES = {
    "lifecycle_customers",
    "lifecycle_customers_needing_attention",
    "lifecycle_dunning_overdue_customers",
    "lifecycle_webhooks_backlog",
    "lifecycle_webhooks_oldest_undelivered_age_seconds",
}


def exported() -> set[str]:
    names = set(SCRAPE_TIME_GAUGES)
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names.add(value._name + "_total")
        elif isinstance(value, Gauge):
            names.add(value._name)
        elif isinstance(value, Histogram):
            names |= {value._name + suffix for suffix in ("_bucket", "_sum", "_count")}
    return names
