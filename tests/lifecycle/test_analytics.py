"""`lifecycle analytics train` as an operator runs it: on a PostgreSQL database with a
year of history, it trains, stores, scores and prints the model's worth next to the
baseline; Temporal being away only means the search attributes wait."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from core.settings import REPO_ROOT
from db.models import ChurnModelRow, ChurnScore
from tests.factories.churn import generated_histories, write_histories
from tests.factories.databases import Database


async def test_train_prints_the_metrics_and_stores_the_model(own_database: Database) -> None:
    now = datetime.now(UTC)
    histories = generated_histories(customers=300, weeks=40, start=now - timedelta(weeks=40))
    await write_histories(own_database.sessions, histories, now=now)
    env = {
        **os.environ,
        "DATABASE_URL": own_database.url,
        # Nothing listens there.
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
    }
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "lifecycle", "analytics", "train"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "(logistic_regression)" in out
    assert "ROC AUC" in out and "baseline: usage fell by half" in out
    assert "involuntary churn" in out and "Brier score" in out
    assert "ChurnRisk attributes not updated" in out
    async with own_database.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ChurnModelRow)) == 1
        scored = await session.scalar(select(func.count()).select_from(ChurnScore))
    assert f"scored {scored:,} paying customers" in out
