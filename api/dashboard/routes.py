"""The admin dashboard at /admin: sign in with an admin key, then the business at a glance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import Scope, principal_of_key
from api.context import AppContext, get_context
from api.dashboard import session as sessions
from api.dashboard.analytics import churn_section, usage_groups_section
from api.dashboard.campaigns import campaigns_section
from api.dashboard.charts import churn_chart, funnel_chart, mrr_chart
from api.dashboard.experiments import experiments_section
from api.dashboard.forecast import forecast_section
from api.dashboard.page import layout, login_form, metrics_page
from api.dashboard.save_flow import save_flow_section
from api.errors import Problem
from api.insights.service import churn_model_or_none
from api.insights.service import groups as usage_groups_view
from api.reports.forecast import build_forecast, forecast_view
from api.reports.save_flow import build_save_flow_report, save_flow_view
from api.reports.service import build_report, competitive_view, metrics_view, render_csv
from api.security.sign_in import record_sign_in, sign_in_limited
from db.ledger import latest_entry_time
from domain.lifecycle import BillingInterval
from domain.reporting.periods import Granularity

router = APIRouter(prefix="/admin", tags=["dashboard"], include_in_schema=False)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


@router.get("/login", response_class=HTMLResponse)
async def login_page(error: str | None = None) -> HTMLResponse:
    return HTMLResponse(layout("Sign in", login_form(error)))


@router.post("/login")
async def login(request: Request, context: AppContext = Depends(get_context)) -> Response:
    limited = sign_in_limited(request, context)
    if limited is not None:
        return limited
    form = parse_qs((await request.body()).decode(errors="replace"))
    key = (form.get("api_key") or [""])[0].strip()
    principal = await principal_of_key(key, context.keys, context.sessions) if key else None
    if principal is None or principal.scope is not Scope.ADMIN:
        message = "That is not an admin API key." if key else "Enter an admin API key."
        if key:
            await record_sign_in(request, context, key, principal)
        return HTMLResponse(layout("Sign in", login_form(message)), status_code=401)
    await record_sign_in(request, context, key, principal)
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(
        sessions.COOKIE_NAME,
        sessions.issue(context, principal),
        max_age=sessions.SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/admin",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(sessions.COOKIE_NAME, path="/admin")
    return response


async def _default_end(context: AppContext) -> datetime:
    """Now, or the newest ledger entry when a seeded history lies ahead of today."""
    async with context.sessions() as session:
        latest = await latest_entry_time(session)
    now = datetime.now(UTC)
    if latest is None or latest <= now:
        return now
    return latest + timedelta(seconds=1)


def _parse_day(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.get("", response_class=HTMLResponse)
async def dashboard(request: Request, context: AppContext = Depends(get_context)) -> Response:
    current = await sessions.verify(context, request.cookies.get(sessions.COOKIE_NAME))
    if current is None:
        return RedirectResponse("/admin/login", status_code=303)
    query = request.query_params
    try:
        start = _parse_day(query.get("from"))
        end = _parse_day(query.get("to")) or await _default_end(context)
    except ValueError:
        return HTMLResponse(
            layout("Dashboard", '<p class="error">Dates must look like 2026-01-31.</p>'),
            status_code=422,
        )
    plan = query.get("plan") or None
    try:
        built = await build_report(
            context, start=start, end=end, plan=plan, interval=None, granularity=Granularity.MONTH
        )
    except Problem as problem:
        return HTMLResponse(
            layout("Dashboard", f'<p class="error">{escape(problem.detail)}</p>'),
            status_code=problem.status,
        )
    report = built.report
    currency = built.currency
    view = metrics_view(report, currency=currency, rates=built.rates, tax=built.tax)
    # The whole business from the range's end, whatever the plan filter.
    forecast = await build_forecast(context, months=12, as_of=report.end)
    body = metrics_page(
        view,
        plans=sorted(context.config.catalog.plans),
        charts={
            "mrr": mrr_chart(view.mrr_series, currency),
            "funnel": funnel_chart(view.trial_funnel),
            "churn": churn_chart(view.churn.months, currency),
        },
        csv_query=urlencode(
            {"from": view.from_.date().isoformat(), "to": view.to.date().isoformat()}
        ),
        signed_in_as=current.key_id,
        competitive=competitive_view(context.config, usage={}, interval=BillingInterval.MONTH),
        churn=churn_section(await churn_model_or_none(context))
        + usage_groups_section(await usage_groups_view(context))
        + await campaigns_section(context, datetime.now(UTC))
        + await experiments_section(context, datetime.now(UTC))
        + save_flow_section(
            save_flow_view(
                await build_save_flow_report(context, start=report.start, end=report.end)
            )
        ),
        forecast=forecast_section(forecast_view(forecast, currency=currency)),
    )
    response = HTMLResponse(layout("Dashboard", body))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/reports/{name}.csv")
async def dashboard_csv(
    name: str, request: Request, context: AppContext = Depends(get_context)
) -> Response:
    """The CSV exports for a signed-in dashboard user (the API's own need a Bearer key)."""
    if await sessions.verify(context, request.cookies.get(sessions.COOKIE_NAME)) is None:
        return RedirectResponse("/admin/login", status_code=303)
    query = request.query_params
    try:
        start, end = _parse_day(query.get("from")), _parse_day(query.get("to"))
    except ValueError:
        raise Problem(
            422, "from/to must be dates like 2026-01-31", type="validation-error"
        ) from None
    built = await build_report(
        context,
        start=start,
        end=end or await _default_end(context),
        plan=query.get("plan") or None,
        interval=None,
        granularity=Granularity.MONTH,
    )
    report = built.report
    try:
        text = render_csv(report, name)
    except KeyError:
        raise Problem(404, f"no report named {name!r}", type="not-found") from None
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
