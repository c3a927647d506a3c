"""The pinned tools Python cannot provide (Temporal servers, stripe-mock), from the tools
cache; ``scripts/tools.sh`` installs them on first use."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from core.settings import REPO_ROOT

TOOLS_CACHE = Path(
    os.environ.get("LIFECYCLE_TOOLS_CACHE", Path.home() / ".cache" / "lifecycle-engine")
)


def tool(name: str) -> Path:
    path = TOOLS_CACHE / "bin" / name
    if not path.exists():
        subprocess.run([str(REPO_ROOT / "scripts" / "tools.sh"), "all"], check=True)
    return path
