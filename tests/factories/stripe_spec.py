"""Stripe's published contract at the pinned API version: the OpenAPI spec and fixtures that
stripe-mock embeds (``scripts/tools.sh stripe-mock`` copies them into the tools cache)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from adapters.payments.base import STRIPE_API_VERSION
from tests.factories.tools import TOOLS_CACHE, tool


def _openapi_file(name: str) -> Path:
    path = TOOLS_CACHE / "stripe-openapi" / name
    if not path.exists():
        tool("stripe-mock")  # installs the pinned stripe-mock with its spec and fixtures
    return path


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_openapi_file("spec3.json").read_text())
    version = loaded["info"]["version"]
    if version != STRIPE_API_VERSION:
        raise RuntimeError(f"stripe-mock's spec is {version}, the engine pins {STRIPE_API_VERSION}")
    return loaded


@cache
def fixtures() -> dict[str, Any]:
    """Stripe's example object per resource type (``fixtures()["subscription"]``)."""
    loaded: dict[str, Any] = json.loads(_openapi_file("fixtures3.json").read_text())
    return dict(loaded["resources"])


def schema_names() -> set[str]:
    return set(spec()["components"]["schemas"])
