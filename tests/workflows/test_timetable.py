"""The customer workflow's pure rules, without a server: what is due when, what a stalled
step waits for, how dunning retries collapse, and which commands a state allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.config import EngineConfig
from domain.lifecycle import BillingInterval, Status, TransitionRefused
from tests.factories.policies import make_policy
from workflows.customer import checks, timetable
from workflows.customer.timetable import RESYNC_KEY, DueKind
from workflows.customer.usage import keep_latest_period, notice_key
from workflows.messages import (
    CancelSubscription,
    ChangeSubscription,
    CustomerState,
    Dunning,
    ExtendTrial,
    PauseSubscription,
    PurchaseAddon,
    ScheduledChange,
    Stall,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def trialing(**changes: object) -> CustomerState:
    state = CustomerState(
        customer_id="c1",
        status=Status.TRIALING,
        plan="starter",
        signed_up_at=T0,
        trial_ends_at=T0 + 14 * DAY,
        trial_planned_from=T0,
    )
    for name, value in changes.items():
        setattr(state, name, value)
    return state


def active(**changes: object) -> CustomerState:
    values: dict[str, object] = {
        "status": Status.ACTIVE,
        "plan": "pro",
        "interval": BillingInterval.MONTH,
        "current_period_start": T0,
        "current_period_end": T0 + 31 * DAY,
        "subscription_id": "sub_1",
    }
    return trialing(**{**values, **changes})


def test_trial_timetable_in_order(engine_config: EngineConfig) -> None:
    policy = make_policy(engine_config)
    due = timetable.pending(trialing(), policy)
    assert [(d.key.split(":")[0], (d.at - T0) / DAY) for d in due] == [
        ("trial_reminder", 7),
        ("trial_reminder", 11),
        ("trial_reminder", 13),
        ("trial_expired", 14),
    ]
    assert timetable.next_due(trialing(done=[due[0].key]), policy) == due[1]


def test_expired_trial_has_only_winbacks(engine_config: EngineConfig) -> None:
    due = timetable.pending(trialing(status=Status.TRIAL_EXPIRED), make_policy(engine_config))
    assert [d.trial.step.value for d in due if d.trial] == ["trial_winback", "trial_winback"]


def test_period_end_only_when_something_takes_effect(engine_config: EngineConfig) -> None:
    policy = make_policy(engine_config)
    assert timetable.pending(active(), policy) == []
    [due] = timetable.pending(active(cancel_at_period_end=True), policy)
    assert (due.kind, due.at) == (DueKind.PERIOD_END, T0 + 31 * DAY)
    change = ScheduledChange("starter", BillingInterval.MONTH, T0 + 31 * DAY)
    assert timetable.pending(active(scheduled_change=change), policy)[0].kind is DueKind.PERIOD_END


def test_a_stalled_step_waits_for_its_next_attempt(engine_config: EngineConfig) -> None:
    policy = make_policy(engine_config)
    dunning = Dunning(invoice_id="in_1", started_at=T0, attempts=1, next_retry_at=T0 + DAY)
    state = active(status=Status.PAST_DUE, dunning=dunning)
    [due] = timetable.pending(state, policy)
    assert (due.kind, due.at) == (DueKind.DUNNING_RETRY, T0 + DAY)
    later = T0 + DAY + timedelta(minutes=4)
    state.stalled[due.key] = Stall(due.key, T0 + DAY, 3, later, "provider down")
    assert timetable.next_due(state, policy) == timetable.Due(due.key, later, due.kind)
    assert timetable.needs_attention(state, policy)
    # Recovered another way: the stalled step is gone, and so is the attention flag.
    state.status, state.dunning = Status.ACTIVE, None
    assert not timetable.needs_attention(state, policy)
    timetable.prune(state, policy)
    assert state.stalled == {}


def test_the_final_action_is_a_step_of_its_own(engine_config: EngineConfig) -> None:
    dunning = Dunning("in_1", T0, attempts=5, next_retry_at=None, final_action_at=T0 + 7 * DAY)
    [due] = timetable.pending(
        active(status=Status.PAST_DUE, dunning=dunning), make_policy(engine_config)
    )
    assert (due.kind, due.key, due.at) == (
        DueKind.DUNNING_FINAL,
        "dunning_final:in_1",
        T0 + 7 * DAY,
    )


def test_a_resync_is_due_while_an_event_could_not_be_applied(engine_config: EngineConfig) -> None:
    state = active()
    state.stalled[RESYNC_KEY] = Stall(RESYNC_KEY, T0, 1, T0 + timedelta(minutes=1), "down")
    [due] = timetable.pending(state, make_policy(engine_config))
    assert (due.kind, due.at) == (DueKind.RESYNC, T0 + timedelta(minutes=1))


def test_prune_keeps_only_what_the_timetable_can_produce(engine_config: EngineConfig) -> None:
    policy = make_policy(engine_config)
    state = trialing()
    first = timetable.pending(state, policy)[0].key
    state.done = [first, "period_end:2025-01-01T00:00:00+00:00", "dunning_retry:old:2:x"]
    timetable.prune(state, policy)
    assert state.done == [first]
    state.status = Status.ACTIVE
    timetable.prune(state, policy)
    assert state.done == []


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [timetable.backoff(n) / timedelta(minutes=1) for n in (1, 2, 3, 7, 8, 20)] == [
        1,
        2,
        4,
        60,
        60,
        60,
    ]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (T0 + DAY + timedelta(minutes=1), (1, T0 + 3 * DAY)),  # on schedule: the next one
        (T0 + 4 * DAY, (2, T0 + 5 * DAY)),  # retries 1 and 3 days missed: one catch-up
        (T0 + 8 * DAY, (4, None)),  # every retry missed: the final action follows
    ],
)
def test_missed_dunning_retries_collapse(now: datetime, expected: tuple[int, object]) -> None:
    retries = (DAY, 3 * DAY, 5 * DAY, 7 * DAY)
    assert timetable.next_retry_after(T0, retries, 0, now) == expected


def test_usage_notices_keep_each_metrics_latest_period() -> None:
    state = trialing()
    march, april = T0 + 59 * DAY, T0 + 90 * DAY
    state.usage_notified = [
        notice_key("messages", march, 80),
        notice_key("messages", march, 100),
        notice_key("tokens", march, 80),
        notice_key("messages", april, 80),
    ]
    keep_latest_period(state, "messages")
    assert state.usage_notified == [
        notice_key("tokens", march, 80),
        notice_key("messages", april, 80),
    ]


# -- which commands a state allows -----------------------------------------------------------


def test_change_rules(engine_config: EngineConfig) -> None:
    catalog = engine_config.catalog
    change = ChangeSubscription(plan="pro", interval=BillingInterval.MONTH, actor="a")
    checks.check_change(trialing(), catalog, change)
    with pytest.raises(TransitionRefused, match="already on pro/month"):
        checks.check_change(active(), catalog, change)
    with pytest.raises(TransitionRefused, match="unknown plan"):
        checks.check_change(
            trialing(), catalog, ChangeSubscription("gold", BillingInterval.MONTH, "a")
        )
    with pytest.raises(TransitionRefused, match="sales-led"):
        checks.check_change(
            trialing(), catalog, ChangeSubscription("enterprise", BillingInterval.MONTH, "a")
        )
    # Terms the workflow has yet to load: the plan is checked later, the status now.
    checks.check_change(trialing(), None, ChangeSubscription("gold", BillingInterval.MONTH, "a"))
    with pytest.raises(TransitionRefused, match="paused"):
        checks.check_change(active(status=Status.PAUSED), None, change)


def test_cancel_pause_and_extension_rules() -> None:
    with pytest.raises(TransitionRefused, match="already scheduled"):
        checks.check_cancel(active(cancel_at_period_end=True), CancelSubscription(actor="a"))
    checks.check_cancel(active(status=Status.PAUSED), CancelSubscription("a", at_period_end=False))
    with pytest.raises(TransitionRefused, match="in the future"):
        checks.check_pause(active(), PauseSubscription("a", resumes_at=T0), T0 + DAY)
    with pytest.raises(TransitionRefused, match="between 1 and 90"):
        checks.check_extension(trialing(), ExtendTrial(days=91, reason="x"))
    with pytest.raises(TransitionRefused, match="reason"):
        checks.check_extension(trialing(), ExtendTrial(days=3, reason="  "))
    with pytest.raises(TransitionRefused, match="reactivate"):
        checks.check_reactivate(active())


def test_addon_rules(engine_config: EngineConfig) -> None:
    catalog = engine_config.catalog
    checks.check_addon(active(), catalog, PurchaseAddon("extra_chatbot", 2, "a"))
    with pytest.raises(TransitionRefused, match="bought once"):
        checks.check_addon(
            active(addons={"branding_removal": 1}),
            catalog,
            PurchaseAddon("branding_removal", 1, "a"),
        )
    with pytest.raises(TransitionRefused, match="unknown add-on"):
        checks.check_addon(active(), catalog, PurchaseAddon("nope", 1, "a"))
