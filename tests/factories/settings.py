"""The engine's settings as tests run it: the API keys, ``Settings`` for a test's database
and task queue, a config file with some keys overridden, and the auth header."""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Mapping
from pathlib import Path

from core.settings import REPO_ROOT, Settings

APP_KEY = "test-app-key"
ADMIN_KEY = "test-admin-key"


def auth(key: str = APP_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def write_config(directory: Path, **sections: Mapping[str, object]) -> Path:
    """A copy of the repo's config file with keys of top-level sections overridden, e.g.
    ``trial={"length": "6s"}`` or ``dunning={"retries": ["2s"]}`` for a policy of seconds."""
    text = (REPO_ROOT / "lifecycle.toml").read_text()
    raw = tomllib.loads(text)
    for name, overrides in sections.items():
        merged = {**raw.get(name, {}), **overrides}
        lines = [f"{key} = {_toml_value(value)}" for key, value in merged.items()]
        start = text.index(f"[{name}]")
        end = text.find("\n[", start + 1)
        end = len(text) if end == -1 else end
        text = text[:start] + f"[{name}]\n" + "\n".join(lines) + "\n" + text[end:]
    path = directory / f"lifecycle-{uuid.uuid4().hex[:8]}.toml"
    path.write_text(text)
    return path


def _toml_value(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def make_settings(
    *, database_url: str, task_queue: str, config_path: Path | None = None, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "temporal_task_queue": task_queue,
        "lifecycle_app_api_keys": APP_KEY,
        "lifecycle_admin_api_keys": ADMIN_KEY,
        # Tests deliver the simulator's events themselves, in the order they choose.
        "lifecycle_simulator_redelivery": False,
    }
    if config_path is not None:
        values["lifecycle_config"] = config_path
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
