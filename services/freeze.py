"""The money-movement freeze (issue 16 part 7): one flag in the database that stops every
money movement the engine starts, without losing any.

- The API answers 503 to the commands that move money (api/security/freeze.py).
- The worker's payment activities find the flag before charging and fail retryably
  (activities/money_freeze.py): a timed charge (a dunning retry, a scheduled conversion)
  stalls and is tried again on the workflow's backoff, with the same idempotency key, and
  goes through once the freeze is lifted.
- Throwing it is recorded in the ledger (an auditor sees when money stopped and why) and
  in the security log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.clock import utcnow
from db.engine import SessionFactory
from db.kill_switches import MONEY_MOVEMENT, set_switch, switch
from db.ledger import append_ledger
from db.security_events import append_security_event
from services.security import FREEZE_CHANGED


@dataclass(frozen=True)
class FreezeState:
    active: bool
    reason: str | None
    actor: str | None
    changed_at: datetime | None


async def freeze_state(sessions: SessionFactory) -> FreezeState:
    async with sessions() as session:
        found = await switch(session, MONEY_MOVEMENT)
    if found is None:
        return FreezeState(False, None, None, None)
    return FreezeState(found.active, found.reason, found.actor, found.changed_at)


async def set_freeze(
    sessions: SessionFactory, *, active: bool, reason: str, actor: str
) -> FreezeState:
    now = utcnow()
    async with sessions.begin() as session:
        before = await set_switch(
            session, MONEY_MOVEMENT, active=active, reason=reason, actor=actor, now=now
        )
        kind = "money_frozen" if active else "money_unfrozen"
        data = {"reason": reason, "was_frozen": before}
        await append_ledger(
            session,
            {
                "event_key": f"{kind}:{now.isoformat()}",
                "customer_id": None,
                "kind": kind,
                "actor": actor,
                "from_status": None,
                "to_status": None,
                "plan": None,
                "interval": None,
                "mrr_delta_cents": 0,
                "data": data,
                "occurred_at": now,
                "recorded_at": now,
            },
        )
        await append_security_event(
            session,
            kind=FREEZE_CHANGED,
            occurred_at=now,
            actor=actor,
            detail={"active": active, **data},
        )
    return FreezeState(active, reason, actor, now)
