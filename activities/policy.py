"""The terms a workflow runs on: by version (stored once per version), or today's.

``terms`` is what customer workflows call, once per run, as a local activity: versions
never change, so each is read from the database once per worker process. ``current_terms``
re-reads the configuration file; runs started before terms had versions called it at
continue-as-new, and the retention purge still reads today's retention settings with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.config import ConfigError
from db.engine import SessionFactory
from db.terms import load_terms
from domain.terms import Terms

__all__ = ["PolicyActivities", "Terms"]

TERMS_UNKNOWN = "TermsUnknown"
CONFIG_INVALID = "ConfigInvalid"


class PolicyActivities:
    def __init__(
        self, load_current: Callable[[], Awaitable[Terms]], sessions: SessionFactory
    ) -> None:
        self._load_current = load_current
        self._sessions = sessions
        self._by_version: dict[str, Terms] = {}

    @activity.defn(name="current_terms")
    async def current_terms(self) -> Terms:
        try:
            return await self._load_current()
        except ConfigError as exc:
            # Not retried: the file stays wrong until an operator fixes it; the caller
            # (the retention purge) fails visibly and its Schedule runs it again later.
            raise ApplicationError(str(exc), type=CONFIG_INVALID, non_retryable=True) from exc

    @activity.defn(name="terms")
    async def terms(self, version: str) -> Terms:
        found = self._by_version.get(version)
        if found is None:
            async with self._sessions() as session:
                found = await load_terms(session, version)
            if found is None:
                # Retried: the API registers a version before any workflow names it, so
                # this is a database restored from an older backup; an operator must look.
                raise ApplicationError(
                    f"terms version {version!r} is not stored", type=TERMS_UNKNOWN
                )
            self._by_version[version] = found
        return found
