"""``[approvals]``: off unless turned on; what is turned on reaches the engine's config; a
misspelt key or an impossible threshold is refused naming it. And the rule of "above the
plan" for limit overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_config
from core.settings import REPO_ROOT
from domain.approvals import Approvals, above_plan
from tests.factories.settings import write_config


def test_the_shipped_config_needs_no_second_admin() -> None:
    assert load_config(REPO_ROOT / "lifecycle.toml").approvals == Approvals()


def test_turned_on_sections_reach_the_engine(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        approvals={
            "erasure": True,
            "limit_overrides_above_plan": True,
            "trial_extensions_beyond_days": 14,
        },
    )
    approvals = load_config(path).approvals
    assert approvals == Approvals(
        erasure=True, limit_overrides_above_plan=True, trial_extensions_beyond_days=14
    )
    assert not approvals.trial_extension_needs_approval(14)
    assert approvals.trial_extension_needs_approval(15)


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"erasures": True}, "approvals.erasures"),
        ({"trial_extensions_beyond_days": -1}, "approvals.trial_extensions_beyond_days"),
    ],
)
def test_a_bad_section_is_refused_naming_the_key(
    tmp_path: Path, section: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(write_config(tmp_path, approvals=section))


def test_above_the_plan() -> None:
    assert not above_plan(10, 10)
    assert above_plan(11, 10)
    assert above_plan(None, 10), "unlimited"
    assert above_plan(5, None), "a per-contract plan has no figure to stay under"
    off = Approvals()
    assert not off.limit_override_needs_approval({"messages": None}, {"messages": 10})
    on = Approvals(limit_overrides_above_plan=True)
    assert not on.limit_override_needs_approval(
        {"messages": 3, "chatbots": 1}, {"messages": 5, "chatbots": 1}
    )
    assert on.limit_override_needs_approval(
        {"messages": 3, "chatbots": 2}, {"messages": 5, "chatbots": 1}
    )
