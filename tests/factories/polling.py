"""Waiting, in real time, for something another process or task does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    predicate: Callable[[T], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
) -> T:
    """Poll ``probe`` (real time) until ``predicate`` holds; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while not predicate(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(interval)
        value = await probe()
    return value
