"""The save flow's offers: what fits which customer, in which order for which reason, and
the 180-day rule; and the `[save_flow]` config with its mistakes named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.config import ConfigError, load_config
from core.settings import REPO_ROOT
from domain.catalog import Catalog
from domain.lifecycle import BillingInterval, Status
from domain.retention import (
    SAVE_OFFER_EVERY,
    CustomerPosition,
    ExitReason,
    OfferKind,
    SaveFlow,
    cheaper_plan,
    offers_for,
    taken_recently,
)

CONFIG = load_config(REPO_ROOT / "lifecycle.toml")
CATALOG: Catalog = CONFIG.catalog
FLOW = SaveFlow(pause_days=30, coupon="SAVE30", extend_trial_days=7, downgrade=True)
MONTH, YEAR = BillingInterval.MONTH, BillingInterval.YEAR


def _active(plan: str = "pro", interval: BillingInterval = MONTH, **kw: object) -> CustomerPosition:
    return CustomerPosition(status=Status.ACTIVE, plan=plan, interval=interval, **kw)  # type: ignore[arg-type]


def _kinds(position: CustomerPosition, reason: ExitReason, flow: SaveFlow = FLOW) -> list[str]:
    return [o.kind.value for o in offers_for(position, reason, CATALOG, flow)]


def test_the_order_follows_the_reason() -> None:
    assert _kinds(_active(), ExitReason.TOO_EXPENSIVE) == ["downgrade", "coupon", "pause"]
    assert _kinds(_active(), ExitReason.NOT_USING) == ["pause", "downgrade", "coupon"]
    assert _kinds(_active(), ExitReason.TEMPORARY) == ["pause", "coupon", "downgrade"]
    assert _kinds(_active(), ExitReason.SWITCHING) == ["coupon", "pause", "downgrade"]


def test_a_downgrade_is_the_smallest_step_down_with_its_saving() -> None:
    assert cheaper_plan(CATALOG, "pro", MONTH) == ("starter", 7000)
    # Annual: one twelfth of the discounted yearly prices.
    plan, saving = cheaper_plan(CATALOG, "pro", YEAR) or ("", 0)
    assert plan == "starter"
    assert saving == CATALOG.monthly_recurring_cents(
        CATALOG.plan("pro"), YEAR
    ) - CATALOG.monthly_recurring_cents(CATALOG.plan("starter"), YEAR)
    # The cheapest plan has nowhere to go; a sales-led one is never offered.
    assert cheaper_plan(CATALOG, "starter", MONTH) is None
    assert "downgrade" not in _kinds(_active("starter"), ExitReason.TOO_EXPENSIVE)
    assert cheaper_plan(CATALOG, "enterprise", MONTH) is None


def test_who_gets_what() -> None:
    expired = CustomerPosition(status=Status.TRIAL_EXPIRED, plan="starter", interval=None)
    assert _kinds(expired, ExitReason.NOT_USING) == ["extend_trial"]
    for status in (Status.TRIALING, Status.PAST_DUE, Status.PAUSED, Status.CANCELED):
        position = CustomerPosition(status=status, plan="pro", interval=MONTH)
        assert _kinds(position, ExitReason.TOO_EXPENSIVE) == [], status


def test_offers_left_out_of_the_config_or_taken_recently_are_not_shown() -> None:
    assert _kinds(_active(), ExitReason.TOO_EXPENSIVE, SaveFlow(pause_days=30)) == ["pause"]
    # A coupon the catalog does not know is never shown.
    assert _kinds(_active(), ExitReason.OTHER, SaveFlow(coupon="NOPE")) == []
    taken = _active(recently_taken=frozenset({OfferKind.COUPON}))
    assert _kinds(taken, ExitReason.TOO_EXPENSIVE) == ["downgrade", "pause"]
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert taken_recently(now - SAVE_OFFER_EVERY + timedelta(hours=1), now)
    assert not taken_recently(now - SAVE_OFFER_EVERY, now)
    assert not taken_recently(None, now)


def test_the_shipped_save_flow_loads() -> None:
    flow = CONFIG.save_flow
    assert (flow.pause_days, flow.coupon, flow.downgrade) == (30, "SAVE30", True)
    assert flow.proactive_every == timedelta(days=90)


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ('coupon = "NOPE"', "save_flow.coupon"),
        ('proactive_coupon = "NOPE"', "save_flow.proactive_coupon"),
        ("pause_days = 0", "save_flow.pause_days"),
        ("extend_trial_days = 400", "save_flow.extend_trial_days"),
        ('proactive_every = "soon"', "save_flow.proactive_every"),
        ("gift = true", "save_flow.gift"),
    ],
)
def test_config_mistakes_are_named(tmp_path: Path, section: str, named: str) -> None:
    text = (REPO_ROOT / "lifecycle.toml").read_text()
    start = text.index("[save_flow]")
    end = text.index("\n[", start + 1)
    path = tmp_path / "lifecycle.toml"
    path.write_text(text[:start] + f"[save_flow]\n{section}\n" + text[end:])
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert named.split(".")[-1] in str(exc.value)
    assert "save_flow" in str(exc.value)
