"""Idempotency keys for provider calls made outside a workflow (the API, activities).

Stripe keeps a key's first answer for 24 hours and refuses keys over 255 characters. A key
must therefore name one intent exactly: the same intent retried gets the same key, and a
new intent never reuses an old one within the day (setting address A, then B, then A
again must reach Stripe three times).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:24]


def _stamp(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def provider_customer_key(customer_id: str) -> str:
    """Creating the customer's provider customer: one intent for the customer's lifetime,
    so the API (Checkout, the portal) and the workflow's activity get the same customer."""
    return f"{customer_id}:provider_customer"


def address_key(customer_id: str, address: dict[str, Any], stored_at: datetime) -> str:
    """One address as stored at one moment: a retry of that write repeats the key, a later
    write of the same address (A -> B -> A) does not."""
    return f"{customer_id}:address:{_digest(address)}:{_stamp(stored_at)}"


def checkout_key(
    customer_id: str, plan: str, interval: str, return_url: str, customer_as_of: datetime
) -> str:
    """A Checkout session for one plan while the customer is unchanged: a double click gets
    the same session; after any change (a conversion, a cancellation) a new one. The return
    URL is digested, since URLs have no length limit and keys do."""
    return (
        f"{customer_id}:checkout:{plan}:{interval}:{_digest(return_url)}:{_stamp(customer_as_of)}"
    )
