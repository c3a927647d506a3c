"""deploy/prometheus: the example alert rules name only metrics the engine exports (a
renamed metric would silence its alert), and the scrape config loads them."""

from __future__ import annotations

import re

import yaml

from core.settings import REPO_ROOT
from tests.factories.metrics import exported

DEPLOY = REPO_ROOT / "deploy" / "prometheus"


def test_every_alert_names_metrics_the_engine_exports() -> None:
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {
        "LifecycleWebhookForgeries",
        "LifecycleAutomationFailures",
        "LifecycleReconciliationDifferences",
        "LifecycleDunningStuck",
        "LifecycleWebhookBacklog",
        "LifecycleAuthenticationFailures",
    } <= {a["alert"] for a in alerts}
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
