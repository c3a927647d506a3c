"""The tax lines of an invoice: which taxes a buyer owes (``taxes_for``) and how much of an
amount they are (``compute``), exclusive (added on top) or inclusive (contained in the
price), each line rounded half up to the currency's minor unit as Stripe rounds."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from domain.money import round_fraction_half_up
from domain.tax.rates import TaxRate, rates_for, reverse_charge_region
from domain.tax.tax_ids import TaxId

REVERSE_CHARGE_NOTE = "Reverse charge: VAT to be accounted for by the recipient."


class TaxBehavior(StrEnum):
    """Stripe's ``tax_behavior`` of a Price."""

    EXCLUSIVE = "exclusive"
    INCLUSIVE = "inclusive"


@dataclass(frozen=True)
class Buyer:
    country: str
    # US state or Canadian province (ISO 3166-2 subdivision code without the country).
    region: str | None = None
    tax_id: TaxId | None = None


@dataclass(frozen=True)
class Taxability:
    """What the buyer owes: the rates, or none with the reason (reverse charge, or no tax
    where the buyer is)."""

    rates: tuple[TaxRate, ...]
    reverse_charge: bool = False

    @property
    def note(self) -> str | None:
        return REVERSE_CHARGE_NOTE if self.reverse_charge else None


def taxes_for(buyer: Buyer, seller_country: str) -> Taxability:
    """A business buyer with a valid tax id of its own country, outside the seller's
    country but inside a reverse-charge area, pays no tax: the invoice says so instead."""
    area = reverse_charge_region(buyer.country)
    tax_id = buyer.tax_id
    if (
        area is not None
        and tax_id is not None
        and reverse_charge_region(tax_id.country) == area
        and tax_id.country == buyer.country
        and buyer.country != seller_country.upper()
    ):
        return Taxability(rates=(), reverse_charge=True)
    return Taxability(rates=rates_for(buyer.country, buyer.region))


@dataclass(frozen=True)
class TaxLine:
    rate: TaxRate
    # Minor units of the invoice's currency.
    amount: int
    # What the tax was computed on (minor units, tax excluded).
    taxable_amount: int


@dataclass(frozen=True)
class TaxedAmount:
    # Tax excluded, tax lines, and what the buyer pays (minor units).
    subtotal: int
    lines: tuple[TaxLine, ...]
    total: int
    behavior: TaxBehavior
    reverse_charge: bool = False

    @property
    def tax(self) -> int:
        return sum(line.amount for line in self.lines)


def _fraction(percentage: Decimal) -> Fraction:
    return Fraction(percentage) / 100


def compute(amount: int, taxability: Taxability, behavior: TaxBehavior) -> TaxedAmount:
    """``amount`` is the price in minor units: the net (exclusive) or the gross
    (inclusive). An inclusive price keeps its total: the tax lines are taken out of it and
    the net is what remains, so rounding never changes what the buyer pays."""
    rates = taxability.rates
    if behavior is TaxBehavior.EXCLUSIVE:
        lines = tuple(
            TaxLine(rate, round_fraction_half_up(amount * _fraction(rate.percentage)), amount)
            for rate in rates
        )
        total = amount + sum(line.amount for line in lines)
        return TaxedAmount(amount, lines, total, behavior, taxability.reverse_charge)
    combined = sum((_fraction(rate.percentage) for rate in rates), Fraction(0))
    net = round_fraction_half_up(amount / (1 + combined))
    lines = tuple(
        TaxLine(rate, round_fraction_half_up(net * _fraction(rate.percentage)), net)
        for rate in rates
    )
    # The last line takes the rounding remainder, so net + taxes is the price exactly.
    if lines:
        remainder = amount - net - sum(line.amount for line in lines)
        last = lines[-1]
        lines = (*lines[:-1], TaxLine(last.rate, last.amount + remainder, net))
    return TaxedAmount(net, lines, amount, behavior, taxability.reverse_charge)
