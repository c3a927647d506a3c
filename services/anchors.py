"""Checking the ledger against its signed anchors (`lifecycle audit verify --anchors`)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.settings import Settings
from db.anchors import head_problem
from db.engine import SessionFactory
from domain.anchors import anchor_problem, head_of, load_private_key, load_public_key


@dataclass(frozen=True)
class AnchorCheck:
    path: Path
    # None: signed by the key, and the chain still has that head at that position.
    problem: str | None
    head_id: int | None = None


def verifying_key(settings: Settings) -> Ed25519PublicKey | None:
    """LIFECYCLE_ANCHOR_PUBLIC_KEY, else the signing key's public half."""
    if settings.lifecycle_anchor_public_key:
        return load_public_key(settings.lifecycle_anchor_public_key)
    if settings.lifecycle_anchor_signing_key:
        return load_private_key(settings.lifecycle_anchor_signing_key).public_key()
    return None


def _read(directory: Path) -> list[tuple[Path, Any]]:
    found: list[tuple[Path, Any]] = []
    for path in sorted(directory.glob("*.json")):
        try:
            found.append((path, json.loads(path.read_text())))
        except (OSError, ValueError) as exc:
            found.append((path, exc))
    return found


async def check_anchors(
    sessions: SessionFactory, directory: Path, key: Ed25519PublicKey
) -> list[AnchorCheck]:
    """Every ``*.json`` anchor in the directory, oldest head first."""
    checks = []
    documents = await asyncio.to_thread(_read, directory)
    async with sessions() as session:
        for path, document in documents:
            if isinstance(document, Exception):
                checks.append(AnchorCheck(path, f"unreadable: {document}"))
                continue
            problem = anchor_problem(document, key)
            if problem is not None:
                checks.append(AnchorCheck(path, problem))
                continue
            head = head_of(document)
            checks.append(AnchorCheck(path, await head_problem(session, head), head.head_id))
    return sorted(checks, key=lambda c: (c.head_id or 0, c.path.name))
