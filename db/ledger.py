"""The append-only, hash-chained ledger.

Every row carries the hash of the row before it and its own hash over its content, so
changing or removing a row breaks the chain from there on (``lifecycle audit verify``).
PostgreSQL refuses UPDATE and DELETE on the table (a trigger); appends are serialized so
the chain stays a single line.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import dialect_of
from db.models import EmailOutbox, LedgerEvent

GENESIS_HASH = "0" * 64
# Rows that record what happened around the lifecycle (for audit) rather than a change of it.
AUDIT_KINDS = frozenset(
    {"email_sent", "webhook_received", "invoice_paid", "charge_refunded", "payment_disputed"}
)
# pg_advisory_xact_lock key serializing appends (any constant unique to this table).
_LEDGER_LOCK = 7_462_551_009

HASHED_FIELDS = (
    "event_key",
    "customer_id",
    "kind",
    "actor",
    "from_status",
    "to_status",
    "plan",
    "interval",
    "mrr_delta_cents",
    "data",
    "occurred_at",
    "recorded_at",
)


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def row_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    content = json.dumps(
        {name: _canonical(fields.get(name)) for name in HASHED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


async def append_ledger(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Append one row (idempotent by ``event_key``) inside the caller's transaction.

    ``values`` holds the model's columns except id and the hashes. Returns whether the row
    was new. Concurrent appenders queue on a transaction-scoped lock, so the caller should
    commit soon after.
    """
    if dialect_of(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LEDGER_LOCK})
    # On SQLite every transaction holds the database's write lock from its start
    # (db.engine: BEGIN IMMEDIATE), which serializes appends already.
    return await _append(session, values)


async def _append(session: AsyncSession, values: dict[str, Any]) -> bool:
    existing = await session.scalar(
        select(LedgerEvent.id).where(LedgerEvent.event_key == values["event_key"])
    )
    if existing is not None:
        return False
    prev = await session.scalar(select(LedgerEvent.hash).order_by(LedgerEvent.id.desc()).limit(1))
    prev_hash = prev or GENESIS_HASH
    session.add(LedgerEvent(**values, prev_hash=prev_hash, hash=row_hash(prev_hash, values)))
    await session.flush()
    return True


@dataclass(frozen=True)
class BrokenLink:
    id: int
    event_key: str
    problem: str


@dataclass(frozen=True)
class ChainReport:
    rows: int
    broken: BrokenLink | None


async def _rows(session: AsyncSession, batch: int = 5000) -> AsyncIterator[LedgerEvent]:
    last_id = 0
    while True:
        chunk = list(
            await session.scalars(
                select(LedgerEvent)
                .where(LedgerEvent.id > last_id)
                .order_by(LedgerEvent.id)
                .limit(batch)
            )
        )
        if not chunk:
            return
        for row in chunk:
            yield row
        last_id = chunk[-1].id


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Walk the chain from the start; report the first row whose link or content is off."""
    expected_prev = GENESIS_HASH
    count = 0
    async for row in _rows(session):
        count += 1
        if row.prev_hash != expected_prev:
            return ChainReport(
                count,
                BrokenLink(row.id, row.event_key, "prev_hash does not match the row before"),
            )
        fields = {name: getattr(row, name) for name in HASHED_FIELDS}
        if row.hash != row_hash(row.prev_hash, fields):
            return ChainReport(
                count, BrokenLink(row.id, row.event_key, "content does not match its hash")
            )
        expected_prev = row.hash
    return ChainReport(count, None)


CSV_COLUMNS = (
    "id",
    "occurred_at",
    "recorded_at",
    "customer_id",
    "kind",
    "actor",
    "from_status",
    "to_status",
    "plan",
    "interval",
    "mrr_delta_cents",
    "data",
    "event_key",
    "prev_hash",
    "hash",
)


def ledger_query(*, customer_id: str | None = None, since: datetime | None = None) -> Select[Any]:
    query = select(LedgerEvent)
    if customer_id is not None:
        query = query.where(LedgerEvent.customer_id == customer_id)
    if since is not None:
        query = query.where(LedgerEvent.occurred_at >= since)
    return query.order_by(LedgerEvent.id)


async def write_csv(
    session: AsyncSession,
    handle: TextIO,
    *,
    customer_id: str | None = None,
    since: datetime | None = None,
) -> int:
    writer = csv.writer(handle)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in await session.scalars(ledger_query(customer_id=customer_id, since=since)):
        values = {name: getattr(row, name) for name in CSV_COLUMNS}
        values["data"] = json.dumps(row.data, sort_keys=True)
        writer.writerow([v.isoformat() if isinstance(v, datetime) else v for v in values.values()])
        count += 1
    return count


def email_sent_entry(
    row: EmailOutbox, *, occurred_at: datetime, recorded_at: datetime
) -> dict[str, Any]:
    """The audit row of an email sent: the template and the send, never the address."""
    return {
        "event_key": f"email:{row.idempotency_key}",
        "customer_id": row.customer_id,
        "kind": "email_sent",
        "actor": "system",
        "from_status": None,
        "to_status": None,
        "plan": None,
        "interval": None,
        "mrr_delta_cents": 0,
        "data": {"template": row.template, "outbox_id": row.id, "provider": row.provider},
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
    }


async def latest_entry_time(session: AsyncSession) -> datetime | None:
    """When the newest ledger entry happened (None: an empty ledger)."""
    latest: datetime | None = await session.scalar(select(func.max(LedgerEvent.occurred_at)))
    return latest
