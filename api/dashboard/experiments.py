"""HTML of the dashboard's pricing experiments section: each experiment's state and, per
variant, the results against the control with their intervals and p-values."""

from __future__ import annotations

from datetime import datetime
from html import escape

from api.context import AppContext
from api.experiments import service
from api.experiments.schemas import ExperimentResultsView, MetricView, VariantResultView
from domain.emails import format_money


async def experiments_section(context: AppContext, now: datetime) -> str:
    listed = await service.list_experiments(context.config, context.sessions)
    shown = [
        await service.results(context.config, context.sessions, e.id, now)
        for e in listed
        if e.state != "draft"
    ]
    return render(
        shown,
        drafts=[e.id for e in listed if e.state == "draft"],
        currency=context.config.catalog.currency,
    )


def _rate(metric: MetricView) -> str:
    e, c = metric.estimate, metric.vs_control
    text = f"{e.value:.1%} <small>[{e.ci_low:.1%}, {e.ci_high:.1%}] n={e.n}</small>"
    if c is not None:
        text += _versus(f"{c.difference * 100:+.1f} pts", c.p_value, c.significant)
    return text


def _money(metric: MetricView, currency: str) -> str:
    e, c = metric.estimate, metric.vs_control

    def fmt(cents: float) -> str:
        return escape(format_money(round(cents), currency))

    text = f"{fmt(e.value)} <small>[{fmt(e.ci_low)}, {fmt(e.ci_high)}]</small>"
    if c is not None:
        sign = "+" if c.difference >= 0 else "-"
        text += _versus(f"{sign}{fmt(abs(c.difference))}", c.p_value, c.significant)
    return text


def _versus(difference: str, p_value: float, significant: bool) -> str:
    mark = ' class="significant"' if significant else ""
    return f"<br><span{mark}>{difference}, p={p_value:.3f}</span>"


def _row(v: VariantResultView, currency: str) -> str:
    name = escape(v.variant) + (" <small>(control)</small>" if v.control else "")
    mde = "" if v.conversion_mde is None else f"+{v.conversion_mde * 100:.1f} pts"
    return (
        f'<tr data-variant="{escape(v.variant)}"><td>{name}<br><small>{escape(v.changes)}'
        f"</small></td><td>{v.visitors:,}</td><td>{v.signups:,}</td>"
        f"<td>{_rate(v.trial_conversion)}</td><td>{_money(v.arpu_cents, currency)}</td>"
        f"<td>{_money(v.revenue_per_visitor_cents, currency)}</td>"
        f"<td>{_rate(v.churn_30d)}</td><td>{_rate(v.churn_60d)}</td><td>{_rate(v.churn_90d)}</td>"
        f"<td>{_rate(v.decline_rate)}</td><td>{mde}</td></tr>"
    )


def _experiment(results: ExperimentResultsView, currency: str) -> str:
    e = results.experiment
    winner = f", winner <strong>{escape(e.winner)}</strong>" if e.winner else ""
    breaches = "".join(
        f'<p class="error">Guardrail: {escape(b.variant)} {escape(b.metric)} '
        f"{b.difference * 100:+.1f} pts over the control (margin {b.margin * 100:.1f})</p>"
        for b in results.guardrail_breaches
    )
    rows = "".join(_row(v, currency) for v in results.variants)
    return (
        f'<div data-experiment="{escape(e.id)}"><h3>{escape(e.name)} <small>({escape(e.id)}: '
        f"{escape(e.state)}{winner})</small></h3>{breaches}"
        f'<div class="scroll"><table class="experiment-results"><tr><th>Variant</th>'
        "<th>Visitors</th><th>Sign-ups</th><th>Trial conversion</th><th>ARPU</th>"
        "<th>Revenue / visitor</th><th>Churn 30d</th><th>Churn 60d</th><th>Churn 90d</th>"
        f"<th>Payment declines</th><th>Detectable lift</th></tr>{rows}</table></div></div>"
    )


def render(shown: list[ExperimentResultsView], *, drafts: list[str], currency: str) -> str:
    if not shown:
        body = '<p class="empty">No experiment has run: add [experiments.&lt;id&gt;] with '
        body += 'status = "running" to the config.</p>'
    else:
        alpha = shown[0].alpha
        body = (
            f'<p class="note">Intervals at {1 - alpha:.0%}; against the control: the '
            "difference and the p-value (two-proportion test for rates, Welch's t-test for "
            "money), highlighted when significant. Detectable lift: the smallest rise in trial "
            "conversion the sample finds at the stated power.</p>"
        )
        body += "".join(_experiment(r, currency) for r in shown)
    if drafts:
        body += f'<p class="note">Drafts: {escape(", ".join(drafts))}</p>'
    return f'<section id="experiments"><h2>Pricing experiments</h2>{body}</section>'
