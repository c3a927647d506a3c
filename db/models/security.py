"""Security controls (issue 16): the security event log, what the access review knows about
stored API keys, and the kill switches (the money-movement freeze)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.models.core import Base, BigIntId
from db.types import JSONType, UTCDateTime


class SecurityEvent(Base):
    """Who tried what against the engine: failed authentication, forged webhooks, keys
    created and revoked, dashboard sign-ins, freezes. Separate from the billing ledger (its
    volume is an attacker's to choose); the app role may only append to it (db/roles.py)."""

    __tablename__ = "security_events"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(48), index=True)
    actor: Mapped[str | None] = mapped_column(String(128))
    # The first characters of a presented key (never the key): enough to tell keys apart.
    key_prefix: Mapped[str | None] = mapped_column(String(32))
    client_ip: Mapped[str | None] = mapped_column(String(64), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ApiKeyDetail(Base):
    """What the access review needs of a stored key beyond ``api_keys``: who made it, when
    it expires, when it was last used (written at most once a minute per key)."""

    __tablename__ = "api_key_details"

    key_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    created_by: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class KillSwitch(Base):
    """A named switch an operator throws in an incident (``money_movement``: the freeze)."""

    __tablename__ = "kill_switches"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(128))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
