"""What every concern's bodies share: the strict request base and the list envelope.
Each concern's own bodies live in ``api/<concern>/schemas.py``."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class RequestBody(BaseModel):
    # Unknown fields are a client bug worth naming, not something to drop silently.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ListEnvelope(BaseModel, Generic[T]):
    data: list[T]
