"""The main report's inputs at constant rates: each customer's ledger amounts and each
invoice converted at its currency's one rate, rounded half up; the reporting currency's own
rows untouched; a currency without a rate refused."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from domain.reporting.constant_rates import RateUsed, at_constant_rates
from domain.reporting.currencies import NoRate, Rate, RateTable
from domain.reporting.ledger import InvoiceRow, LedgerRow

DAY = date(2026, 11, 27)
AT = datetime(2026, 11, 30, tzinfo=UTC)
TABLE = RateTable(
    [
        Rate(DAY, "usd", Decimal("1.25"), "eur", "ecb"),
        Rate(DAY, "jpy", Decimal("160"), "eur", "ecb"),
    ],
    "usd",
)


def test_amounts_convert_per_customer_currency_and_usd_stays() -> None:
    ledger = [
        LedgerRow("eu", "trial_converted", AT, mrr_delta_cents=9200),
        LedgerRow("jp", "trial_converted", AT, mrr_delta_cents=4400),
        LedgerRow("jp", "addon_purchased", AT, data={"kind": "one_off", "amount_paid_cents": 1000}),
        LedgerRow("us", "trial_converted", AT, mrr_delta_cents=2900),
        LedgerRow(None, "money_frozen", AT),
    ]
    invoices = [
        InvoiceRow("in_1", "jp", "paid", "jpy", AT, amount_paid_cents=4400, total_cents=4400),
        InvoiceRow("in_2", "us", "paid", "usd", AT, amount_paid_cents=2900, total_cents=2900),
    ]
    currency_of = {"eu": "eur", "jp": "jpy", "us": "usd"}

    inputs = at_constant_rates(ledger, invoices, currency_of, TABLE, DAY)

    assert inputs.currency == "usd"
    # 92.00 EUR x 1.25 = 115.00 USD; 4,400 yen x 1.25 / 160 = 34.375 -> 34.38 USD.
    assert [row.mrr_delta_cents for row in inputs.ledger] == [11500, 3438, 0, 2900, 0]
    assert inputs.ledger[2].data == {"kind": "one_off", "amount_paid_cents": 781}
    assert inputs.ledger[3] is ledger[3] and inputs.ledger[4] is ledger[4]
    converted, untouched = inputs.invoices
    assert (converted.currency, converted.amount_paid_cents, converted.total_cents) == (
        "usd",
        3438,
        3438,
    )
    assert untouched is invoices[1]
    assert inputs.rates == (
        RateUsed("eur", Decimal("1.25"), DAY, "ecb"),
        RateUsed("jpy", Decimal("0.0078125"), DAY, "ecb"),
    )


def test_one_currency_needs_no_rate_and_a_missing_rate_is_refused() -> None:
    row = LedgerRow("us", "trial_converted", AT, mrr_delta_cents=2900)
    same = at_constant_rates([row], [], {"us": "usd"}, TABLE, DAY)
    assert same.ledger == [row] and same.rates == ()
    with pytest.raises(NoRate):
        at_constant_rates([row], [], {"us": "gbp"}, TABLE, DAY)
