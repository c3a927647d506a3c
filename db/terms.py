"""The terms store: each policy-and-catalog document once, under its digest."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TermsVersion
from db.writes import insert_ignoring_conflict
from domain.terms import Terms

_ADAPTER: TypeAdapter[Terms] = TypeAdapter(Terms)


def terms_document(terms: Terms) -> dict[str, object]:
    document: dict[str, object] = _ADAPTER.dump_python(terms, mode="json")
    return document


def terms_version(terms: Terms) -> str:
    """The digest of the document: the same terms give the same version on every host."""
    canonical = json.dumps(terms_document(terms), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


async def register_terms(session: AsyncSession, terms: Terms) -> str:
    """Store the terms under their version if new; returns the version."""
    version = terms_version(terms)
    await insert_ignoring_conflict(
        session,
        TermsVersion,
        {"version": version, "document": terms_document(terms), "created_at": datetime.now(UTC)},
        on=["version"],
    )
    return version


async def load_terms(session: AsyncSession, version: str) -> Terms | None:
    row = await session.get(TermsVersion, version)
    return None if row is None else _ADAPTER.validate_python(row.document)
