"""When each stored API key was last used, recorded off the request path.

Authentication only notes the key in memory (a dict write); a loop of the API writes the
notes in one statement every few seconds, and a key is noted again only a minute after it
was last written: with a thousand requests a second on one key, that is one row update a
minute instead of a thousand a second, and none on the request's path (api/usage/hot.py
serves usage at rates where a write per request would dominate its cost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from db.api_keys import record_last_used
from db.engine import SessionFactory

log = logging.getLogger(__name__)


class KeyUseRecorder:
    def __init__(
        self, *, interval: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._noted: dict[str, float] = {}
        self._pending: dict[str, datetime] = {}

    def touch(self, key_id: str, now: datetime) -> None:
        """Note a use (on the request path: memory only)."""
        moment = self._clock()
        last = self._noted.get(key_id)
        if last is not None and moment - last < self._interval:
            return
        self._noted[key_id] = moment
        self._pending[key_id] = now

    @property
    def pending(self) -> dict[str, datetime]:
        return dict(self._pending)

    async def flush(self, sessions: SessionFactory) -> int:
        pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            async with sessions.begin() as session:
                await record_last_used(session, pending)
        except SQLAlchemyError:
            # Put them back (newer notes win): the next pass tries again.
            self._pending = {**pending, **self._pending}
            log.warning("could not record API keys' last use; retrying", exc_info=True)
            return 0
        return len(pending)

    async def run(self, sessions: SessionFactory, stop: asyncio.Event, every: float = 5.0) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            await self.flush(sessions)
