"""Seeding a year's working-day calendar from the ``chinesecalendar`` package.

The package carries the State Council's announcements (holidays and 调休) and refuses a year
it has not been told about, which is what a deadline needs: never a guess
(docs/supervision.md §2 says why not ``holidays`` or ``workalendar``).
"""

from __future__ import annotations

import datetime as dt

import chinese_calendar

from ledger.calendars import CalendarYear

__all__ = ["SOURCE", "UnannouncedYear", "seed_year"]

SOURCE = f"国务院办公厅放假安排 (chinesecalendar {chinese_calendar.__version__})"


class UnannouncedYear(LookupError):
    """The package has no announcement for this year (yet)."""


def seed_year(region: str, year: int) -> CalendarYear:
    """The national calendar of ``year`` for ``region``: weekday holidays, weekend workdays."""
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    try:
        holidays = chinese_calendar.get_holidays(first, last, include_weekends=False)
        workdays = chinese_calendar.get_workdays(first, last, include_weekends=True)
    except NotImplementedError as error:
        raise UnannouncedYear(f"no announced holiday arrangement for {year}: {error}") from None
    return CalendarYear(
        region=region,
        year=year,
        holidays=frozenset(d for d in holidays if d.weekday() < 5),
        workdays=frozenset(d for d in workdays if d.weekday() >= 5),
        source=SOURCE,
    )
