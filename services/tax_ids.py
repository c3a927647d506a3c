"""A customer's tax ids (issue 15 part 3): the set is replaced as a whole, each id checked
for format and check digits (``domain.tax.tax_ids``) before anything is stored, and kept in
step with the provider customer, whose invoices print them and whose Stripe Tax treats
the buyer as a business (the EU's reverse charge)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.payments.base import PaymentGateway
from adapters.payments.tax_ids import sync_tax_ids
from core.clock import utcnow
from db.engine import SessionFactory
from db.models import Customer, CustomerTaxId
from db.tax_ids import add_tax_ids, remove_tax_ids, tax_ids_of
from domain.tax.tax_ids import InvalidTaxId, TaxId, validate_tax_id


class TaxIdRefused(ValueError):
    """The ``index``-th tax id of the request is not valid (``reason`` says why)."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


class UnknownCustomer(LookupError):
    pass


@dataclass(frozen=True)
class GivenTaxId:
    type: str
    value: str


def validated(given: Sequence[GivenTaxId]) -> list[TaxId]:
    """Every id normalized (stdnum's compact form), or ``TaxIdRefused`` for the first bad
    one; the same id given twice counts once."""
    found: dict[tuple[str, str], TaxId] = {}
    for index, item in enumerate(given):
        try:
            tax_id = validate_tax_id(item.type, item.value)
        except InvalidTaxId as exc:
            raise TaxIdRefused(index, str(exc)) from None
        found.setdefault((tax_id.type, tax_id.value), tax_id)
    return list(found.values())


async def list_tax_ids(sessions: SessionFactory, customer_id: str) -> list[CustomerTaxId]:
    async with sessions() as session:
        if await session.get(Customer, customer_id) is None:
            raise UnknownCustomer(customer_id)
        return await tax_ids_of(session, customer_id)


async def replace_tax_ids(
    sessions: SessionFactory,
    gateway: PaymentGateway,
    customer_id: str,
    given: Sequence[GivenTaxId],
) -> list[CustomerTaxId]:
    """The customer's tax ids become ``given``. The provider loses the removed ones first
    (an id no longer valid must not reach another invoice), then gains the new ones; a
    customer without a provider customer yet gets them when it is created."""
    wanted = validated(given)
    async with sessions() as session:
        customer = await session.get(Customer, customer_id)
        if customer is None:
            raise UnknownCustomer(customer_id)
        current = await tax_ids_of(session, customer_id)
    provider_customer_id = customer.provider_customer_id
    keys = {(t.type, t.value) for t in wanted}
    removed = [row for row in current if (row.type, row.value) not in keys]
    held = {(row.type, row.value) for row in current}
    if provider_customer_id is not None:
        for row in removed:
            if row.provider_tax_id:
                await gateway.delete_tax_id(provider_customer_id, row.provider_tax_id)
    async with sessions.begin() as session:
        await remove_tax_ids(session, [row.id for row in removed])
        await add_tax_ids(
            session,
            customer_id,
            [t for t in wanted if (t.type, t.value) not in held],
            now=utcnow(),
        )
    if provider_customer_id is not None:
        await sync_tax_ids(
            gateway,
            sessions,
            customer_id=customer_id,
            provider_customer_id=provider_customer_id,
        )
    return await list_tax_ids(sessions, customer_id)
