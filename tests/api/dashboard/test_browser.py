"""The /admin dashboard in a real headless Chromium (Debian's, driven by Playwright), over a
history seeded through the real workflows and the payment simulator."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import async_playwright

from activities.analytics import TrainingOutcome, train_and_score
from api.app import create_app
from api.reports.service import competitive_view
from core.config import load_config
from core.settings import REPO_ROOT, Settings
from db.engine import create_engine, session_factory
from devtools.demo import seed
from domain.emails import format_money
from domain.lifecycle import BillingInterval
from tests.factories.churn import generated_histories, write_histories
from tests.factories.databases import create_database, drop_database
from tests.factories.settings import ADMIN_KEY

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
# The flags a sandboxed, offline CI machine needs (no GPU, no background network).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # pragma: no cover - the test owns signals
        pass


@dataclass
class Running:
    base_url: str
    metrics: dict[str, Any]
    churn: TrainingOutcome


@pytest.fixture(scope="module")
async def dashboard(pg_admin_url: str) -> AsyncIterator[Running]:
    url = await create_database(pg_admin_url, prefix="lc_dash")
    port = _free_port()
    settings = Settings(
        database_url=url,
        lifecycle_admin_api_keys=ADMIN_KEY,
        # The dashboard reads the database only; nothing listens here.
        temporal_address=f"127.0.0.1:{_free_port()}",
    )
    server = _Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task: asyncio.Task[None] | None = None
    try:
        await seed(Settings(database_url=url), customers=24, months=4, seed=7)
        # Forty weeks of generated customers ending now, so the churn run makes a model.
        engine = create_engine(url)
        try:
            sessions = session_factory(engine)
            now = datetime.now(UTC)
            start = now - timedelta(weeks=40)
            await write_histories(
                sessions, generated_histories(customers=300, weeks=40, start=start), now=now
            )
            churn = await train_and_score(
                sessions, load_config(REPO_ROOT / "lifecycle.toml").catalog, now
            )
            assert churn.method == "logistic_regression"
        finally:
            await engine.dispose()
        task = asyncio.create_task(server.serve())
        while not server.started:
            assert not task.done(), "the API did not start"
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.get(
                "/v1/admin/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
            )
            assert response.status_code == 200, response.text
        yield Running(base_url=base, metrics=response.json(), churn=churn)
    finally:
        server.should_exit = True
        if task is not None:
            await task
        await drop_database(pg_admin_url, url)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by make test")
async def test_dashboard_in_chromium(dashboard: Running) -> None:
    metrics = dashboard.metrics
    # The seeded history must make the page worth looking at.
    assert metrics["mrr_cents"] > 0
    assert metrics["trial_funnel"]["started"] > 0
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport={"width": 1440, "height": 900})
            page = await context.new_page()

            await page.goto(f"{dashboard.base_url}/admin")
            assert page.url.endswith("/admin/login")
            await page.fill("#api_key", "not-the-key")
            await page.click("button[type=submit]")
            assert await page.locator("[role=alert]").inner_text() != ""

            await page.fill("#api_key", ADMIN_KEY)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{dashboard.base_url}/admin")

            cookies = {c["name"]: c for c in await context.cookies()}
            session = cookies["lc_admin_session"]
            assert session["httpOnly"] is True
            assert session["sameSite"] == "Strict"
            # Scripts cannot read it.
            assert "lc_admin_session" not in await page.evaluate("document.cookie")

            # Headline numbers are the seeded dataset's, as the API computes them.
            currency = metrics["currency"]
            shown = {
                "mrr": format_money(metrics["mrr_cents"], currency),
                "arr": format_money(metrics["arr_cents"], currency),
                "active": str(metrics["active_customers"]),
                "trialing": str(metrics["trialing_customers"]),
                "past-due": str(metrics["past_due_customers"]),
            }
            for testid, value in shown.items():
                card = page.locator(f"[data-testid={testid}] .value")
                assert (await card.inner_text()).strip() == value, testid

            # The charts render: visible SVGs with bars and the MRR line.
            for chart in ("#mrr-chart", "#funnel-chart", "#churn-chart"):
                box = await page.locator(chart).bounding_box()
                assert box is not None and box["width"] > 200 and box["height"] > 80, chart
            assert await page.locator("#mrr-chart rect.bar").count() > 0
            assert await page.locator("#mrr-chart polyline.mrr-line").count() == 1
            assert await page.locator("#funnel-chart rect.bar").count() == 6
            # Tables: churn per month, cohorts.
            months = len(metrics["churn"]["months"])
            assert await page.locator("#churn tr").count() == months + 1
            assert await page.locator("#revenue-cohorts tr").count() == len(metrics["cohorts"]) + 1

            # Competitive pricing: the configured competitors (lifecycle.toml), monthly.
            config = load_config(REPO_ROOT / "lifecycle.toml")
            assert config.competitors, "lifecycle.toml ships illustrative competitors"
            competitive = competitive_view(config, usage={}, interval=BillingInterval.MONTH)
            section = page.locator("#competitive")
            box = await section.bounding_box()
            assert box is not None and box["height"] > 200
            units = page.locator("#competitive-units tr")
            assert await units.count() == len(competitive.unit_prices) + 1
            for row, plan in enumerate(competitive.unit_prices, start=1):
                cells = await units.nth(row).locator("td").all_inner_texts()
                assert cells[:3] == [
                    plan.vendor,
                    plan.plan_name,
                    format_money(plan.monthly_cents, currency),
                ]
            for comparison in competitive.comparisons:
                table = page.locator(f"#competitive-{comparison.profile}")
                head = await table.locator("tr").first.inner_text()
                for competitor in config.competitors:
                    assert competitor.name in head, (comparison.profile, competitor.id)
                best = table.locator("tr.best td")
                assert comparison.monthly_cents is not None
                assert await best.nth(1).inner_text() == format_money(
                    comparison.monthly_cents, currency
                )

            # The churn model: its quality next to the baseline, and the customers at risk.
            churn = dashboard.churn
            quality = page.locator("#churn-model-quality tr")
            assert await quality.count() == 1 + 2 + len(churn.metrics["by_kind"])
            model_row = await quality.nth(1).locator("td").all_inner_texts()
            assert model_row == [
                "model",
                f"{churn.metrics['roc_auc']:.3f}",
                f"{churn.metrics['pr_auc']:.3f}",
            ]
            assert churn.version in await page.locator("#churn-model").inner_text()
            for band, count in churn.risks.items():
                shown_band = page.locator(f"#churn-model [data-risk={band}]")
                assert await shown_band.inner_text() == f"{count:,} {band}"
            # Usage patterns: one row per group the run made, each described.
            groups = page.locator("#usage-groups-table tr")
            assert churn.groups >= 2
            assert await groups.count() == churn.groups + 1
            assert "usage" in await groups.nth(1).inner_text()

            # The revenue forecast from the range's end: the chart after the actual MRR, the
            # months ahead and the backtest, as the API computes them from that moment.
            forecast_section = page.locator("#forecast")
            as_of = await forecast_section.get_attribute("data-as-of")
            assert as_of is not None
            async with httpx.AsyncClient(base_url=dashboard.base_url) as http:
                response = await http.get(
                    "/v1/admin/reports/forecast",
                    params={"as_of": as_of},
                    headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                )
            assert response.status_code == 200, response.text
            forecast = response.json()
            # Forty weeks of generated customers: enough history to forecast and backtest.
            assert forecast["status"] == "ok", forecast["note"]
            assert await forecast_section.get_attribute("data-status") == "ok"
            box = await page.locator("#forecast-chart").bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100
            for shape in (
                "polyline.actual-line",
                "polyline.forecast-line",
                "polygon.forecast-band",
            ):
                assert await page.locator(f"#forecast-chart {shape}").count() == 1, shape
            assert await page.locator("#forecast-chart circle").count() == 12
            ahead = page.locator("#forecast-months tr")
            assert await ahead.count() == 12 + 1
            for row, month in ((1, forecast["forecast"][0]), (12, forecast["forecast"][11])):
                cells = await ahead.nth(row).locator("td").all_inner_texts()
                assert cells[:2] == [month["end"][:10], format_money(month["mrr_cents"], currency)]
                assert cells[3] == format_money(month["cash_cents"], currency)
            backtest = page.locator("#forecast-backtest tbody tr")
            horizons = forecast["backtest"]["horizons"]
            assert await backtest.count() == len(horizons)
            assert horizons[0]["forecasts"] > 0
            for row, horizon in enumerate(horizons):
                cells = await backtest.nth(row).locator("td").all_inner_texts()
                mape = horizon["mrr_mape"]
                assert cells[1:3] == [
                    str(horizon["forecasts"]),
                    "-" if mape is None else f"{mape * 100:.1f}%",
                ]

            # Churn prevention: the seeded save flows (showcase customers ask to cancel; one
            # takes the discount), as the API reports them over the same range.
            async with httpx.AsyncClient(base_url=dashboard.base_url) as http:
                response = await http.get(
                    "/v1/admin/reports/save-flow",
                    params={"from": dashboard.metrics["from"], "to": dashboard.metrics["to"]},
                    headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                )
            assert response.status_code == 200, response.text
            save_flow = response.json()
            assert save_flow["requests"] >= 2 and save_flow["saved"] >= 1
            reasons = page.locator("#save-flow-reasons tr")
            assert await reasons.count() == len(save_flow["reasons"]) + 1
            for row, reason in enumerate(save_flow["reasons"], start=1):
                cells = await reasons.nth(row).locator("td").all_inner_texts()
                assert cells[1:4] == [
                    str(reason["requests"]),
                    str(reason["saved"]),
                    str(reason["canceled"]),
                ]
            coupon = page.locator("#save-flow-offers [data-offer=coupon] td")
            taken = next(o for o in save_flow["offers"] if o["kind"] == "coupon")["accepted"]
            assert taken >= 1
            assert await coupon.nth(2).inner_text() == str(taken)

            # The experiment the demo started: each variant's sign-ups, as the API counts.
            async with httpx.AsyncClient(base_url=dashboard.base_url) as http:
                response = await http.get(
                    "/v1/admin/experiments/pro_119",
                    headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                )
            assert response.status_code == 200, response.text
            experiment = response.json()
            assert experiment["experiment"]["state"] == "running"
            running = page.locator("#experiments [data-experiment=pro_119]")
            assert "running" in await running.locator("h3").inner_text()
            for variant in experiment["variants"]:
                assert variant["signups"] > 0, variant["variant"]
                cells = await running.locator(
                    f"tr[data-variant={variant['variant']}] td"
                ).all_inner_texts()
                assert cells[2] == f"{variant['signups']:,}"

            # The demo's campaign to expired trials: sent, and one offer taken.
            sent = page.locator("#campaigns-table tr[data-campaign] td")
            assert await sent.nth(1).inner_text() == "Expired trials"
            assert int(await sent.nth(4).inner_text()) >= 1
            assert (await sent.nth(7).inner_text()).startswith("1")

            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            # Readable on a laptop screen: nothing wider than the viewport.
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0
        finally:
            await browser.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
