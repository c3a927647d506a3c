"""Every saved history still replays on today's workflow code, in both sandboxes: the
strict one (workflow modules re-imported per run, forbidden calls trapped) and the one
the worker process runs (workflow modules loaded once)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.temporal import DATA_CONVERTER
from tests.factories.histories import saved_histories
from workers.tuning import PRODUCTION_RUNNER, STRICT_RUNNER
from workflows.customer import GENERATION, CustomerWorkflow

SAVED = saved_histories()
RUNNERS = {"strict": STRICT_RUNNER, "production": PRODUCTION_RUNNER}


def test_histories_are_saved() -> None:
    assert SAVED, "no saved histories; record them with LIFECYCLE_RECORD_HISTORIES=<generation>"


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("path", SAVED, ids=[f"{p.parent.name}/{p.stem}" for p in SAVED])
async def test_saved_history_replays(path: Path, runner: str) -> None:
    history = WorkflowHistory.from_json(f"customer-{path.stem}", path.read_text())
    replayer = Replayer(
        workflows=[CustomerWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=RUNNERS[runner],
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


# Every path a customer's workflow can take, each recorded in every generation.
PATHS = {
    "trial_to_winback",
    "trial_extended",
    "expired_trial_reopened",
    "trial_extended_by_signal",
    "conversion",
    "declined_conversion_generic_decline",
    "expired_trial_to_annual_with_winback",
    "upgrade_now",
    "downgrade_at_period_end",
    "cancel_now",
    "cancel_at_period_end",
    "cancel_then_reactivate",
    "pause_resume",
    "pause_until_date",
    "dunning_recovered_at_retry_2",
    "dunning_recovered_by_new_card",
    "dunning_paid_while_retry_in_flight",
    "dunning_exhausted_cancel",
    "dunning_exhausted_downgrade",
    "addon_recurring",
    "addon_message_pack",
    "addon_feature",
    "usage_thresholds",
    "erasure_during_welcome",
    "continue_as_new_first_run",
    "continue_as_new_last_run",
    "e2e_convert_upgrade_downgrade_renew_cancel",
    "e2e_dunning_retries_then_new_card",
}


# Paths that exist from a generation on (what the code of older ones did not do).
PATHS_SINCE = {
    2: {
        "provider_events_portal_changes",
        "provider_events_real_pause",
        "provider_events_dunning_invoice_void",
        "provider_events_dunning_invoice_uncollectible",
        "provider_events_action_required",
        "provider_events_involuntary_cancellation",
        "provider_events_checkout_bank_debit_settled",
        "provider_events_checkout_bank_debit_failed",
        "provider_events_any_order_dunning",
        "provider_events_any_order_portal_changes",
        "churn_risk_attribute",
        "save_flow_discount",
        "save_flow_pause_and_downgrade",
        "save_flow_trial_extended",
        "offer_sent_and_taken_at_conversion",
        "offer_not_sent",
        # tests/api/billing/test_regions.py: a new country's prices at the renewal.
        "region_repriced_at_renewal",
        # tests/api/webhooks/test_webhook_events.py: a SEPA Checkout, the customer told the
        # payment is under way, then the debit collected or returned.
        "checkout_sepa_debit_settled",
        "checkout_sepa_debit_failed",
        # tests/api/webhooks/test_authentication_decline.py: a 3-D Secure decline asks
        # for confirmation once, with or without invoice.payment_action_required, in any order.
        "provider_events_authentication_decline_alone",
        "provider_events_authentication_event_first",
        # tests/api/billing/test_trial_currency_checkout.py: a trial's new currency charged
        # in Checkout, the MRR in it.
        "checkout_after_trial_currency_change",
        # Patch 2026-12-confirmation-reminder-on-retry, and the plan change that compares
        # the current plan in the currency billed since a currency-changing Checkout.
        "dunning_retry_reminds_confirmation",
        "downgrade_after_trial_currency_change",
    }
}


def _paths(generation: int) -> set[str]:
    return PATHS.union(*(paths for since, paths in PATHS_SINCE.items() if generation >= since))


@pytest.mark.parametrize("generation", sorted({p.parent.name for p in SAVED}))
def test_every_generation_covers_every_path(generation: str) -> None:
    recorded = {p.stem for p in SAVED if p.parent.name == generation}
    wanted = _paths(int(generation.removeprefix("v")))
    assert recorded >= wanted, sorted(wanted - recorded)


def test_the_current_generation_is_recorded() -> None:
    """A generation's code starts every new run: its paths must replay from day one."""
    assert f"v{GENERATION}" in {p.parent.name for p in SAVED}, (
        f"record generation {GENERATION}: LIFECYCLE_RECORD_HISTORIES=v{GENERATION} make pytest"
    )
