"""The tax of a whole invoice: each line taxed on what is left of it after the invoice's
discount, and the lines' taxes summed per rate (the invoice's ``total_taxes``, one entry
per rate as the law asks an invoice to break tax down).

A discount is shared among the discountable lines in proportion to their amounts (the
last takes the rounding remainder), as Stripe taxes the discounted amount of each line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.money import round_half_up
from domain.tax.calculation import Taxability, TaxBehavior, TaxedAmount, TaxLine, compute
from domain.tax.rates import TaxRate


@dataclass(frozen=True)
class InvoiceTax:
    lines: tuple[TaxedAmount, ...]
    # Per rate, in the order rates first appear: what the invoice's tax breakdown shows.
    totals: tuple[TaxLine, ...]
    behavior: TaxBehavior
    reverse_charge: bool

    @property
    def tax(self) -> int:
        return sum(line.amount for line in self.totals)

    @property
    def net(self) -> int:
        """The invoice's amount tax excluded, discount applied."""
        return sum(line.subtotal for line in self.lines)

    @property
    def added(self) -> int:
        """What tax adds to the discounted amounts: all of it exclusive, none inclusive."""
        return self.tax if self.behavior is TaxBehavior.EXCLUSIVE else 0


def share_discount(
    amounts: Sequence[int], discountable: Sequence[bool], discount: int
) -> list[int]:
    """Each line's part of ``discount`` (minor units), in proportion to the discountable
    amounts; the parts sum to ``discount`` exactly."""
    base = sum(a for a, d in zip(amounts, discountable, strict=True) if d)
    shares = [0] * len(amounts)
    if discount == 0 or base <= 0:
        return shares
    eligible = [i for i, d in enumerate(discountable) if d]
    given = 0
    for i in eligible[:-1]:
        shares[i] = round_half_up(discount * amounts[i], base)
        given += shares[i]
    shares[eligible[-1]] = discount - given
    return shares


def tax_invoice(
    amounts: Sequence[int],
    discountable: Sequence[bool],
    discount: int,
    taxability: Taxability,
    behavior: TaxBehavior,
) -> InvoiceTax:
    shares = share_discount(amounts, discountable, discount)
    lines = tuple(
        compute(amount - share, taxability, behavior)
        for amount, share in zip(amounts, shares, strict=True)
    )
    per_rate: dict[TaxRate, tuple[int, int]] = {}
    for taxed in lines:
        for line in taxed.lines:
            amount, taxable = per_rate.get(line.rate, (0, 0))
            per_rate[line.rate] = (amount + line.amount, taxable + line.taxable_amount)
    totals = tuple(TaxLine(rate, amount, taxable) for rate, (amount, taxable) in per_rate.items())
    return InvoiceTax(lines, totals, behavior, taxability.reverse_charge)
