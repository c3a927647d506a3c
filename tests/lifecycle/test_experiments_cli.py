"""`lifecycle experiments`: list, show (results with intervals and p-values), rollout and
stop against the database, with the experiment from the config file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from core.settings import REPO_ROOT
from tests.factories.experiments import config_with, experiment_section, new_experiment_id


async def _cli(database_url: str, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LIFECYCLE_CONFIG": str(config),
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # nothing listens: these need no Temporal
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "lifecycle", "experiments", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_list_show_rollout_stop(database_url: str, tmp_path: Path) -> None:
    experiment_id = new_experiment_id()
    config = config_with(tmp_path, experiment_section(experiment_id))

    listed = await _cli(database_url, config, "list")
    assert listed.returncode == 0, listed.stderr
    assert f"{experiment_id} " in listed.stdout and "running" in listed.stdout

    shown = await _cli(database_url, config, "show", experiment_id)
    assert shown.returncode == 0, shown.stderr
    assert "control (control): weight 50, the config as is" in shown.stdout
    assert "higher: weight 50, pro at 119.00/month" in shown.stdout
    assert "trial conversion" in shown.stdout and "90-day churn" in shown.stdout

    wrong = await _cli(database_url, config, "rollout", experiment_id, "cheapest")
    assert wrong.returncode == 1
    assert "variant: 'cheapest' is not a variant" in wrong.stderr

    rolled = await _cli(database_url, config, "rollout", experiment_id, "higher")
    assert rolled.returncode == 0, rolled.stderr
    assert "rolled_out  winner higher" in rolled.stdout

    stopped = await _cli(database_url, config, "stop", experiment_id)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout
    again = await _cli(database_url, config, "stop", experiment_id)
    assert again.returncode == 1 and "nothing to stop" in again.stderr

    unknown = await _cli(database_url, config, "show", "nope")
    assert unknown.returncode == 1 and "experiment 'nope' does not exist" in unknown.stderr
