"""HTML of the dashboard's analytics sections: what the churn model is worth and how many
customers are at risk; the groups of customers by usage shape."""

from __future__ import annotations

from html import escape
from typing import Any

from api.insights.schemas import ModelView, UsageGroupsView


def _auc(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def churn_section(model: ModelView | None) -> str:
    if model is None:
        return (
            '<section id="churn-model"><h2>Churn risk (next 30 days)</h2>'
            "<p>No churn model yet: the daily run (or <code>lifecycle analytics train</code>) "
            "makes one.</p></section>"
        )
    risks = " · ".join(
        f'<span data-risk="{escape(band)}">{model.risks.get(band, 0):,} {escape(band)}</span>'
        for band in ("high", "medium", "low")
    )
    head = (
        f'<section id="churn-model"><h2>Churn risk (next 30 days)</h2>'
        f"<p>Model <code>{escape(model.version)}</code> ({escape(model.method)}), trained "
        f"{model.trained_at:%Y-%m-%d %H:%M} UTC. Paying customers by risk: {risks}.</p>"
    )
    metrics: dict[str, Any] = dict(model.metrics)
    if "roc_auc" not in metrics:
        return head + f'<p class="note">{escape(model.note)}</p></section>'
    baseline = metrics["baseline"]
    held_out = metrics["held_out"]
    rows = [
        ("model", metrics["roc_auc"], metrics["pr_auc"]),
        (f"baseline: {baseline['rule']}", baseline["roc_auc"], baseline["pr_auc"]),
        *(
            (f"{kind} churn only", figures["roc_auc"], None)
            for kind, figures in metrics.get("by_kind", {}).items()
        ),
    ]
    table = "".join(
        f"<tr><td>{escape(name)}</td><td>{_auc(roc)}</td><td>{_auc(pr)}</td></tr>"
        for name, roc, pr in rows
    )
    calibration = " · ".join(
        f"{c['predicted']:.1%} → {c['observed']:.1%}" for c in metrics.get("calibration", [])
    )
    return (
        head + f"<p>Held out: {held_out['snapshots']:,} weekly snapshots with "
        f"{held_out['churns']:,} churns ({held_out['from'][:10]} to {held_out['to'][:10]}), "
        "never seen in training.</p>"
        '<table id="churn-model-quality"><tr><th></th><th>ROC AUC</th><th>PR AUC</th></tr>'
        f"{table}</table>"
        f"<p>Brier score {metrics['brier']:.4f} (base rate {metrics['base_rate']:.2%}). "
        f"Calibration, predicted → observed: {calibration}.</p></section>"
    )


def usage_groups_section(view: UsageGroupsView) -> str:
    if not view.groups:
        return (
            '<section id="usage-groups"><h2>Usage patterns</h2>'
            "<p>No groups yet: the daily analytics run makes them from twelve weeks of "
            "usage.</p></section>"
        )
    rows = "".join(
        f"<tr><td>{g.group + 1}</td><td>{escape(g.description)}</td><td>{g.customers:,}</td></tr>"
        for g in sorted(view.groups, key=lambda g: -g.customers)
    )
    computed = f"{view.computed_at:%Y-%m-%d %H:%M} UTC" if view.computed_at else "-"
    return (
        '<section id="usage-groups"><h2>Usage patterns</h2>'
        f"<p>Customers grouped by the shape of their last twelve weeks of messages and their "
        f"weekday rhythm (k-means; {len(view.groups)} groups, the number with the best "
        f"silhouette score, {view.silhouette:.2f}); computed {computed}.</p>"
        '<table id="usage-groups-table"><tr><th>Group</th><th>Usage</th><th>Customers</th>'
        f"</tr>{rows}</table></section>"
    )
