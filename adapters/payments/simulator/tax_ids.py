"""Customers' TaxIds, as ``POST`` and ``DELETE /v1/customers/{id}/tax_ids`` keep them:
validated (Stripe refuses a malformed number with ``tax_id_invalid``), rendered as Stripe's
TaxId object and read by every invoice finalized afterwards."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments.base import PaymentRequestRejected
from adapters.payments.simulator import render
from adapters.payments.simulator.core import Outcome, SimulatorCore, new_id
from adapters.payments.simulator.taxes import tax_id_object, unix
from domain.tax.tax_ids import InvalidTaxId, validate_tax_id


class TaxIdsMixin(SimulatorCore):
    async def add_tax_id(
        self, provider_customer_id: str, type_: str, value: str, *, idempotency_key: str
    ) -> str:
        try:
            valid = validate_tax_id(type_, value)
        except InvalidTaxId as exc:
            raise PaymentRequestRejected(str(exc), code="tax_id_invalid") from None

        async def effect(session: AsyncSession) -> Outcome:
            customer = await self._lock_customer(session, provider_customer_id)
            now = self._now(customer)
            stored = {
                "id": new_id("txi"),
                "type": valid.type,
                "value": valid.value,
                "country": valid.country,
                "created": unix(now),
            }
            customer.tax_ids = [*(customer.tax_ids or []), stored]
            obj = tax_id_object(stored, customer.id)
            self._emit(session, customer, "customer.tax_id.created", obj, now)
            self._emit(session, customer, "customer.updated", render.customer(customer), now)
            return Outcome(obj)

        params = {"customer": provider_customer_id, "type": type_, "value": valid.value}
        obj = await self._idempotent(idempotency_key, "add_tax_id", params, effect)
        return str(obj["id"])

    async def delete_tax_id(self, provider_customer_id: str, tax_id: str) -> None:
        async with self._sessions.begin() as session:
            customer = await self._lock_customer(session, provider_customer_id)
            gone = next((t for t in customer.tax_ids or [] if t["id"] == tax_id), None)
            if gone is None:
                return  # deleted already: what was asked holds
            customer.tax_ids = [t for t in customer.tax_ids or [] if t["id"] != tax_id]
            obj = tax_id_object(gone, customer.id)
            self._emit(session, customer, "customer.tax_id.deleted", obj, self._now(customer))

    async def customer_tax_ids(self, provider_customer_id: str) -> list[dict[str, object]]:
        """The customer's TaxId objects (``GET /v1/customers/{id}/tax_ids``)."""
        async with self._sessions() as session:
            customer = await self._get_customer(session, provider_customer_id)
            return [tax_id_object(t, customer.id) for t in customer.tax_ids or []]
