"""Calendar-month arithmetic. Pure: no I/O, safe to import from workflows."""

from __future__ import annotations

import calendar
from datetime import datetime


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus whole months (minus when negative), the day clamped to the target
    month's last day (Jan 31 + 1 month = Feb 28 or 29); time of day and tzinfo are kept."""
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
