"""Fixtures of the admin, audit and GDPR tests: a database of their own when a test
tampers with it or needs exact counts, and the app plus a real worker on the dev server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from db.engine import SessionFactory, create_engine, session_factory
from tests.conftest import create_database, drop_database


@dataclass(frozen=True)
class Database:
    url: str
    sessions: SessionFactory


@pytest.fixture
async def own_database(pg_admin_url: str) -> AsyncIterator[Database]:
    """A fresh, migrated database for one test (tampering, exact counts, purges)."""
    url = await create_database(pg_admin_url, prefix="lc_admin")
    engine = create_engine(url)
    try:
        yield Database(url=url, sessions=session_factory(engine))
    finally:
        await engine.dispose()
        await drop_database(pg_admin_url, url)
