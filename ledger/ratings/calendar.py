"""The working-day calendar rectification deadlines are counted on, as a Protocol.

The region's signed calendar (holidays and 调休 make-up workdays, ``ledger/supervision/``) is
not on this branch; :class:`WeekendsOnlyCalendar` stands in for it and says so in its name:
it knows no holiday. The bulletin and the rectification deadlines take any
:class:`WorkingDayCalendar`, so the real calendar plugs in without touching them.

Counting (as for every time limit): the start day is not counted; the deadline is the Nth
working day after it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Protocol

CHINA = timezone(timedelta(hours=8), "CST")


def china_date(micros: int) -> date:
    """The China (+08:00) date of a receipt time (µs since the epoch, UTC)."""
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC).astimezone(CHINA).date()


class WorkingDayCalendar(Protocol):
    """Which days are working days, and the Nth working day after a date."""

    #: ``weekends-only`` for the stand-in; a real calendar names its signed record.
    name: str

    def is_working_day(self, day: date) -> bool: ...

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``start`` itself not counted)."""
        ...


class WeekendsOnlyCalendar:
    """Monday to Friday are working days; no holiday, no make-up day. A stand-in only."""

    name = "weekends-only"

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        if days < 0:
            raise ValueError("a time limit is a non-negative number of working days")
        day, left = start, days
        while left:
            day += timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day
