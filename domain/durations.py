"""Durations as operators write them in the config file: ``14d``, ``36h``, ``90m``, ``20s``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PATTERN = re.compile(r"^\s*(\d+)\s*([dhms])\s*$")


def parse_duration(text: str) -> timedelta:
    """Parse ``<integer><d|h|m|s>``; anything else is a configuration error worth naming."""
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"invalid duration {text!r}: write it like '14d', '36h', '90m' or '20s'")
    amount, unit = match.groups()
    return timedelta(seconds=int(amount) * _UNITS[unit])


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling, so a parsed policy prints back the way it was written."""
    seconds = int(value.total_seconds())
    for unit, size in _UNITS.items():
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
