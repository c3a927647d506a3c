"""Alembic environment. Runs on a connection handed over by ``db.migrate`` or, when invoked
through the ``alembic`` command, on its own async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

# Autogenerate must see every table, the payment simulator's too (its own metadata, in the
# simulator's package; Alembic runs this file, no engine code imports it).
from adapters.payments.simulator.models import SimBase
from db.models import Base

config = context.config
target_metadata = [Base.metadata, SimBase.metadata]


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    handed_over = config.attributes.get("connection")
    if handed_over is not None:
        _run(handed_over)
    else:
        asyncio.run(_run_async(config.get_main_option("sqlalchemy.url") or ""))
