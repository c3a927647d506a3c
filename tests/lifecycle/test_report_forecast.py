"""`lifecycle report forecast` as an admin runs it, over the planted history of
tests/api/reports/test_forecast.py in a database of its own: the engine's forecast in a
table with its backtest, the API's body with --json, too little history said plainly, and
bad options refused naming the option."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from api.reports.forecast import forecast_view
from core.settings import REPO_ROOT
from domain.growth.forecast import RevenueForecast, forecast_revenue
from domain.months import add_months
from tests.factories.databases import create_database, drop_database
from tests.factories.forecast import planted_growth, write_planted

PLANTED = planted_growth(months=14, trials=20, annual=0.2)
END = PLANTED.end.strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
async def seeded(pg_admin_url: str) -> AsyncIterator[str]:
    url = await create_database(pg_admin_url, prefix="lc_forecast_cli")
    try:
        await write_planted(url, PLANTED)
        yield url
    finally:
        await drop_database(pg_admin_url, url)


def _report(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_CONFIG"}
    env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "lifecycle", "report", "forecast", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def _engine(as_of: datetime, months: int) -> RevenueForecast:
    return forecast_revenue(PLANTED.rows, PLANTED.invoices, as_of=as_of, months=months)


def test_prints_the_forecast_and_its_backtest(seeded: str) -> None:
    result = _report(seeded, "--as-of", END, "--months", "6")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    expected = _engine(PLANTED.end, 6)
    assert out.startswith(
        "Revenue forecast from 2025-03-01 00:00 UTC, 6 months ahead (cohort model, 80% "
        "prediction intervals)\nFitted on 12 months of the ledger (2024-03-01 to 2025-03-01)."
    )
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  ")}
    for month in expected.forecast:
        row = rows[f"{month.end:%Y-%m-%d}"]
        assert row[1:9] == [
            _money(month.mrr_cents),
            _money(month.mrr_low_cents),
            "..",
            _money(month.mrr_high_cents),
            _money(month.cash_cents),
            _money(month.cash_low_cents),
            "..",
            _money(month.cash_high_cents),
        ]
    assert "2025-09-01" in rows and "2025-10-01" not in rows
    # The backtest, one row per horizon: 1 3 6 12 with the number of forecasts.
    assert "Backtested from 8 past months (2024-07-01 to 2025-02-01)" in out
    by_horizon = {h.horizon: h for h in expected.backtest.horizons}
    table = [line.split() for line in out.splitlines() if line.split()[:1] in (["1"], ["3"])]
    mape = by_horizon[1].mrr_mape
    assert mape is not None
    assert table[0][:3] == ["1", "8", f"{mape * 100:.2f}%"]
    assert table[1][:2] == ["3", "6"]
    assert ["12", "0", "n/a", "n/a", "n/a", "n/a"] in [line.split() for line in out.splitlines()]
    assert "interval coverage over all horizons: MRR" in out and "(nominal 80%)" in out
    assert "MRR retention   0-2 months" in out
    assert "History (cash: invoices)" in out


def test_json_is_the_api_body(seeded: str) -> None:
    result = _report(seeded, "--as-of", END, "--months", "3", "--json")
    assert result.returncode == 0, result.stderr
    expected = forecast_view(_engine(PLANTED.end, 3), currency="usd")
    assert json.loads(result.stdout) == expected.model_dump(mode="json")


def test_too_little_history_is_said_plainly(seeded: str) -> None:
    early = add_months(PLANTED.start, 3)
    result = _report(seeded, "--as-of", f"{early:%Y-%m-%d}")
    assert result.returncode == 0, result.stderr
    assert "Too little history to forecast: the ledger has 3 month(s) of revenue" in (result.stdout)
    assert "Not backtested" in result.stdout
    assert "month to" in result.stdout  # the history it has, still shown
    assert "Fitted rates" not in result.stdout


def test_refuses_bad_options_naming_the_option(seeded: str) -> None:
    for args, option in (
        (("--months", "0"), "--months"),
        (("--months", "25"), "--months"),
        (("--as-of", "yesterday"), "--as-of"),
        (("--as-of", "9999-12-31"), "--as-of"),
    ):
        result = _report(seeded, *args)
        assert result.returncode == 2, result.stdout
        assert option in result.stderr
