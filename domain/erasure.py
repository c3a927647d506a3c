"""How an erased customer is recognised.

Erasure keeps the customer row under its random id, the pseudonym that keeps invoices and
the ledger meaningful, and replaces the caller's ``external_id`` with a marker built from
that id: the column stays unique and non-null, and the marker says the erasure happened.
"""

from __future__ import annotations

_ERASED_PREFIX = "erased:"


def erased_external_id(customer_id: str) -> str:
    """The ``external_id`` an erased customer keeps."""
    return f"{_ERASED_PREFIX}{customer_id}"


def is_erased(customer_id: str, external_id: str) -> bool:
    """Whether the customer ``customer_id`` with this ``external_id`` was erased."""
    return external_id == erased_external_id(customer_id)
