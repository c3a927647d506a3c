"""Which lifecycle commands each state accepts, and what kind of plan change a request is."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.catalog import Catalog
from domain.lifecycle import BillingInterval, Status, TransitionRefused


class ChangeKind(StrEnum):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"


@dataclass(frozen=True)
class PlanChoice:
    plan: str
    interval: BillingInterval


def classify_change(
    catalog: Catalog,
    current: PlanChoice,
    wanted: PlanChoice,
    *,
    current_catalog: Catalog | None = None,
) -> ChangeKind:
    """Upgrades apply now, downgrades at period end.

    A dearer plan is an upgrade; a cheaper one a downgrade whatever the interval. On the
    same plan, moving to annual billing is an upgrade (it is charged now) and back to
    monthly a downgrade, although annual's monthly equivalent is lower. The current plan's
    price comes from ``current_catalog`` when the change moves to another catalog.
    """
    old = (current_catalog or catalog).plan(current.plan).monthly_price_cents or 0
    new = catalog.plan(wanted.plan).monthly_price_cents or 0
    if new != old:
        return ChangeKind.UPGRADE if new > old else ChangeKind.DOWNGRADE
    if wanted.interval is BillingInterval.YEAR and current.interval is BillingInterval.MONTH:
        return ChangeKind.UPGRADE
    return ChangeKind.DOWNGRADE


# The states a customer subscribes from (a first subscription, not a plan change): the
# API's Checkout and preview and the workflow's commands all ask this one set.
SUBSCRIBABLE = frozenset({Status.TRIALING, Status.TRIAL_EXPIRED, Status.CANCELED})


def require_subscribable_plan(catalog: Catalog, plan_id: str) -> None:
    plan = catalog.plans.get(plan_id)
    if plan is None:
        raise TransitionRefused(f"unknown plan {plan_id!r}")
    if not plan.self_serve:
        raise TransitionRefused(f"plan {plan_id!r} is sales-led; contact sales to subscribe")


def require_status(status: Status, allowed: frozenset[Status] | set[Status], action: str) -> None:
    if status not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise TransitionRefused(
            f"cannot {action} while the customer is {status.value} (allowed from: {names})",
            status=status,
        )
