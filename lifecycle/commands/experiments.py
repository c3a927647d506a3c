"""`lifecycle experiments list|show|stop|rollout`: the pricing experiments, their results
per variant, and the operator's stop and rollout (the figures and actions of
/v1/admin/experiments; migrating a customer reaches its workflow: use the API)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from lifecycle.options import ConfigOption, load_settings

if TYPE_CHECKING:
    from api.experiments.schemas import ExperimentResultsView, ExperimentView, MetricView
    from core.config import EngineConfig
    from db.engine import SessionFactory

experiments_app = typer.Typer(
    help="Pricing experiments: states, results per variant (GET /v1/admin/experiments), "
    "stop and rollout.",
    no_args_is_help=True,
)

ACTOR = "cli"
T = TypeVar("T")


def _run(config: ConfigOption, use: Callable[[EngineConfig, SessionFactory], Awaitable[T]]) -> T:
    from api.errors import Problem
    from db.engine import create_engine, session_factory

    settings = load_settings(config)

    async def main() -> T:
        engine = create_engine(settings.database_url)
        try:
            return await use(settings.engine_config, session_factory(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except Problem as problem:
        typer.echo(f"error: {problem.detail}", err=True)
        raise typer.Exit(1) from None


def _summary(view: ExperimentView) -> str:
    winner = f" winner {view.winner}" if view.winner else ""
    return (
        f"{view.id:<24} {view.state:<11}{winner}  sign-ups {view.signups} "
        f"(+{view.rollout_signups} after rollout)  visitors {view.visitors}  {view.name}"
    )


@experiments_app.command("list")
def list_experiments(config: ConfigOption = None) -> None:
    """Every experiment in the config with its state."""
    from api.experiments.service import list_experiments as listed

    views = _run(config, listed)
    if not views:
        typer.echo("no experiments in the config ([experiments.<id>] sections)")
    for view in views:
        typer.echo(_summary(view))


def _cell(metric: MetricView, *, money: bool = False) -> str:
    e, c = metric.estimate, metric.vs_control

    def fmt(value: float) -> str:
        return f"{value / 100:,.2f}" if money else f"{value * 100:.1f}%"

    text = f"{fmt(e.value)} [{fmt(e.ci_low)}, {fmt(e.ci_high)}] n={e.n}"
    if c is not None:
        sign = "+" if c.difference >= 0 else ""
        star = "*" if c.significant else ""
        text += f"  {sign}{fmt(c.difference)} p={c.p_value:.3f}{star}"
    return text


def print_results(results: ExperimentResultsView) -> None:
    typer.echo(_summary(results.experiment))
    typer.echo(
        f"confidence intervals at {(1 - results.alpha) * 100:.0f}%; * significant against the "
        f"control at alpha {results.alpha}; MDE at {results.power * 100:.0f}% power"
    )
    for v in results.variants:
        typer.echo("")
        label = " (control)" if v.control else ""
        typer.echo(f"{v.variant}{label}: weight {v.weight}, {v.changes}")
        typer.echo(f"  visitors {v.visitors}  sign-ups {v.signups}")
        rows = [
            ("trial conversion", _cell(v.trial_conversion)),
            ("ARPU", _cell(v.arpu_cents, money=True)),
            ("revenue/visitor", _cell(v.revenue_per_visitor_cents, money=True)),
            ("30-day churn", _cell(v.churn_30d)),
            ("60-day churn", _cell(v.churn_60d)),
            ("90-day churn", _cell(v.churn_90d)),
            ("payment declines", _cell(v.decline_rate)),
        ]
        for name, cell in rows:
            typer.echo(f"  {name:<18}{cell}")
        if not v.control:
            mde = "n/a" if v.conversion_mde is None else f"{v.conversion_mde * 100:.1f} points"
            arpu = "n/a" if v.arpu_mde_cents is None else f"{v.arpu_mde_cents / 100:,.2f}"
            typer.echo(f"  detectable: conversion +{mde}, ARPU {arpu}")
    for breach in results.guardrail_breaches:
        typer.echo(
            f"GUARDRAIL {breach.variant}: {breach.metric} {breach.difference * 100:+.1f} points "
            f"over the control (margin {breach.margin * 100:.1f}, p={breach.p_value:.3f})"
        )


@experiments_app.command("show")
def show(
    experiment_id: Annotated[str, typer.Argument(help="The experiment's id in the config.")],
    config: ConfigOption = None,
) -> None:
    """Results per variant against the control, with intervals and p-values."""
    from api.experiments.service import results
    from core.clock import utcnow

    print_results(_run(config, lambda c, s: results(c, s, experiment_id, utcnow())))


@experiments_app.command("start")
def start(
    experiment_id: Annotated[str, typer.Argument(help="The experiment's id in the config.")],
    config: ConfigOption = None,
) -> None:
    """A draft starts assigning new sign-ups (run `lifecycle stripe sync-catalog` first)."""
    from api.experiments.service import start as starting
    from core.clock import utcnow

    typer.echo(_summary(_run(config, lambda c, s: starting(c, s, experiment_id, ACTOR, utcnow()))))


@experiments_app.command("stop")
def stop(
    experiment_id: Annotated[str, typer.Argument(help="The experiment's id in the config.")],
    config: ConfigOption = None,
) -> None:
    """New sign-ups get the config's terms; assigned customers keep their variant."""
    from api.experiments.service import stop as stopping
    from core.clock import utcnow

    typer.echo(_summary(_run(config, lambda c, s: stopping(c, s, experiment_id, ACTOR, utcnow()))))


@experiments_app.command("rollout")
def rollout(
    experiment_id: Annotated[str, typer.Argument(help="The experiment's id in the config.")],
    variant: Annotated[str, typer.Argument(help="The winning variant.")],
    config: ConfigOption = None,
) -> None:
    """New sign-ups get the variant's terms until `stop` (once the config carries them);
    existing customers keep theirs."""
    from api.experiments.service import rollout as rolling
    from core.clock import utcnow

    typer.echo(
        _summary(_run(config, lambda c, s: rolling(c, s, experiment_id, variant, ACTOR, utcnow())))
    )
