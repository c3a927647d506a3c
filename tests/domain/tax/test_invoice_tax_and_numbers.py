"""An invoice's tax over its lines (a discount shared in proportion, per-rate totals) and
the invoice-number rule: one gapless sequence per prefix, no number twice."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.invoice_numbers import check_sequence, parse_number
from domain.tax.calculation import Buyer, TaxBehavior, taxes_for
from domain.tax.invoice import share_discount, tax_invoice

QUEBEC = taxes_for(Buyer("CA", "QC"), "IE")


def test_a_discount_is_shared_by_the_discountable_lines_only() -> None:
    assert share_discount([1000, 3000, -500], [True, True, False], 400) == [100, 300, 0]
    assert share_discount([1, 1, 1], [True, True, True], 2) == [1, 1, 0]
    assert share_discount([100], [False], 0) == [0]


@given(
    st.lists(st.integers(1, 10**6), min_size=1, max_size=6),
    st.integers(0, 100),
)
def test_shares_always_sum_to_the_discount(amounts: list[int], percent: int) -> None:
    discount = sum(amounts) * percent // 100
    assert sum(share_discount(amounts, [True] * len(amounts), discount)) == discount


def test_tax_per_rate_sums_the_lines() -> None:
    taxed = tax_invoice([4400, 750], [True, True], 0, QUEBEC, TaxBehavior.EXCLUSIVE)
    assert [(t.rate.display_name, t.amount, t.taxable_amount) for t in taxed.totals] == [
        ("GST", 220 + 38, 5150),
        ("QST", 439 + 75, 5150),
    ]
    assert (taxed.tax, taxed.net, taxed.added) == (772, 5150, 772)
    inclusive = tax_invoice(
        [2700], [True], 700, taxes_for(Buyer("FR"), "IE"), TaxBehavior.INCLUSIVE
    )
    # 20.00 EUR left after the discount, VAT included: 16.67 + 3.33.
    assert (inclusive.net, inclusive.tax, inclusive.added) == (1667, 333, 0)


def test_gaps_and_duplicates_are_found_per_prefix() -> None:
    report = check_sequence(
        ["CHAT-0001", "CHAT-0002", "CHAT-0004", "CHAT-0004", "OTHER-0001", None, "draft"]
    )
    chat, other = report.sequences
    assert (chat.prefix, chat.gaps, chat.duplicates, chat.count) == ("CHAT", (3,), (4,), 4)
    assert other.ok and not chat.ok and not report.ok
    assert report.unparsed == ("draft",)
    # A sequence that does not start at 1 lost its first numbers.
    assert check_sequence(["A-0003", "A-0004"]).sequences[0].gaps == (1, 2)
    assert check_sequence(["A-0001", "A-0002", "A-0003"]).ok
    assert parse_number("IN-2026-0042") == ("IN-2026", 42)
