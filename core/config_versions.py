"""The canonical content of the config file: its TOML parsed and written back as sorted,
indented JSON, so a version is its meaning (comments, spacing and key order aside), with a
SHA-256 hash to name it and lines a unified diff compares."""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CanonicalConfig:
    hash: str
    content: str


def _plain(value: Any) -> Any:
    # TOML dates and times have no JSON form.
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def canonical_config(text: str) -> CanonicalConfig:
    content = json.dumps(
        tomllib.loads(text), sort_keys=True, indent=2, ensure_ascii=False, default=_plain
    )
    return CanonicalConfig(hashlib.sha256(content.encode()).hexdigest(), content + "\n")


def read_canonical_config(path: Path) -> CanonicalConfig:
    return canonical_config(path.read_text())


def unified_diff(before: str, after: str, *, before_name: str, after_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=before_name,
            tofile=after_name,
        )
    )
