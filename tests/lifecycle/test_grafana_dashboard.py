"""deploy/grafana: the dashboard reads only metrics the engine exports, through the
provisioned datasource, and the provisioning loads it from where compose mounts it."""

from __future__ import annotations

import json
import re

import yaml

from core.settings import REPO_ROOT
from tests.factories.metrics import SCRAPE_TIME_GAUGES, exported

GRAFANA = REPO_ROOT / "deploy" / "grafana"


def test_every_panel_reads_metrics_the_engine_exports() -> None:
    dashboard = json.loads((GRAFANA / "dashboards" / "lifecycle-engine.json").read_text())
    datasource = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    (source,) = datasource["datasources"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels
    known = exported()
    used: set[str] = set()
    for panel in panels:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        for target in panel["targets"]:
            names = set(re.findall(r"\blifecycle_[a-z0-9_]+", target["expr"]))
            assert names <= known, (panel["title"], names - known)
            used |= names
    # What an operator is alerted on is on the dashboard too.
    assert SCRAPE_TIME_GAUGES | {"lifecycle_reconciliation_differences"} <= used
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_the_provisioning_loads_the_dashboards_folder() -> None:
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "lifecycle.yml").read_text()
    )
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    assert entry["options"]["path"] == "/var/lib/grafana/dashboards"


def test_compose_mounts_the_provisioning_and_the_dashboards_where_grafana_reads_them() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    assert grafana["profiles"] == ["monitoring"]
    # source:target:ro, for the read-only bind mounts
    mounts = {
        parts[0]: parts[1]
        for parts in (v.split(":") for v in grafana["volumes"])
        if len(parts) == 3
    }
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert mounts["./deploy/grafana/dashboards"] == "/var/lib/grafana/dashboards"
    for source in ("./deploy/grafana/provisioning", "./deploy/grafana/dashboards"):
        assert (REPO_ROOT / source).is_dir(), source
