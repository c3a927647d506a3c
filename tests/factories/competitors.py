"""Config files for the competitive pricing tests: the repo's catalog and policy with its
own ``[competitors.*]`` tables replaced by the test's, and the rival the API and CLI tests
price against (figures worked out in tests/api/reports/test_competitive.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

from core.settings import REPO_ROOT

# Against lifecycle.toml's plans and add-ons: a monthly plan with a message overage rate
# and unlimited tokens, and a yearly plan with no overage.
RIVAL = """
[competitors.rival]
name = "Rival Bots"
currency = "USD"

[competitors.rival.plans.team]
name = "Team"
price_cents = 4000
interval = "month"
limits = { chatbots = 5, messages = 3000, tokens = "unlimited", api_calls = 5000 }
overage_cents = { messages = "0.5" }

[competitors.rival.plans.team_yearly]
name = "Team (yearly)"
price_cents = 36000
interval = "year"
limits = { chatbots = 5, messages = 3000, tokens = "unlimited", api_calls = 5000 }
"""


def without_competitors(text: str) -> str:
    """The TOML text minus every ``[competitors.*]`` table (the file has no arrays of
    tables, so a table runs to the next header)."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            skipping = line.startswith("[competitors.")
        if not skipping:
            kept.append(line)
    return "".join(kept)


def config_with_competitors(directory: Path, competitors: str = RIVAL) -> Path:
    """A copy of lifecycle.toml whose competitors are exactly ``competitors`` (TOML)."""
    text = without_competitors((REPO_ROOT / "lifecycle.toml").read_text())
    path = directory / f"lifecycle-{uuid.uuid4().hex[:8]}.toml"
    path.write_text(text + "\n" + competitors)
    return path
