"""HTML of the dashboard: headline numbers, charts, funnel, churn and cohort tables, and the
competitive pricing comparison (the forecast and churn model sections come in as HTML)."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from api.reports.schemas import (
    CompetitiveView,
    CompetitorCostView,
    MetricsView,
    OurPlanCostView,
    UnitPriceView,
    UsageComparisonView,
)
from domain.emails import format_money

_STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212121;
background:#f5f6f8}
header{background:#1f2a44;color:#fff;padding:12px 24px;display:flex;align-items:center;
justify-content:space-between}
header h1{font-size:18px;margin:0}
header form{margin:0}
header button{background:transparent;color:#fff;border:1px solid #fff6;border-radius:4px;
padding:4px 10px;cursor:pointer}
main{max-width:1280px;margin:0 auto;padding:20px 24px}
.filters{display:flex;gap:12px;align-items:end;margin-bottom:16px;flex-wrap:wrap}
.filters label{display:flex;flex-direction:column;font-size:12px;color:#555}
.filters input,.filters select{padding:4px 6px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px;
margin-bottom:20px}
.card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px #0001}
.card .label{font-size:12px;color:#666}
.card .value{font-size:22px;font-weight:600;margin-top:4px}
.grid{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:16px}
section{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 2px #0001;
margin-bottom:16px}
section h2{font-size:15px;margin:0 0 10px}
.chart{width:100%;height:auto}
.chart .axis{font-size:11px;fill:#757575}
.chart .label{font-size:12px;fill:#424242}
.legend{font-size:12px;color:#555;display:flex;gap:14px;flex-wrap:wrap;margin-top:6px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
.error{color:#b71c1c}
.empty{color:#777}
.login{max-width:360px;margin:12vh auto;background:#fff;padding:24px;border-radius:8px;
box-shadow:0 1px 3px #0002}
.login input{width:100%;padding:8px;margin:8px 0 12px}
.login button{padding:8px 14px}
.downloads a{margin-right:10px;font-size:13px}
section h3{font-size:13px;margin:14px 0 6px}
.note{font-size:12px;color:#666;margin:0 0 8px}
.scroll{overflow-x:auto}
td.wrap{white-space:normal;text-align:left;color:#555}
tr.best td{font-weight:600}
.grid.even{grid-template-columns:minmax(0,1fr) minmax(0,1fr)}
@media (max-width:1000px){.grid,.grid.even{grid-template-columns:1fr}}
"""


def layout(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)} · Subscription lifecycle</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def login_form(error: str | None) -> str:
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return (
        '<form class="login" method="post" action="/admin/login">'
        "<h1>Admin sign-in</h1>"
        "<p>Sign in with an API key of scope <code>admin</code>.</p>"
        f"{message}"
        '<label for="api_key">Admin API key</label>'
        '<input id="api_key" name="api_key" type="password" autocomplete="off" required autofocus>'
        '<button type="submit">Sign in</button></form>'
    )


def _rate(value: object) -> str:
    if value is None:
        return "n/a"
    return f"{Decimal(str(value)) * 100:.1f}%"


def _money(cents: int | None, currency: str) -> str:
    return "n/a" if cents is None else format_money(cents, currency)


def _card(testid: str, label: str, value: str) -> str:
    return (
        f'<div class="card" data-testid="{testid}"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div></div>'
    )


def metrics_page(
    view: MetricsView,
    *,
    plans: list[str],
    charts: dict[str, str],
    csv_query: str,
    signed_in_as: str,
    competitive: CompetitiveView | None = None,
    churn: str = "",
    forecast: str = "",
) -> str:
    c = view.currency
    cards = "".join(
        [
            _card("mrr", "MRR", _money(view.mrr_cents, c)),
            _card("arr", "ARR", _money(view.arr_cents, c)),
            _card("active", "Active customers", str(view.active_customers)),
            _card("trialing", "In trial", str(view.trialing_customers)),
            _card("past-due", "Past due", str(view.past_due_customers)),
            _card("conversion", "Trial conversion", _rate(view.trial_conversion_rate)),
            _card("logo-churn", "Logo churn / month", _rate(view.logo_churn_rate)),
            _card("revenue-churn", "Revenue churn / month", _rate(view.revenue_churn_rate)),
            _card("arpu", "ARPU", _money(view.arpu_cents, c)),
            _card("ltv", "LTV", _money(view.ltv_cents, c)),
        ]
    )
    moves = view.mrr_movements
    movement_rows = "".join(
        f"<tr><td>{name}</td><td>{_money(total.cents, c)}</td><td>{total.count}</td></tr>"
        for name, total in (
            ("New", moves.new),
            ("Expansion", moves.expansion),
            ("Reactivated", moves.reactivated),
            ("Contraction", moves.contraction),
            ("Churned", moves.churned),
        )
    )
    churn_rows = "".join(
        f"<tr><td>{m.month}</td><td>{m.paying_customers_at_start}</td>"
        f"<td>{m.churned_customers}</td><td>{_rate(m.logo_churn_rate)}</td>"
        f"<td>{_rate(m.revenue_churn_rate)}</td><td>{m.voluntary_churned_customers}</td>"
        f"<td>{m.involuntary_churned_customers}</td><td>{_rate(m.dunning_recovery_rate)}</td></tr>"
        for m in view.churn.months
    )
    cohort_rows = "".join(
        f"<tr><td>{cohort.week}</td><td>{cohort.started}</td><td>{cohort.converted}</td>"
        f"<td>{_rate(cohort.conversion_rate)}</td></tr>"
        for cohort in view.trial_funnel.cohorts
    )
    horizon = max((len(rc.months) for rc in view.cohorts), default=0)
    revenue_head = "".join(f"<th>M{offset}</th>" for offset in range(horizon))
    revenue_rows = "".join(
        f"<tr><td>{rc.month}</td><td>{rc.customers}</td>"
        + "".join(
            f"<td>{_money(month.cumulative_revenue_per_customer_cents, c)}</td>"
            for month in rc.months
        )
        + "<td></td>" * (horizon - len(rc.months))
        + "</tr>"
        for rc in view.cohorts
    )
    plan_options = "".join(
        f'<option value="{escape(p)}"{" selected" if p == view.plan else ""}>{escape(p)}</option>'
        for p in plans
    )
    downloads = "".join(
        f'<a href="/admin/reports/{name}.csv?{csv_query}">{name}.csv</a>'
        for name in (
            "mrr_movements",
            "invoices",
            "payments",
            "refunds",
            "trial_funnel",
            "churn",
            "cohorts",
        )
    )
    return f"""
<header><h1>Subscription lifecycle · Business dashboard</h1>
<form method="post" action="/admin/logout"><span style="font-size:12px;margin-right:8px">
{escape(signed_in_as)}</span><button type="submit">Sign out</button></form></header>
<main>
<form class="filters" method="get" action="/admin">
<label>From<input type="date" name="from" value="{view.from_.date().isoformat()}"></label>
<label>To<input type="date" name="to" value="{view.to.date().isoformat()}"></label>
<label>Plan<select name="plan"><option value="">All plans</option>{plan_options}</select></label>
<button type="submit">Apply</button>
<span class="downloads">{downloads}</span>
</form>
<div class="cards">{cards}</div>
<p class="note" data-testid="tax-basis">Amounts are net of tax ({escape(view.tax_basis)}).</p>
<div class="grid">
<section><h2>MRR and movements</h2>{charts["mrr"]}</section>
<section><h2>MRR movements in the range</h2><table id="movements">
<tr><th>Movement</th><th>MRR</th><th>Customers</th></tr>{movement_rows}
<tr><th>Net</th><th>{_money(moves.net_cents, c)}</th><th></th></tr></table></section>
</div>
<div class="grid">
<section><h2>Trial funnel</h2>{charts["funnel"]}
<p>Conversion {_rate(view.trial_funnel.conversion_rate)} · median
{
        view.trial_funnel.median_days_to_convert
        if view.trial_funnel.median_days_to_convert is not None
        else "n/a"
    } days to convert</p></section>
<section><h2>Churned MRR per month</h2>{charts["churn"]}</section>
</div>
<section><h2>Churn per month</h2><table id="churn">
<tr><th>Month</th><th>Paying at start</th><th>Churned</th><th>Logo churn</th>
<th>Revenue churn</th><th>Voluntary</th><th>Involuntary</th><th>Dunning recovery</th></tr>
{churn_rows}</table></section>
<div class="grid">
<section><h2>Revenue cohorts (cumulative revenue per customer)</h2><table id="revenue-cohorts">
<tr><th>First revenue</th><th>Customers</th>{revenue_head}</tr>{revenue_rows}</table></section>
<section><h2>Trial conversion by weekly sign-up cohort</h2><table id="trial-cohorts">
<tr><th>Week</th><th>Trials</th><th>Converted</th><th>Rate</th></tr>{cohort_rows}</table>
</section>
</div>
{forecast}
{churn}
{competitive_section(competitive) if competitive is not None else ""}
</main>"""


# -- competitive pricing ----------------------------------------------------------------


def _signed_money(cents: int, currency: str) -> str:
    return ("+" if cents > 0 else "") + format_money(cents, currency)


def _signed_rate(value: float | None) -> str:
    return ("+" if value is not None and value > 0 else "") + _rate(value)


def _unit_cell(unit: UnitPriceView, currency: str) -> str:
    if unit.limit_kind != "limited":
        text = unit.limit_kind
    elif unit.cents_per_unit is None:
        text = "not included"
    else:
        text = format_money(unit.cents_per_unit, currency)
    if unit.overage_cents_per_unit is not None:
        text += f" · then {format_money(unit.overage_cents_per_unit, currency)}"
    return f"<td>{escape(text)}</td>"


def _usage_text(comparison: UsageComparisonView) -> str:
    return " · ".join(
        f"{quantity:,} {metric.replace('api_', 'API ')}"
        for metric, quantity in comparison.usage.items()
    )


def _our_cost_cell(cost: OurPlanCostView, currency: str) -> str:
    if cost.priced_per_contract:
        return "<td>per contract</td>"
    if cost.monthly_cents is None:
        return f"<td>does not cover ({escape(', '.join(cost.uncovered))})</td>"
    return f"<td>{format_money(cost.monthly_cents, currency)}</td>"


def _competitor_head(competitor: CompetitorCostView, currency: str) -> str:
    best = next((p for p in competitor.plans if p.plan_id == competitor.cheapest_plan_id), None)
    if best is None or best.monthly_cents is None:
        detail = "no plan covers this" if competitor.plans else "no plan on this interval"
    else:
        detail = f"{best.plan_name} {format_money(best.monthly_cents, currency)}"
    return f"<th>vs {escape(competitor.name)}<br><small>{escape(detail)}</small></th>"


def _comparison_table(comparison: UsageComparisonView, currency: str) -> str:
    head = "".join(_competitor_head(c, currency) for c in comparison.competitors)
    # Add-ons only count where the plan covers the usage with them.
    with_addons = any(cost.covers and cost.addons for cost in comparison.ours)
    rows = []
    for cost in comparison.ours:
        by_competitor = {d.competitor_id: d for d in cost.versus}
        cells = []
        for competitor in comparison.competitors:
            difference = by_competitor.get(competitor.competitor_id)
            cells.append(
                "<td>n/a</td>"
                if difference is None
                else f"<td>{_signed_money(difference.difference_cents, currency)} "
                f"({_signed_rate(difference.difference_rate)})</td>"
            )
        if with_addons:
            addons = ", ".join(f"{a.quantity} x {a.name}" for a in cost.addons if cost.covers)
            cells.append(f'<td class="wrap">{escape(addons)}</td>')
        best = ' class="best"' if cost.plan_id == comparison.cheapest_plan_id else ""
        rows.append(
            f"<tr{best}><td>{escape(cost.plan_name)}</td>{_our_cost_cell(cost, currency)}"
            f"{''.join(cells)}</tr>"
        )
    return (
        f"<h3>At {escape(comparison.profile)} usage: {escape(_usage_text(comparison))} a month</h3>"
        f'<div class="scroll"><table id="competitive-{escape(comparison.profile)}">'
        f"<tr><th>Our plan</th><th>Our cost</th>{head}"
        f"{'<th>Add-ons included</th>' if with_addons else ''}</tr>"
        f"{''.join(rows)}</table></div>"
    )


def competitive_section(view: CompetitiveView) -> str:
    """Price per unit of every plan, then what each usage profile costs with us against the
    cheapest covering plan of each competitor (negative: we are cheaper)."""
    c = view.currency
    metrics = view.unit_prices[0].units if view.unit_prices else []
    unit_head = "".join(f"<th>per {escape(u.unit)}</th>" for u in metrics)
    unit_rows = "".join(
        f"<tr><td>{escape(row.vendor)}</td><td>{escape(row.plan_name)}</td>"
        f"<td>{format_money(row.monthly_cents, c)}</td>"
        + "".join(_unit_cell(u, c) for u in row.units)
        + "</tr>"
        for row in view.unit_prices
    )
    if any(row.competitor_id is not None for row in view.unit_prices):
        comparisons = "".join(_comparison_table(cmp, c) for cmp in view.comparisons)
    else:
        comparisons = (
            '<p class="empty">No competitor plans billed per '
            f"{escape(view.interval)}: add <code>[competitors.&lt;id&gt;]</code> sections to "
            "the config file.</p>"
        )
    return (
        '<section id="competitive"><h2>Competitive pricing</h2>'
        f'<p class="note">Billed per {escape(view.interval)}; prices per month. Price per unit '
        "= the plan's price / its limit; unknown: not in the competitor's config. Differences "
        "are our cost minus the competitor's cheapest plan that covers the usage.</p>"
        f'<div class="scroll"><table id="competitive-units"><tr><th>Vendor</th><th>Plan</th>'
        f"<th>Per month</th>{unit_head}</tr>{unit_rows}</table></div>"
        f"{comparisons}</section>"
    )
