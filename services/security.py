"""Security events and the limit on failed authentication (issue 16 part 7).

The failed-authentication limit is kept in the process's memory: each API process counts
on its own (with N processes an address gets up to N times the allowance before all of
them refuse it) and forgets on restart. That bounds key guessing from one address at a
cost of nothing per good request; a shared limit belongs in front of the API (the load
balancer or WAF), which also sees attacks the API never parses.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from core.clock import utcnow
from db.engine import SessionFactory
from db.security_events import append_security_event

log = logging.getLogger(__name__)

# What the log records (the `kind` column).
AUTH_FAILED = "auth_failed"
AUTH_RATE_LIMITED = "auth_rate_limited"
WEBHOOK_FORGED = "webhook_forged"
KEY_CREATED = "api_key_created"
KEY_REVOKED = "api_key_revoked"
ADMIN_SIGN_IN = "admin_sign_in"
ADMIN_SIGN_IN_FAILED = "admin_sign_in_failed"
FREEZE_CHANGED = "money_freeze_changed"
WEBHOOK_SECRET_RETIRED = "webhook_secret_retired_used"


def key_prefix(presented: str | None) -> str | None:
    """Enough of a presented key to tell attempts apart, never enough to use it: keys made
    by `lifecycle keys create` start ``lc_<scope>_`` plus random text; of a short key
    (one set in the environment, or a near miss of it) at most a quarter is kept."""
    if not presented:
        return None
    return presented[: min(10, len(presented) // 4)] or None


async def record_security_event(
    sessions: SessionFactory,
    kind: str,
    *,
    actor: str | None = None,
    presented_key: str | None = None,
    client_ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event in its own transaction. A failure to log is logged, never raised:
    refusing a forged request must not turn into a 500 because the log is down."""
    try:
        async with sessions.begin() as session:
            await append_security_event(
                session,
                kind=kind,
                occurred_at=utcnow(),
                actor=actor,
                key_prefix=key_prefix(presented_key),
                client_ip=client_ip,
                detail=detail,
            )
    except SQLAlchemyError:
        log.error("security event %s not recorded", kind, exc_info=True)


class FailedAuthLimiter:
    """At most ``attempts`` failed authentications per address within ``window`` seconds;
    past that the address is refused for what remains of the window (429)."""

    def __init__(
        self,
        *,
        attempts: int = 20,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 100_000,
    ) -> None:
        self._attempts = attempts
        self._window = window
        self._clock = clock
        self._max = max_addresses
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, address: str | None) -> int | None:
        """Seconds the address must wait, or None when it may try."""
        if address is None or self._attempts <= 0:
            return None
        failures = self._failures.get(address)
        if not failures:
            return None
        now = self._clock()
        while failures and now - failures[0] >= self._window:
            failures.popleft()
        if len(failures) < self._attempts:
            if not failures:
                del self._failures[address]
            return None
        return max(1, math.ceil(self._window - (now - failures[0])))

    def failed(self, address: str | None) -> bool:
        """Count a failure; True when it is the one that reaches the limit."""
        if address is None or self._attempts <= 0:
            return False
        if address not in self._failures and len(self._failures) >= self._max:
            # A flood from many addresses: forget the oldest rather than grow without end.
            self._failures.pop(next(iter(self._failures)))
        failures = self._failures.setdefault(address, deque())
        failures.append(self._clock())
        while len(failures) > self._attempts:
            failures.popleft()
        return len(failures) == self._attempts
