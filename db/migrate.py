"""Apply Alembic migrations programmatically (``lifecycle migrate``, ``lifecycle dev``, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, make_url

from db.engine import create_engine, is_sqlite
from db.roles import grant_app_role

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    return config


def ensure_sqlite_directory(url: str) -> None:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


async def migrate(url: str, revision: str = "head", *, app_role: str | None = None) -> None:
    """Upgrade to ``revision``; with ``app_role`` (PostgreSQL), grant it the app's privileges
    in the same transaction (db/roles.py). SQLite has no roles: ``app_role`` is ignored."""
    ensure_sqlite_directory(url)
    config = alembic_config(url)

    def upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade)
            if app_role and not is_sqlite(url):
                await grant_app_role(connection, app_role)
    finally:
        await engine.dispose()
