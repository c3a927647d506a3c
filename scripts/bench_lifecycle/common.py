"""Names, paths and small helpers the benchmark's modules share."""

from __future__ import annotations

import math
import socket
import time
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_ADMIN_URL = "postgresql+asyncpg://lifecycle:lifecycle@127.0.0.1:5432/postgres"
APP_KEY = "bench-app-key"
ADMIN_KEY = "bench-admin-key"
NAMESPACE = "default"
ENGINE_TASK_QUEUE = "subscriptions"
BARE_TASK_QUEUE = "bench-bare"
# The engine names each customer's workflow like this (README: "customer-<customer id>").
CUSTOMER_WORKFLOW_PREFIX = "customer-"
# The engine runs from this clone's environment; with --engine-root, on another checkout's
# code (PYTHONPATH comes before the editable install of this clone).
LIFECYCLE_CLI = REPO_ROOT / ".venv" / "bin" / "lifecycle"
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(max(math.ceil(p * len(ordered)), 1), len(ordered)) - 1]


def _toml_value(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def write_config(source: Path, path: Path, **sections: Mapping[str, object]) -> Path:
    """``source`` (the engine's lifecycle.toml) with keys of top-level sections overridden
    (as ``tests/factories/settings.py::write_config`` does), e.g. ``trial={"length": "20m"}``."""
    text = source.read_text()
    raw = tomllib.loads(text)
    for name, overrides in sections.items():
        merged = {**raw.get(name, {}), **overrides}
        lines = [f"{key} = {_toml_value(value)}" for key, value in merged.items()]
        start = text.index(f"[{name}]")
        end = text.find("\n[", start + 1)
        end = len(text) if end == -1 else end
        text = text[:start] + f"[{name}]\n" + "\n".join(lines) + "\n" + text[end:]
    path.write_text(text)
    return path
