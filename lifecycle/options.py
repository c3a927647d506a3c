"""What every `lifecycle` command shares: the --config option, settings and logging."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from core.settings import Settings

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="TOML catalog and policy file (default: LIFECYCLE_CONFIG)."),
]


def load_settings(config: Path | None = None, **overrides: object) -> Settings:
    from core.config import ConfigError
    from core.settings import Settings

    values = {k: v for k, v in overrides.items() if v is not None}
    if config is not None:
        values["lifecycle_config"] = config
    settings = Settings.model_validate(values)
    try:
        settings.engine_config  # noqa: B018 - fail fast on a broken config file
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config / LIFECYCLE_CONFIG") from None
    return settings


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Keep the banner readable: the SDK's and SQLAlchemy's chatter is for debugging.
    logging.getLogger("temporalio").setLevel(logging.WARNING)
