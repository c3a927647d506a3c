"""Reports net of tax (``domain.reporting.net_of_tax`` through ``at_constant_rates``):
tax-inclusive MRR multiplied by each customer's net share (its latest subscription
invoice's, else the rates table's), exclusive MRR untouched, invoices and packs less their
tax, part payments less their share of it, and one-currency data netted too."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from domain.reporting.constant_rates import at_constant_rates
from domain.reporting.currencies import Rate, RateTable
from domain.reporting.ledger import InvoiceRow, LedgerRow
from domain.reporting.net_of_tax import (
    NetShare,
    ShareSource,
    TaxBasis,
    TaxPlace,
    net_invoice,
    net_shares,
    report_customers,
)
from domain.reporting.report import compute_report
from domain.tax.calculation import TaxBehavior
from domain.tax.settings import LegalEntity, TaxSettings
from domain.tax.tax_ids import validate_tax_id

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)
DAY = date(2026, 11, 30)
SETTINGS = TaxSettings(
    enabled=True,
    seller=LegalEntity("ChatbotCloud Ltd", ("Dublin",), "IE"),
    behavior=TaxBehavior.EXCLUSIVE,
    behavior_by_currency={"eur": TaxBehavior.INCLUSIVE},
)
DE_VAT = validate_tax_id("eu_vat", "DE136695976")
PLACES = {
    "consumer": TaxPlace("eur", "DE"),
    "business": TaxPlace("eur", "DE", tax_ids=(DE_VAT,)),
    "estimated": TaxPlace("eur", "DE"),
    "ny": TaxPlace("usd", "US", "NY"),
}
# 1 EUR = 1.25 USD: a USD cent is 0.8 EUR cents.
TABLE = RateTable([Rate(date(2026, 11, 27), "usd", Decimal("1.25"), "eur", "ecb")], "eur")


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def converted(cid: str, delta: int, day: int = 2) -> LedgerRow:
    return LedgerRow(
        cid, "trial_converted", at(10, day), "trialing", "active", "pro", "month", delta, id=day
    )


def invoice(cid: str, total: int, tax: int, *, paid: int | None = None, **kw: Any) -> InvoiceRow:
    """A subscription invoice paid in full (or ``paid`` of it) on 10-02."""
    row = InvoiceRow(
        id=f"in_{cid}_{total}",
        customer_id=cid,
        status="paid",
        currency="usd" if cid == "ny" else "eur",
        created_at=at(10, 2),
        billing_reason="subscription_create",
        paid_at=at(10, 2),
        subtotal_cents=total,
        total_cents=total,
        tax_cents=tax,
        amount_due_cents=total,
        amount_paid_cents=total if paid is None else paid,
        amount_remaining_cents=0 if paid is None else total - paid,
    )
    return replace(row, **kw)


def test_inclusive_consumer_reverse_charge_and_exclusive_state_tax() -> None:
    ledger = [
        converted("consumer", 11900),  # 119.00 EUR list price, VAT included
        converted("business", 11900, day=3),  # the same price, reverse charge
        converted("estimated", 11900, day=4),  # converted, no invoice mirrored yet
        converted("ny", 2900, day=5),  # 29.00 USD, New York's 4 % added on top
    ]
    invoices = [
        invoice("consumer", 11900, 1900),
        # Stripe keeps an inclusive price's total on a reverse charge: no tax, share 1.
        invoice("business", 11900, 0),
        invoice("ny", 3016, 116, subtotal_cents=2900),
    ]
    shares = net_shares(
        invoices, PLACES, SETTINGS, end=END, customers=report_customers(ledger, invoices)
    )
    assert shares == {
        "consumer": NetShare(Fraction(100, 119), ShareSource.INVOICE, inclusive=True),
        "business": NetShare(Fraction(1), ShareSource.INVOICE, inclusive=True),
        # No invoice: Germany's 19 % from the rates table.
        "estimated": NetShare(Fraction(100, 119), ShareSource.ESTIMATE, inclusive=True),
        "ny": NetShare(Fraction(2900, 3016), ShareSource.INVOICE, inclusive=False),
    }
    currency_of = {cid: place.currency for cid, place in PLACES.items()}

    inputs = at_constant_rates(ledger, invoices, currency_of, TABLE, DAY, shares=shares)

    # 119.00 -> 100.00; reverse charge 119.00 kept; 29.00 USD exclusive: MRR unchanged
    # (already net), x 0.8 = 23.20 EUR.
    assert [row.mrr_delta_cents for row in inputs.ledger] == [10000, 11900, 10000, 2320]
    assert inputs.tax == TaxBasis("net", from_invoice=3, estimated=1, untaxed=0)
    report = compute_report(inputs.ledger, inputs.invoices, start=START, end=END)
    assert report.mrr_cents == 10000 + 11900 + 10000 + 2320
    assert report.arpu_cents == 8555  # 34,220 / 4
    # Revenue less the tax: 100.00 + 119.00 + 29.00 USD (30.16 paid less 1.16) x 0.8.
    paid = {p.invoice.customer_id: p.invoice.amount_paid_cents for p in report.payments}
    assert paid == {"consumer": 10000, "business": 11900, "ny": 2320}
    assert report.revenue.payments_cents == 24220
    ny = inputs.invoices[2]
    assert (ny.currency, ny.total_cents, ny.subtotal_cents, ny.tax_cents) == ("eur", 2320, 2320, 93)


def test_part_payment_loses_its_share_of_the_tax_rounded_half_up() -> None:
    half = net_invoice(invoice("consumer", 11900, 1900, paid=5950), inclusive=True)
    assert (half.amount_paid_cents, half.amount_remaining_cents, half.total_cents) == (
        5000,
        5000,
        10000,
    )
    assert half.subtotal_cents == 10000  # inclusive: the subtotal held the tax
    # 1,001 x 1,900 / 11,900 = 159.82 -> 160 of tax: 841 net.
    part = net_invoice(invoice("consumer", 11900, 1900, paid=1001), inclusive=True)
    assert part.amount_paid_cents == 841
    # Exactly half a cent of tax rounds up: nothing left, never below 0.
    assert net_invoice(invoice("consumer", 2, 1, paid=1), inclusive=True).amount_paid_cents == 0
    # An exclusive subtotal is net already.
    exclusive = net_invoice(invoice("ny", 3016, 116, subtotal_cents=2900), inclusive=False)
    assert exclusive.subtotal_cents == 2900


def test_one_currency_is_netted_and_mrr_sums_its_movements() -> None:
    """Every customer in EUR: no rate, still net. A customer's MRR is scaled through its
    running total, so a churn takes exactly what it had and leaves 0 (rounding each
    movement alone would leave a cent here)."""
    ledger = [
        converted("consumer", 2700),  # 27.00 -> 22.69 (22.689...)
        LedgerRow(
            "consumer", "plan_changed", at(10, 20), "active", "active", "pro", "month", 6500, id=20
        ),
        LedgerRow(
            "consumer",
            "subscription_canceled",
            at(11, 10),
            "active",
            "canceled",
            "pro",
            "month",
            -9200,
            id=30,
        ),
        LedgerRow(
            "consumer",
            "addon_purchased",
            at(11, 5),
            "active",
            "active",
            "pro",
            "month",
            data={"kind": "one_off", "amount_paid_cents": 1190, "invoice_id": "in_pack"},
            id=25,
        ),
        converted("estimated", 11900, day=6),
    ]
    invoices = [
        invoice("consumer", 2700, 431),
        invoice("consumer", 1190, 190, billing_reason="manual", id="in_pack", created_at=at(11, 5)),
    ]
    shares = net_shares(invoices, PLACES, SETTINGS, end=END)
    table = RateTable([], "eur")

    inputs = at_constant_rates(
        ledger, invoices, {"consumer": "eur", "estimated": "eur"}, table, DAY, shares=shares
    )

    assert inputs.rates == ()
    # Share (2,700 - 431) / 2,700: 2,269; +6,500 -> 9,200 x share = 7,731.11 -> 7,731,
    # so +5,462; the churn takes 7,731.
    assert [row.mrr_delta_cents for row in inputs.ledger] == [2269, 5462, -7731, 0, 10000]
    # The pack with its own invoice's tax: 11.90 - 1.90.
    assert inputs.ledger[3].data["amount_paid_cents"] == 1000
    report = compute_report(inputs.ledger, inputs.invoices, start=START, end=END)
    assert report.recurring_mrr_cents == 10000  # the churned customer left 0 behind
    assert report.overage_mrr_cents == 1000
    assert report.movements.net_cents == 10000
    assert report.revenue.payments_cents == 2269 + 1000


def test_tax_off_or_no_place_takes_nothing_off() -> None:
    off = TaxSettings(enabled=False, behavior_by_currency={"eur": TaxBehavior.INCLUSIVE})
    shares = net_shares([], {"x": TaxPlace("eur", "DE"), "y": TaxPlace("eur")}, off, end=END)
    assert {s.paid for s in shares.values()} == {Fraction(1)}
    assert {s.source for s in shares.values()} == {ShareSource.NONE}
    unlocated = net_shares([], {"y": TaxPlace("eur")}, SETTINGS, end=END)
    assert unlocated["y"].source is ShareSource.NONE
    # A reverse charge estimated: the business's VAT id, no tax.
    business = net_shares([], {"b": PLACES["business"]}, SETTINGS, end=END)["b"]
    assert (business.paid, business.source) == (Fraction(1), ShareSource.ESTIMATE)


def test_refunds_are_net_with_their_invoice_share_and_converted() -> None:
    """A refund is money paid back: net of the tax it returns (its invoice's share), and in
    the reporting currency like the payment it undoes."""
    refund = LedgerRow(
        "consumer",
        "charge_refunded",
        at(11, 3),
        data={
            "charge_id": "ch_1",
            "invoice_id": "in_consumer_11900",
            "amount_refunded_cents": 5950,
            "currency": "eur",
        },
        id=40,
    )
    invoices = [invoice("consumer", 11900, 1900)]
    shares = net_shares(invoices, PLACES, SETTINGS, end=END)
    usd = RateTable([Rate(date(2026, 11, 27), "usd", Decimal("1.25"), "eur", "ecb")], "usd")

    inputs = at_constant_rates([refund], invoices, {"consumer": "eur"}, usd, DAY, shares=shares)

    # 59.50 refunded holds 9.50 of VAT: 50.00 net, x 1.25 = 62.50 USD.
    assert inputs.ledger[0].data["amount_refunded_cents"] == 6250
    assert inputs.ledger[0].data["currency"] == "usd"
    report = compute_report(inputs.ledger, inputs.invoices, start=START, end=END)
    assert report.revenue.payments_cents == 12500  # 100.00 EUR net, in USD
    assert report.revenue.refunds_cents == 6250
