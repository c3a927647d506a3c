"""Reporting across currencies (issue 15 part 5), pure: cross rates on or before a date,
zero-decimal conversions, and a USD report combined from EUR and JPY customers' reports
with the rate and date of every converted figure."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from domain.reporting.currencies import NoRate, Rate, RateTable, combine, rate_day
from domain.reporting.ledger import LedgerRow
from domain.reporting.report import compute_report

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)
RATES = [
    # The ECB's quotation: one EUR buys `rate` of the currency.
    Rate(date(2026, 1, 2), "usd", Decimal("1.10"), "eur", "ecb"),
    Rate(date(2026, 1, 2), "jpy", Decimal("165"), "eur", "ecb"),
    Rate(date(2026, 3, 2), "usd", Decimal("1.20"), "eur", "ecb"),
    Rate(date(2026, 3, 2), "jpy", Decimal("160"), "eur", "ecb"),
    # Published later than the figures: never used for them.
    Rate(date(2026, 4, 1), "usd", Decimal("2"), "eur", "ecb"),
]


def test_a_cross_rate_on_or_before_the_day() -> None:
    table = RateTable(RATES, "usd")
    assert table.rate("usd", date(2026, 3, 1)) == (Decimal(1), None, "identity")
    rate, day, source = table.rate("eur", date(2026, 3, 1))
    assert (rate, day, source) == (Decimal("1.10"), date(2026, 1, 2), "ecb")
    assert table.rate("eur", date(2026, 3, 31))[:2] == (Decimal("1.20"), date(2026, 3, 2))
    # Yen to dollars through the euro: 1.20 / 160 a yen.
    assert table.rate("jpy", date(2026, 3, 31))[0] == Decimal("0.0075")
    # Zero-decimal to two decimals: 4,400 yen is 33.00 dollars (3,300 cents).
    converted = table.convert(4400, "jpy", date(2026, 3, 31))
    assert (converted.converted_cents, converted.rate_date) == (3300, date(2026, 3, 2))
    # And back: 33.00 dollars in yen, whole yen, half up.
    assert RateTable(RATES, "jpy").convert(3301, "usd", date(2026, 3, 31)).converted_cents == 4401
    with pytest.raises(NoRate, match="GBP/USD"):
        table.rate("gbp", date(2026, 3, 31))
    with pytest.raises(NoRate, match="on or before 2025-12-31"):
        table.rate("eur", date(2025, 12, 31))
    assert rate_day(END) == date(2026, 3, 31)


def _subscribed(customer: str, cents: int, at: datetime) -> list[LedgerRow]:
    return [
        LedgerRow(customer, "trial_started", at, None, "trialing", "pro", None),
        LedgerRow(
            customer,
            "trial_converted",
            at,
            "trialing",
            "active",
            "pro",
            "month",
            mrr_delta_cents=cents,
        ),
    ]


def test_mrr_in_usd_from_eur_and_jpy_customers_shows_each_rate() -> None:
    eur = compute_report(
        [
            *_subscribed("e1", 9200, datetime(2026, 1, 10, tzinfo=UTC)),
            *_subscribed("e2", 2700, datetime(2026, 2, 10, tzinfo=UTC)),
        ],
        start=START,
        end=END,
    )
    jpy = compute_report(
        _subscribed("j1", 14800, datetime(2026, 1, 20, tzinfo=UTC)), start=START, end=END
    )
    report = combine({"eur": eur, "jpy": jpy}, RateTable(RATES, "usd"))

    assert report.reporting_currency == "usd"
    by = {c.currency: c for c in report.mrr.conversions}
    # 11,900 EUR cents x 1.20 = 14,280 USD cents; 14,800 yen x 1.20 / 160 = 11,100 cents.
    assert (by["eur"].amount_cents, by["eur"].converted_cents) == (11900, 14280)
    assert (by["jpy"].amount_cents, by["jpy"].converted_cents) == (14800, 11100)
    assert by["eur"].rate == Decimal("1.20") and by["eur"].rate_date == date(2026, 3, 2)
    assert by["jpy"].rate == Decimal("0.0075") and by["jpy"].rate_date == date(2026, 3, 2)
    assert report.mrr.cents == 14280 + 11100
    assert report.paying_customers == 3
    assert report.arpu_cents == round((14280 + 11100) / 3)
    assert report.ltv_cents is None  # nothing churned
    # The series: each month at its own end, with the rate known then.
    january = report.mrr_series[0]
    assert january.month == "2026-01"
    jan = {c.currency: c for c in january.mrr.conversions}
    assert jan["eur"].rate_date == date(2026, 1, 2) and jan["eur"].converted_cents == 10120
    assert jan["jpy"].converted_cents == round(14800 * 1.10 / 165 * 100)
    # Per currency, in its own minor unit.
    assert [(b.currency, b.mrr_cents, b.paying_customers) for b in report.by_currency] == [
        ("eur", 11900, 2),
        ("jpy", 14800, 1),
    ]
    # Cohorts by month of first revenue, summed over currencies.
    assert [(c.month, c.customers) for c in report.cohorts] == [("2026-01", 2), ("2026-02", 1)]
