"""The CSV tables (``domain.reporting.csv_export``) on the scripted history."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.reporting.csv_export import CSV_COLUMNS, csv_rows
from domain.reporting.report import Report


def test_every_csv_table_has_rows_in_its_column_order(report: Report) -> None:
    for name, columns in CSV_COLUMNS.items():
        rows = csv_rows(report, name)
        assert rows, name
        assert {len(row) for row in rows} == {len(columns)}, name
    movements = csv_rows(report, "mrr_movements")
    assert movements[0][1:9] == ["B", "new", "trial_converted", "pro", "month", 0, 9900, 9900]
    churn = dict(zip(CSV_COLUMNS["churn"], csv_rows(report, "churn")[1], strict=True))
    assert churn["logo_churn_rate"] == Decimal("0.3333")
    with pytest.raises(KeyError):
        csv_rows(report, "nope")
