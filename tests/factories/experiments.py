"""Config files with a pricing experiment: the repo's config plus an ``[experiments.<id>]``
section (a price variant of Pro beside the control, 50/50 unless told)."""

from __future__ import annotations

import uuid
from pathlib import Path

from core.settings import REPO_ROOT

HIGHER_PRO_CENTS = 11900


def experiment_section(
    experiment_id: str, *, status: str = "running", extra: str = "", higher_weight: int = 50
) -> str:
    return f"""
[experiments.{experiment_id}]
name = "Pro at $119"
status = "{status}"
{extra}
[experiments.{experiment_id}.variants.control]
weight = 50

[experiments.{experiment_id}.variants.higher]
weight = {higher_weight}
monthly_price_cents = {{ pro = {HIGHER_PRO_CENTS} }}
"""


def config_with(directory: Path, *sections: str) -> Path:
    path = directory / f"lifecycle-{uuid.uuid4().hex[:8]}.toml"
    path.write_text((REPO_ROOT / "lifecycle.toml").read_text() + "\n".join(sections))
    return path


def new_experiment_id() -> str:
    return f"xp_{uuid.uuid4().hex[:10]}"
