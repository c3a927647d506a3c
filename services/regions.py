"""A customer's currency and region in its terms: the workflow computes every amount (MRR,
the emails' prices) from its terms' catalog, so a customer paying in EUR in the India
region runs on the terms' catalog in EUR at India's prices (``domain.regions``), stored as
terms of their own version.

Hooked in where a workflow receives terms: at sign-up (``start_customer_workflow``) and
with a plan change (``services.experiments.command_terms_version``); the billing reads
(``customer_terms``) and a customer's plans page use the same conversion.
"""

from __future__ import annotations

from dataclasses import replace

from core.config import EngineConfig
from db.engine import SessionFactory
from db.models import Customer
from db.terms import load_terms, register_terms
from domain.regions import customer_catalog, region_book
from domain.terms import Terms

# (terms version, currency, region) -> those terms for them (None: the same terms).
# Versions name one document for ever, so this never goes stale; the terms are still
# stored on every use (one INSERT that usually does nothing), since a process may serve
# more than one database (the tests do).
_converted: dict[tuple[str, str | None, str | None], Terms | None] = {}


def terms_for(
    config: EngineConfig, terms: Terms, *, currency: str | None, region: str | None
) -> Terms:
    """``terms`` in ``currency`` at ``region``'s prices (either None: as is). The region's
    book comes from the config's catalog when the terms have none (an experiment's)."""
    catalog = terms.catalog
    book = region_book(region) if region else None
    if book is not None and book not in catalog.price_books:
        known = config.catalog.price_books.get(book)
        if known is None:
            book = None
        else:
            catalog = replace(catalog, price_books={**catalog.price_books, book: known})
    converted = customer_catalog(catalog, currency=currency, region_book=book)
    if converted is terms.catalog:
        return terms
    return Terms(policy=terms.policy, catalog=converted)


def customer_terms_of(config: EngineConfig, terms: Terms, customer: Customer | None) -> Terms:
    if customer is None:
        return terms
    return terms_for(config, terms, currency=customer.currency, region=customer.region)


async def in_customer_terms(
    config: EngineConfig, sessions: SessionFactory, customer_id: str, version: str
) -> str:
    """The version of the terms ``version`` in the customer's currency and region (stored
    if new)."""
    async with sessions() as session:
        customer = await session.get(Customer, customer_id)
    if customer is None or (customer.currency is None and customer.region is None):
        return version
    key = (version, customer.currency, customer.region)
    async with sessions.begin() as session:
        if key in _converted:
            converted = _converted[key]
        else:
            terms = await load_terms(session, version)
            if terms is None:
                return version
            found = customer_terms_of(config, terms, customer)
            converted = _converted[key] = None if found is terms else found
        return version if converted is None else await register_terms(session, converted)
