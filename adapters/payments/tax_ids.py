"""The customer's stored tax ids copied onto the provider customer (Stripe's ``tax_ids``),
where Stripe Tax and the invoices read them.

The API (a changed set) and the billing activity (a provider customer created after the
ids were given) both copy them; each id's key is its row's id, never reused, so a retried
copy replays the provider's first answer and an id removed and given again is a new one.
"""

from __future__ import annotations

from adapters.payments.base import PaymentGateway
from db.engine import SessionFactory
from db.tax_ids import set_provider_tax_id, tax_ids_of


async def sync_tax_ids(
    gateway: PaymentGateway,
    sessions: SessionFactory,
    *,
    customer_id: str,
    provider_customer_id: str,
) -> None:
    """Add to the provider every stored id it does not hold yet."""
    async with sessions() as session:
        pending = [row for row in await tax_ids_of(session, customer_id) if not row.provider_tax_id]
    for row in pending:
        provider_id = await gateway.add_tax_id(
            provider_customer_id, row.type, row.value, idempotency_key=f"tax-id:{row.id}"
        )
        async with sessions.begin() as session:
            await set_provider_tax_id(session, row.id, provider_id)
