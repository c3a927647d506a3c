"""The access review of API keys (issue 16 part 6): each key's state, age and whether it
has gone unused long enough to be flagged. Pure: the rows and the moment come in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class KeyFacts:
    id: str
    name: str
    scope: str
    # "database" (lifecycle keys create) or "environment" (LIFECYCLE_*_API_KEYS).
    source: str
    created_by: str | None
    created_at: datetime | None
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class ReviewedKey:
    facts: KeyFacts
    status: str  # active | expired | revoked
    age_days: int | None
    unused: bool
    # Why it is flagged, in words; empty when it is not.
    flags: tuple[str, ...]


def status_of(facts: KeyFacts, now: datetime) -> str:
    if facts.revoked_at is not None:
        return "revoked"
    if facts.expires_at is not None and facts.expires_at <= now:
        return "expired"
    return "active"


def review(keys: list[KeyFacts], now: datetime, unused_days: int) -> list[ReviewedKey]:
    """Flag live keys never used or not used for ``unused_days`` (a key younger than that
    is not flagged for never having been used: it may not be deployed yet), keys with
    no expiry and environment keys (they can neither expire nor be revoked here)."""
    window = timedelta(days=unused_days)
    reviewed = []
    for facts in keys:
        status = status_of(facts, now)
        age = (now - facts.created_at).days if facts.created_at else None
        flags: list[str] = []
        unused = False
        if status == "active":
            if facts.last_used_at is None:
                unused = facts.created_at is not None and now - facts.created_at >= window
                if unused:
                    flags.append(f"never used in {age} days")
            elif now - facts.last_used_at >= window:
                unused = True
                flags.append(f"not used for {(now - facts.last_used_at).days} days")
            if facts.source == "environment":
                flags.append("set in the environment: rotate by redeploying")
            elif facts.expires_at is None:
                flags.append("no expiry")
        reviewed.append(ReviewedKey(facts, status, age, unused, tuple(flags)))
    return reviewed
