"""Generated customers for the segment and campaign tests: read-model rows with churn
scores, usage groups, usage trends and billing countries, written in bulk, with a planted
segment whose members are known exactly."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from db.engine import SessionFactory
from db.models import ChurnScore, Customer, CustomerUsageGroup, CustomerUsageTrend
from domain.growth.segments import SegmentRules

# The planted segment: what its members share, and nobody else has all of.
PLANTED = SegmentRules(
    plans=("pro",),
    statuses=("active",),
    churn_risks=("high",),
    usage_trends=("declining",),
    usage_groups=(2,),
    min_tenure_days=60,
    max_tenure_days=400,
    countries=("DE",),
)
_PLANS = ("starter", "pro")
_STATUSES = ("trialing", "trial_expired", "active", "past_due", "paused", "canceled")
_RISKS = ("low", "medium", "high", None)
_TRENDS = ("growing", "flat", "declining", "unknown", None)
_COUNTRIES = ("DE", "de", "FR", "US", None)


@dataclass(frozen=True)
class Population:
    planted: set[str]
    everyone: list[str]


def _planted_row(now: datetime, rng: random.Random) -> dict[str, Any]:
    return {
        "plan": "pro",
        "status": "active",
        "risk": "high",
        "group": 2,
        "trend": "declining",
        "country": rng.choice(("DE", "de")),
        "created_at": now - timedelta(days=rng.randint(60, 400), hours=1),
    }


def _random_row(now: datetime, rng: random.Random) -> dict[str, Any]:
    row: dict[str, Any] = {
        "plan": rng.choice(_PLANS),
        "status": rng.choice(_STATUSES),
        "risk": rng.choice(_RISKS),
        "group": rng.choice((0, 1, 2, None)),
        "trend": rng.choice(_TRENDS),
        "country": rng.choice(_COUNTRIES),
        "created_at": now - timedelta(days=rng.randint(0, 700), hours=1),
    }
    matches = (
        row["plan"] == "pro"
        and row["status"] == "active"
        and row["risk"] == "high"
        and row["group"] == 2
        and row["trend"] == "declining"
        and (row["country"] or "").upper() == "DE"
        and 60 <= (now - row["created_at"]).days <= 400
    )
    if matches:
        # One fact off: the planted segment stays exactly the planted customers.
        row[rng.choice(("plan", "status", "risk", "trend", "country"))] = None
        row["plan"] = row["plan"] or "starter"
        row["status"] = row["status"] or "canceled"
    return row


async def write_population(
    sessions: SessionFactory, *, size: int, planted: int, now: datetime, seed: int = 7
) -> Population:
    """``size`` customers, ``planted`` of them in ``PLANTED`` (and no one else)."""
    rng = random.Random(seed)
    planted_ids: set[str] = set()
    customers, scores, groups, trends = [], [], [], []
    for n in range(size):
        cid = str(uuid.UUID(int=rng.getrandbits(128)))
        row = _planted_row(now, rng) if n < planted else _random_row(now, rng)
        if n < planted:
            planted_ids.add(cid)
        customers.append(
            {
                "id": cid,
                "external_id": f"seg-{cid}",
                "email": None,
                "name": None,
                "status": row["status"],
                "plan": row["plan"],
                "interval": "month",
                "mrr_cents": 9900 if row["plan"] == "pro" else 2900,
                "billing_address": (
                    None if row["country"] is None else {"city": "X", "country": row["country"]}
                ),
                "cancel_at_period_end": False,
                "state_version": 1,
                "needs_attention": False,
                "created_at": row["created_at"],
                "updated_at": row["created_at"],
            }
        )
        if row["risk"] is not None:
            scores.append(
                {
                    "customer_id": cid,
                    "model_version": "seg-test",
                    "probability": 0.5,
                    "risk": row["risk"],
                    "reasons": [],
                    "scored_at": now,
                }
            )
        if row["group"] is not None:
            groups.append({"customer_id": cid, "group_id": row["group"]})
        if row["trend"] is not None:
            trends.append({"customer_id": cid, "trend": row["trend"], "computed_at": now})
    async with sessions.begin() as session:
        for model, rows in (
            (Customer, customers),
            (ChurnScore, scores),
            (CustomerUsageGroup, groups),
            (CustomerUsageTrend, trends),
        ):
            for start in range(0, len(rows), 2000):
                await session.execute(insert(model), rows[start : start + 2000])
    return Population(planted=planted_ids, everyone=[c["id"] for c in customers])
