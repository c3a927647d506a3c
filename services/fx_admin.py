"""Storing exchange rates as an admin act (``PUT /v1/admin/fx-rates``, ``lifecycle fx
load``): the rates and the ledger row saying who stored which, in one transaction.

Rates never charge anyone, but every report across currencies is computed with them, so
a change of them is a money-relevant change an auditor must be able to trace.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from db.engine import SessionFactory
from db.fx_rates import stored_rates, upsert_rates
from db.ledger import append_ledger
from domain.reporting.currencies import Rate

FX_RATES_SET = "fx_rates_set"


def _digest(rates: list[Rate]) -> str:
    content = "\n".join(
        f"{r.day.isoformat()},{r.currency.lower()},{r.base.lower()},{r.rate}" for r in rates
    )
    return hashlib.sha256(content.encode()).hexdigest()


async def store_rates_recorded(
    sessions: SessionFactory, rates: list[Rate], *, actor: str, source: str, now: datetime
) -> int:
    """Store ``rates`` (a stored rate of the same day, currency and base is replaced) and
    the ledger row of the change; returns how many rates were written."""
    async with sessions.begin() as session:
        before = {
            (r.day, r.currency, r.base): r.rate
            for currency in sorted({r.currency for r in rates})
            for r in await stored_rates(session, currency)
        }
        stored = await upsert_rates(session, rates, now=now)
        keys = [(r.day, r.currency.lower(), r.base.lower()) for r in rates]
        replaced = [k for k in dict.fromkeys(keys) if k in before]
        changed = [r for r, k in zip(rates, keys, strict=True) if before.get(k, r.rate) != r.rate]
        digest = _digest(rates)
        await append_ledger(
            session,
            {
                "event_key": f"{FX_RATES_SET}:{now.isoformat()}:{digest[:16]}",
                "customer_id": None,
                "kind": FX_RATES_SET,
                "actor": actor,
                "from_status": None,
                "to_status": None,
                "plan": None,
                "interval": None,
                "mrr_delta_cents": 0,
                "data": {
                    "source": source,
                    "rates": stored,
                    "new": len(set(keys)) - len(replaced),
                    "replaced": len(replaced),
                    "changed": len(changed),
                    "currencies": sorted({r.currency.lower() for r in rates}),
                    "bases": sorted({r.base.lower() for r in rates}),
                    "first_date": min(r.day for r in rates).isoformat() if rates else None,
                    "last_date": max(r.day for r in rates).isoformat() if rates else None,
                    # The exact rates are in fx_rates; the digest ties this row to them.
                    "sha256": digest,
                },
                "occurred_at": now,
                "recorded_at": now,
            },
        )
    return stored
