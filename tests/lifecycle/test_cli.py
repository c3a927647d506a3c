"""The `lifecycle` command line as a newcomer uses it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core.settings import REPO_ROOT
from tests.factories.tools import tool

API_KEY_ENV = ("LIFECYCLE_APP_API_KEYS", "LIFECYCLE_ADMIN_API_KEYS", "TEMPORAL_ADDRESS")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in API_KEY_ENV and k != "DATABASE_URL"}
    env.update(extra)
    return env


def _lifecycle(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lifecycle", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_api_refuses_to_start_without_api_keys(tmp_path: Path) -> None:
    result = _lifecycle("api", cwd=tmp_path, env=_env())
    assert result.returncode == 2
    assert "LIFECYCLE_APP_API_KEYS" in result.stderr


def test_migrate_creates_a_sqlite_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/app.db"
    result = _lifecycle("migrate", cwd=tmp_path, env=_env(DATABASE_URL=url))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "app.db").exists()
    again = _lifecycle("migrate", cwd=tmp_path, env=_env(DATABASE_URL=url))
    assert again.returncode == 0, again.stderr


def test_broken_config_is_named(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[trial]\nlength = "two weeks"\n[plans.starter]\nname = "S"\nmonthly_price_cents = 1\n'
    )
    result = _lifecycle("dev", "--config", str(config), cwd=tmp_path, env=_env())
    assert result.returncode != 0
    assert "trial.length" in result.stderr


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_dev_runs_the_whole_engine_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    tool("temporal")
    port, temporal_port, ui_port = _free_port(), _free_port(), _free_port()
    log = tmp_path / "dev.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "lifecycle", "dev",
                "--port", str(port),
                "--temporal-port", str(temporal_port),
                "--ui-port", str(ui_port),
            ],
            cwd=tmp_path,
            env=_env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "Press Ctrl-C to stop." not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        output = log.read_text()
        app_key = re.search(r"App API key\s+(\S+)", output)
        assert app_key, output
        assert f"http://127.0.0.1:{port}/docs" in output
        assert f"http://127.0.0.1:{ui_port}" in output

        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/docs").status_code == 200
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
        assert httpx.get(f"http://127.0.0.1:{ui_port}/").status_code == 200
        created = httpx.post(
            f"{base}/v1/customers",
            json={"external_id": "dev-1", "email": "dev@example.com"},
            headers={"Authorization": f"Bearer {app_key.group(1)}"},
        )
        assert created.status_code == 201, created.text
        assert (tmp_path / ".lifecycle" / "lifecycle.db").exists()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            returncode = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert returncode == 0, log.read_text()[-3000:]
    # The dev server went down with it: its port is free again.
    with socket.socket() as s:
        s.bind(("127.0.0.1", temporal_port))


def test_readme_commands_exist() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert (REPO_ROOT / ".ci" / "run").read_text().strip().endswith("make test")
