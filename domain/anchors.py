"""Signed checkpoints of the ledger's chain head (issue 16 part 4).

The hash chain shows a row edited or removed, unless whoever edits recomputes every hash
after it: a database superuser can. An anchor — the head's position and hash, signed with
an Ed25519 key the database never holds, and kept outside it — fixes the chain as it was:
a rewritten chain no longer has that hash at that position. Ed25519 (not an HMAC): the
verifying side needs only the public key, so whoever checks anchors cannot forge one.
Pure: documents in, documents out.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

ANCHOR_VERSION = 1
ALGORITHM = "ed25519"


class AnchorKeyError(ValueError):
    """A signing or verifying key that cannot be read."""


@dataclass(frozen=True)
class ChainHead:
    # How many rows the chain has up to and including the head, the head's id and hash.
    rows: int
    head_id: int
    head_hash: str


def _raw(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise AnchorKeyError("not base64") from exc


def load_private_key(text: str) -> Ed25519PrivateKey:
    """A base64 raw 32-byte Ed25519 private key (``lifecycle audit anchor-key``) or PEM."""
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise AnchorKeyError("the PEM key is not an Ed25519 private key")
        return key
    raw = _raw(text)
    if len(raw) != 32:
        raise AnchorKeyError("an Ed25519 private key is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(raw)


def load_public_key(text: str) -> Ed25519PublicKey:
    """A base64 raw 32-byte Ed25519 public key or PEM."""
    if "-----BEGIN" in text:
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise AnchorKeyError("the PEM key is not an Ed25519 public key")
        return key
    raw = _raw(text)
    if len(raw) != 32:
        raise AnchorKeyError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def private_text(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode()


def key_id(key: Ed25519PublicKey) -> str:
    """Names the key in each anchor, so a rotated key's anchors are told apart."""
    return hashlib.sha256(public_text(key).encode()).hexdigest()[:16]


def _message(document: dict[str, Any]) -> bytes:
    signed = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()


def make_anchor(head: ChainHead, key: Ed25519PrivateKey, created_at: datetime) -> dict[str, Any]:
    document: dict[str, Any] = {
        "version": ANCHOR_VERSION,
        "algorithm": ALGORITHM,
        "key_id": key_id(key.public_key()),
        "created_at": created_at.isoformat(),
        "rows": head.rows,
        "head_id": head.head_id,
        "head_hash": head.head_hash,
    }
    document["signature"] = base64.b64encode(key.sign(_message(document))).decode()
    return document


def anchor_problem(document: Any, key: Ed25519PublicKey) -> str | None:
    """Why the document is not an anchor this key signed, or None when it is."""
    if not isinstance(document, dict):
        return "not a JSON object"
    if document.get("version") != ANCHOR_VERSION or document.get("algorithm") != ALGORITHM:
        return "not a version 1 ed25519 anchor"
    for name, kind in (("rows", int), ("head_id", int), ("head_hash", str), ("signature", str)):
        if not isinstance(document.get(name), kind):
            return f"no {name}"
    if document.get("key_id") != key_id(key):
        return f"signed by another key ({document.get('key_id')})"
    try:
        signature = base64.b64decode(document["signature"], validate=True)
        key.verify(signature, _message(document))
    except (ValueError, InvalidSignature):
        return "the signature does not match (forged or altered)"
    return None


def head_of(document: dict[str, Any]) -> ChainHead:
    return ChainHead(document["rows"], document["head_id"], document["head_hash"])
