"""Writing the ledger's signed anchors (domain/anchors.py): the daily Schedule's activity
(workflows/anchor.py) and `lifecycle audit anchor` share ``write_anchor``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio import activity

from core.settings import Settings
from db.anchors import chain_head
from db.engine import SessionFactory
from domain.anchors import load_private_key, make_anchor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnchorTarget:
    """Where anchors go and the key that signs them (LIFECYCLE_ANCHOR_DIR and
    LIFECYCLE_ANCHOR_SIGNING_KEY)."""

    directory: Path
    key: Ed25519PrivateKey


def anchor_target(settings: Settings) -> AnchorTarget | None:
    """From the settings; None when anchoring is not configured."""
    if settings.lifecycle_anchor_dir is None or not settings.lifecycle_anchor_signing_key:
        return None
    return AnchorTarget(
        settings.lifecycle_anchor_dir, load_private_key(settings.lifecycle_anchor_signing_key)
    )


def anchor_file_name(created_at: datetime, head_id: int) -> str:
    return f"anchor-{created_at.strftime('%Y%m%dT%H%M%SZ')}-{head_id}.json"


async def write_anchor(
    sessions: SessionFactory, target: AnchorTarget, now: datetime
) -> Path | None:
    """Sign the chain's head now and write it as a JSON file (None: an empty ledger).
    Written to a temporary name and renamed, so a reader never sees half a file."""
    async with sessions() as session:
        head = await chain_head(session)
    if head is None:
        return None
    document = make_anchor(head, target.key, now)
    path = target.directory / anchor_file_name(now, head.head_id)
    await asyncio.to_thread(_write_atomically, path, document)
    return path


def _write_atomically(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        json.dump(document, out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(temporary, path)


@dataclass(frozen=True)
class AnchorInput:
    as_of: datetime


class AnchorActivities:
    def __init__(self, sessions: SessionFactory, target: AnchorTarget | None) -> None:
        self._sessions = sessions
        self._target = target

    @activity.defn(name="write_ledger_anchor")
    async def write_ledger_anchor(self, request: AnchorInput) -> str | None:
        """The path written, or None (anchoring not configured, or nothing to anchor)."""
        if self._target is None:
            log.warning(
                "ledger anchoring is not configured: set LIFECYCLE_ANCHOR_DIR and "
                "LIFECYCLE_ANCHOR_SIGNING_KEY"
            )
            return None
        path = await write_anchor(self._sessions, self._target, request.as_of)
        return str(path) if path else None
