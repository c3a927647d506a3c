"""Custom search attributes that let admins find customers in the Temporal Web UI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
LIFECYCLE_STATUS = SearchAttributeKey.for_keyword("LifecycleStatus")
PLAN_ID = SearchAttributeKey.for_keyword("PlanId")
TRIAL_ENDS_AT = SearchAttributeKey.for_datetime("TrialEndsAt")
# A timed step or provider event keeps failing for a reason other than the card.
NEEDS_ATTENTION = SearchAttributeKey.for_bool("NeedsAttention")
# The latest churn score's band (low / medium / high), set by the daily churn run.
CHURN_RISK = SearchAttributeKey.for_keyword("ChurnRisk")

ALL: tuple[SearchAttributeKey, ...] = (
    CUSTOMER_ID,
    LIFECYCLE_STATUS,
    PLAN_ID,
    TRIAL_ENDS_AT,
    NEEDS_ATTENTION,
    CHURN_RISK,
)


def cli_flags() -> list[str]:
    """``--search-attribute Name=Type`` flags for ``temporal server start-dev``."""
    kinds = {
        CUSTOMER_ID: "Keyword",
        LIFECYCLE_STATUS: "Keyword",
        PLAN_ID: "Keyword",
        NEEDS_ATTENTION: "Bool",
        CHURN_RISK: "Keyword",
    }
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={kinds.get(key, 'Datetime')}"]
    return flags
