"""The customer's stored billing address, copied onto the provider customer, where its
invoices show it.

The API (an address change, a customer created for Checkout) and the billing activities
(a customer created for the first subscription) all copy it; one key rule keeps a retried
write one provider call whoever makes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.payments.base import PaymentGateway
from domain.payments import Address
from domain.provider_keys import address_key


async def sync_billing_address(
    gateway: PaymentGateway,
    provider_customer_id: str,
    *,
    customer_id: str,
    address: dict[str, Any],
    stored_at: datetime,
) -> None:
    """Set ``address``, as stored for the customer at ``stored_at``, on the provider."""
    await gateway.update_customer(
        provider_customer_id,
        idempotency_key=address_key(customer_id, address, stored_at),
        address=Address(**address),
    )
