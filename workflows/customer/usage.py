"""Usage notices: a metric crossed 80 % or 100 % of its limit; one email and one in-app
notification per metric, period and threshold, however often the API says so."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.emails import EmailTemplate
    from domain.notifications import NotificationKind
    from workflows.customer import effects, patches
    from workflows.customer.context import CustomerContext
    from workflows.messages import CustomerState, UsageThresholdCrossed


def notice_key(metric: str, period_start: datetime, threshold: int) -> str:
    return f"usage:{metric}:{period_start.isoformat()}:{threshold}"


def _parse(key: str) -> tuple[str, datetime]:
    _, metric, rest = key.split(":", 2)
    period, _ = rest.rsplit(":", 1)
    return metric, datetime.fromisoformat(period)


def latest_period(state: CustomerState, metric: str) -> datetime | None:
    periods = [p for m, p in map(_parse, state.usage_notified) if m == metric]
    return max(periods, default=None)


def keep_latest_period(state: CustomerState, metric: str) -> None:
    latest = latest_period(state, metric)
    kept = []
    for key in state.usage_notified:
        key_metric, period = _parse(key)
        if key_metric != metric or period == latest:
            kept.append(key)
    state.usage_notified = kept


async def threshold_crossed(ctx: CustomerContext, crossed: UsageThresholdCrossed) -> None:
    state = ctx.state
    key = notice_key(crossed.metric, crossed.period_start, crossed.threshold)
    if key in state.done or key in state.usage_notified:
        return
    latest = latest_period(state, crossed.metric)
    if latest is not None and crossed.period_start < latest and ctx.since(patches.LEAN_RUNS):
        # A notice for a period that is over, delivered late: nobody needs it now.
        return
    upgrade_name = None
    if crossed.upgrade_plan:
        upgrade_name = ctx.plan_name(crossed.upgrade_plan)
    elif crossed.upgrade_addon and crossed.upgrade_addon in ctx.catalog.addons:
        upgrade_name = ctx.catalog.addons[crossed.upgrade_addon].name
    data = {
        "metric": crossed.metric,
        "metric_name": crossed.metric.replace("_", " "),
        "threshold": crossed.threshold,
        "percent": crossed.threshold,
        "used": crossed.used,
        "limit": crossed.limit,
        "period_start": crossed.period_start.isoformat(),
        "upgrade_plan": crossed.upgrade_plan,
        "upgrade_addon": crossed.upgrade_addon,
        "upgrade_plan_name": upgrade_name,
        "upgrade_price_difference_cents": crossed.upgrade_price_difference_cents,
    }
    reached = crossed.threshold >= 100
    await effects.email(
        ctx,
        EmailTemplate.USAGE_LIMIT_REACHED if reached else EmailTemplate.USAGE_WARNING,
        key=key,
        data=data,
    )
    await effects.notify(
        ctx,
        NotificationKind.USAGE_LIMIT_REACHED if reached else NotificationKind.USAGE_WARNING,
        key=key,
        data=data,
    )
    state.usage_notified.append(key)
    if ctx.since(patches.LEAN_RUNS):
        keep_latest_period(state, crossed.metric)
