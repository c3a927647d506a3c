"""The loader on the embedded default (SQLite): the same figures as on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from api.reports.service import metrics_view
from db.engine import create_engine, session_factory
from db.migrate import migrate
from db.reporting import load_reporting_data
from domain.reporting.report import compute_report
from tests.factories.reporting import END, LETTERS, START, scripted_history, write_history


async def test_sqlite_loads_the_same_history(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/lifecycle.db"
    await migrate(url)
    script = scripted_history({letter: f"cust-{letter}" for letter in LETTERS})
    await write_history(url, script)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            data = await load_reporting_data(session, end=END)
    finally:
        await engine.dispose()
    # The email_sent and invoice_paid audit rows stay in the database.
    assert len(data.ledger) == len(script.rows)
    assert len(data.invoices) == len(script.invoices)
    loaded = compute_report(data.ledger, data.invoices, start=START, end=END)
    expected = compute_report(script.rows, script.invoices, start=START, end=END)
    assert loaded.mrr_cents == 38765
    assert metrics_view(loaded, currency="usd") == metrics_view(expected, currency="usd")
