"""`lifecycle analytics train`: train the churn model now, store it, score every paying
customer, and print what it is worth."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import typer

from lifecycle.exiting import ends_process
from lifecycle.options import ConfigOption, load_settings

analytics_app = typer.Typer(help="Growth analytics: the churn model.", no_args_is_help=True)


def _metric(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


@analytics_app.command("train")
@ends_process
def train(
    config: ConfigOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print the stored metrics as JSON."),
) -> None:
    """Train on the ledger and usage history so far (the daily Schedule does the same)."""
    from activities.analytics import train_and_score
    from core.temporal import connect_with
    from db.engine import create_engine, session_factory
    from services.churn_signals import risk_teller

    settings = load_settings(config)

    async def main() -> Any:
        engine = create_engine(settings.database_url)
        try:
            tell = None
            try:
                client = await connect_with(settings)
                tell = risk_teller(client, settings.engine_config.save_flow)
            except RuntimeError as exc:
                typer.echo(f"Temporal unreachable ({exc}): ChurnRisk attributes not updated")
            return await train_and_score(
                session_factory(engine),
                settings.engine_config.catalog,
                datetime.now(UTC),
                tell=tell,
            )
        finally:
            await engine.dispose()

    outcome = asyncio.run(main())
    if as_json:
        typer.echo(json.dumps({"version": outcome.version, **outcome.metrics}, indent=2))
        return
    typer.echo(f"model {outcome.version} ({outcome.method})")
    if outcome.note:
        typer.echo(outcome.note)
    metrics = outcome.metrics
    if "roc_auc" in metrics:
        training, held_out = metrics["training"], metrics["held_out"]
        baseline = metrics["baseline"]
        typer.echo(
            f"trained on {training['snapshots']:,} weekly snapshots ({training['churns']:,} churns)"
            f" from {training['from'][:10]} to {training['to'][:10]}; held out "
            f"{held_out['snapshots']:,} ({held_out['churns']:,} churns) from "
            f"{held_out['from'][:10]} to {held_out['to'][:10]}"
        )
        typer.echo(f"{'':28}{'ROC AUC':>10}{'PR AUC':>10}")
        typer.echo(f"{'model':28}{_metric(metrics['roc_auc']):>10}{_metric(metrics['pr_auc']):>10}")
        typer.echo(
            f"{'baseline: ' + baseline['rule']:28}{_metric(baseline['roc_auc']):>10}"
            f"{_metric(baseline['pr_auc']):>10}"
        )
        for kind, figures in metrics["by_kind"].items():
            typer.echo(f"{kind + ' churn':28}{_metric(figures['roc_auc']):>10}")
        typer.echo(f"Brier score {metrics['brier']:.4f} (base rate {metrics['base_rate']:.4f})")
        typer.echo(
            "calibration (predicted -> observed): "
            + ", ".join(
                f"{c['predicted']:.2f}->{c['observed']:.2f}" for c in metrics["calibration"]
            )
        )
    risks = ", ".join(f"{n:,} {risk}" for risk, n in sorted(outcome.risks.items()))
    typer.echo(f"scored {outcome.scored:,} paying customers: {risks or 'none'}")
    typer.echo(f"risk band changed for {outcome.changed:,}; workflows told: {outcome.told:,}")
    typer.echo(f"usage groups: {outcome.groups} ({outcome.grouping_note})")
