"""deploy/prometheus: the example alert rules name only metrics the engine exports (a
renamed metric would silence its alert), and the scrape config loads them."""

from __future__ import annotations

import re

import yaml
from prometheus_client import Counter, Histogram

from core import metrics
from core.settings import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy" / "prometheus"
# Computed at scrape time by the API (api/metrics.py).
GAUGES = {"lifecycle_customers", "lifecycle_customers_needing_attention"}


def exported() -> set[str]:
    names = set(GAUGES)
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names.add(value._name + "_total")
        elif isinstance(value, Histogram):
            names |= {value._name + suffix for suffix in ("_bucket", "_sum", "_count")}
    return names


def test_every_alert_names_metrics_the_engine_exports() -> None:
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {"LifecycleWebhookForgeries", "LifecycleAutomationFailures"} <= {
        a["alert"] for a in alerts
    }
    known = exported()
    for alert in alerts:
        assert alert["labels"]["severity"] and alert["annotations"]["summary"], alert
        used = set(re.findall(r"\blifecycle_[a-z0-9_]+", alert["expr"]))
        assert used <= known, (alert["alert"], used - known)


def test_the_scrape_config_loads_the_rules_and_scrapes_api_and_worker() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"lifecycle-api", "lifecycle-worker", "lifecycle-worker-temporal"} <= jobs
