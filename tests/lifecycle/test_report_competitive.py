"""`lifecycle report competitive` as an admin runs it: the figures of
tests/api/reports/test_competitive.py (lifecycle.toml's catalog against the test rival),
in a table, and the API's JSON body with --json. No database: the config is all it reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from api.reports.service import competitive_view
from core.config import load_config
from core.settings import REPO_ROOT
from domain.lifecycle import BillingInterval
from tests.factories.competitors import config_with_competitors


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LIFECYCLE_CONFIG", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "lifecycle", "report", "competitive", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_prints_the_comparison_at_a_usage(tmp_path: Path) -> None:
    config = config_with_competitors(tmp_path)
    result = _report("--config", str(config), "--chatbots", "4", "--messages", "8000")
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert "At requested usage: 4 chatbots, 8,000 messages, 0 tokens, 0 API calls a month" in (
        result.stdout
    )
    # Rival's Team: 4,000 + 5,000 messages over at 0.5 cent.
    assert "rival       Rival Bots: Team $65.00 (overage $25.00)" in result.stdout
    # Our cheapest is marked; differences against Team.
    starter = next(line for line in lines if line[:2] == ["*", "Starter"])
    assert starter[:8] == ["*", "Starter", "$44.00", "-$21.00", "(-32.3%)", "with", "1", "x"]
    assert ["Pro", "$99.00", "+$34.00", "(+52.3%)"] in lines
    assert ["Enterprise", "per", "contract"] in lines
    # Price per unit: Team's 4,000 / 3,000 messages x 1,000 = 1,333.33.
    assert ["Rival", "Bots", "Team", "$40.00", "$8.00", "$13.33", "unlimited", "$8.00"] in lines
    assert "Rival Bots Team: $5.00 per 1,000 messages" in result.stdout


def test_json_is_the_api_body(tmp_path: Path) -> None:
    config = config_with_competitors(tmp_path)
    result = _report("--config", str(config), "--interval", "year", "--json")
    assert result.returncode == 0, result.stderr
    expected = competitive_view(load_config(config), usage={}, interval=BillingInterval.YEAR)
    assert json.loads(result.stdout) == expected.model_dump(mode="json")
    assert [c["profile"] for c in json.loads(result.stdout)["comparisons"]] == [
        "small",
        "medium",
        "large",
    ]


def test_refuses_bad_usage_naming_the_option() -> None:
    for args, option in (
        (("--messages", "-1"), "--messages"),
        (("--api-calls", str(10**13)), "--api-calls"),
        (("--interval", "week"), "--interval"),
    ):
        result = _report(*args)
        assert result.returncode == 2, result.stdout
        assert option in result.stderr
