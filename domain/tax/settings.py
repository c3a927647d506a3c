"""Who sells and how prices carry tax: the ``[tax]`` section of the configuration as the
rest of the engine reads it (``core.config_tax`` parses it).

The seller is the legal entity every invoice names (its legal name, address and tax ids,
as invoicing law asks) and the place tax is computed from. Whether a price includes tax is
a property of the price in a currency (Stripe's ``tax_behavior`` on a Price and on each of
its ``currency_options``), so it is set per currency here: EUR and GBP consumer prices
are usually shown tax-included, USD prices tax-excluded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.tax.calculation import TaxBehavior
from domain.tax.tax_ids import TaxId


@dataclass(frozen=True)
class LegalEntity:
    name: str
    # The postal address as printed, one line each; the last names the country.
    address_lines: tuple[str, ...]
    # ISO 3166-1 alpha-2: where the seller is established (tax is computed from here).
    country: str
    tax_ids: tuple[TaxId, ...] = ()
    # The prefix of the entity's invoice numbers, sequential across the account
    # (``CHAT-0001``); none keeps Stripe's default per-customer numbering.
    invoice_prefix: str | None = None


@dataclass(frozen=True)
class TaxSettings:
    # Off: no tax is computed or asked of Stripe (the state before a Stripe Tax set-up).
    enabled: bool = False
    seller: LegalEntity | None = None
    behavior: TaxBehavior = TaxBehavior.EXCLUSIVE
    # Currency (lower case) -> the tax behavior of prices in it, where it differs.
    behavior_by_currency: Mapping[str, TaxBehavior] = field(default_factory=dict)

    def behavior_for(self, currency: str) -> TaxBehavior:
        return self.behavior_by_currency.get(currency.lower(), self.behavior)

    @property
    def seller_country(self) -> str:
        return self.seller.country if self.seller is not None else "US"
