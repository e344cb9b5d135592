"""The working-day calendar: which dates are working days, from signed calendar records.

A region's root publishes one :class:`CalendarYear` per year (``calendar_published`` key
record, docs/supervision.md §2): the weekdays that are holidays and the weekend days that are
make-up working days (调休). A record scoped to ``divisions`` adds a place's local holidays
(凉山's 彝族年, 甘孜 and 阿坝's 藏历新年) on top of the region's year for cases whose
jurisdiction lies in those divisions.

A date in a year with no published regional calendar is never guessed: it counts by weekends
only and everything computed from it is *provisional* (:attr:`Count.provisional`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CHINA",
    "CalendarBook",
    "CalendarError",
    "CalendarYear",
    "Count",
    "DateCalendar",
    "WorkingCalendar",
    "china_date",
    "division_covers",
]

#: China Standard Time: a leg starts on the China date of a receipt time.
CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
_SATURDAY = 5


class CalendarError(ValueError):
    """A calendar year that is malformed; ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def china_date(micros: int) -> dt.date:
    """The China (+08:00) date of a receipt time in microseconds since the epoch."""
    return dt.datetime.fromtimestamp(micros / 1_000_000, tz=CHINA).date()


def division_covers(division: str, jurisdiction: str) -> bool:
    """Whether a GB/T 2260 division covers a place: ``510000`` the province, ``513400`` the
    prefecture 凉山 (its counties ``5134xx``), ``513401`` that county only."""
    if division.endswith("0000"):
        return jurisdiction[:2] == division[:2]
    if division.endswith("00"):
        return jurisdiction[:4] == division[:4]
    return jurisdiction == division


def _parse_days(value: object, name: str, year: int) -> frozenset[dt.date]:
    if not isinstance(value, list | tuple):
        raise CalendarError(f"{name} must be a list of ISO dates", field=name)
    days: list[dt.date] = []
    for n, text in enumerate(value):
        try:
            if not isinstance(text, str) or len(text) != 10:
                raise ValueError(text)
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise CalendarError(
                f"{name}[{n}] is not an ISO date (YYYY-MM-DD)", field=name
            ) from None
        if day.year != year:
            raise CalendarError(f"{name}[{n}] {day} is not in year {year}", field=name)
        days.append(day)
    if days != sorted(set(days)):
        raise CalendarError(f"{name} must be sorted and without repeats", field=name)
    return frozenset(days)


@dataclass(frozen=True)
class CalendarYear:
    """One published year: the region's (``divisions`` empty) or a place's local holidays.

    ``holidays`` are Monday–Friday dates that are not working days; ``workdays`` are Saturdays
    and Sundays that are (调休). One spelling only: a weekend holiday or a weekday "workday"
    changes nothing and is refused, so two publishers of the same year sign the same bytes.
    """

    region: str
    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date] = frozenset()
    divisions: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if not 1949 < self.year < 10000:
            raise CalendarError(f"year {self.year} is out of range", field="year")
        for day in self.holidays:
            if day.year != self.year or day.weekday() >= _SATURDAY:
                raise CalendarError(
                    f"holiday {day} must be a Monday–Friday date of {self.year}", field="holidays"
                )
        for day in self.workdays:
            if day.year != self.year or day.weekday() < _SATURDAY:
                raise CalendarError(
                    f"make-up workday {day} must be a Saturday or Sunday of {self.year}",
                    field="workdays",
                )
        if list(self.divisions) != sorted(set(self.divisions)):
            raise CalendarError("divisions must be sorted and without repeats", field="divisions")
        for code in self.divisions:
            if len(code) != 6 or not code.isdigit() or code[:2] != self.region[:2]:
                raise CalendarError(
                    f"division {code!r} is not a 6-digit code of region {self.region}",
                    field="divisions",
                )

    @property
    def local(self) -> bool:
        return bool(self.divisions)

    def to_body(self) -> dict[str, Any]:
        """The body of its ``calendar_published`` record (dates as ISO text, sorted)."""
        return {
            "year": self.year,
            "holidays": [d.isoformat() for d in sorted(self.holidays)],
            "workdays": [d.isoformat() for d in sorted(self.workdays)],
            "divisions": list(self.divisions),
            "source": self.source,
        }

    @classmethod
    def from_body(cls, region: str, body: Mapping[str, Any]) -> CalendarYear:
        """Read a record body; :class:`CalendarError` names the field that is wrong."""
        year = body.get("year")
        if not isinstance(year, int) or isinstance(year, bool):
            raise CalendarError("year must be an integer", field="year")
        divisions = body.get("divisions", [])
        if not isinstance(divisions, list) or not all(isinstance(c, str) for c in divisions):
            raise CalendarError("divisions must be a list of codes", field="divisions")
        source = body.get("source", "")
        if not isinstance(source, str) or len(source) > 500:
            raise CalendarError("source is text of at most 500 characters", field="source")
        return cls(
            region=region,
            year=year,
            holidays=_parse_days(body.get("holidays"), "holidays", year),
            workdays=_parse_days(body.get("workdays", []), "workdays", year),
            divisions=tuple(divisions),
            source=source,
        )


@dataclass(frozen=True)
class Count:
    """A date or a number of working days, and whether it rests on an unpublished year."""

    value: Any
    provisional: bool


@dataclass(frozen=True)
class WorkingCalendar:
    """The working days of one place: its region's published years plus its local ones."""

    years: Mapping[int, CalendarYear] = field(default_factory=dict)
    local: Sequence[CalendarYear] = ()

    def published(self, day: dt.date) -> bool:
        """Whether the region has published the year of ``day``."""
        return day.year in self.years

    def is_working_day(self, day: dt.date) -> bool:
        """Weekdays minus holidays plus make-up workdays; weekends only in unpublished years
        (check :meth:`published` before relying on the answer)."""
        year = self.years.get(day.year)
        if year is not None and day in year.workdays:
            working = True
        elif year is not None and day in year.holidays:
            working = False
        else:
            working = day.weekday() < _SATURDAY
        # A place's local record adds its own days off (and make-up days) on top.
        if any(day in extra.holidays for extra in self.local):
            return False
        return working or any(day in extra.workdays for extra in self.local)

    def add_working_days(
        self, start: dt.date, days: int, paused: Iterable[tuple[dt.date, dt.date]] = ()
    ) -> Count:
        """The ``days``-th working day after ``start`` (the start day not counted), skipping
        the working days inside each paused span ``(after, through]``. ``Count.value`` is the
        date; provisional when any day counted lies in an unpublished year."""
        spans = tuple(paused)
        day, left, provisional = start, days, False
        while left > 0:
            day += dt.timedelta(days=1)
            provisional = provisional or not self.published(day)
            if self.is_working_day(day) and not _inside(day, spans):
                left -= 1
        return Count(day, provisional)

    def working_days(self, after: dt.date, through: dt.date) -> Count:
        """The working days in ``(after, through]`` (0 when ``through <= after``)."""
        total, provisional, day = 0, False, after
        while day < through:
            day += dt.timedelta(days=1)
            provisional = provisional or not self.published(day)
            total += self.is_working_day(day)
        return Count(total, provisional)


@dataclass(frozen=True)
class DateCalendar:
    """A :class:`WorkingCalendar` answering plain dates, for callers that count deadlines
    without reporting provisional ones (rectification deadlines, 好差评): ``name`` says which
    calendar it is, ``provisional`` whether any answer so far rested on an unpublished year
    is not tracked — use :class:`WorkingCalendar` for that."""

    calendar: WorkingCalendar
    name: str

    def is_working_day(self, day: dt.date) -> bool:
        return self.calendar.is_working_day(day)

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The ``days``-th working day after ``start`` (``start`` itself not counted)."""
        if days < 0:
            raise ValueError("a time limit is a non-negative number of working days")
        counted: dt.date = self.calendar.add_working_days(start, days).value
        return counted


def _inside(day: dt.date, spans: Sequence[tuple[dt.date, dt.date]]) -> bool:
    return any(after < day <= through for after, through in spans)


class CalendarBook:
    """Every calendar year published for the regions a node trusts (newest record wins).

    A later record for the same region, year and divisions replaces the earlier one: the State
    Council has corrected an announced year before, and deadlines are recomputed from the
    calendar as published, never frozen.
    """

    def __init__(self, years: Iterable[CalendarYear] = ()) -> None:
        self._years: dict[tuple[str, int, tuple[str, ...]], CalendarYear] = {}
        for year in years:
            self.publish(year)

    def publish(self, year: CalendarYear) -> None:
        self._years[(year.region, year.year, year.divisions)] = year

    def years(self, region: str | None = None) -> list[CalendarYear]:
        """The published years, sorted by region, year and divisions."""
        return [self._years[key] for key in sorted(self._years) if region in (None, key[0])]

    def get(self, region: str, year: int, divisions: Sequence[str] = ()) -> CalendarYear | None:
        return self._years.get((region, year, tuple(divisions)))

    def for_place(self, region: str, jurisdiction: str = "") -> WorkingCalendar:
        """The calendar of a case: its region's years, plus the local years whose divisions
        cover its jurisdiction (a place with no local record gets the region's)."""
        regional = {
            y.year: y for (r, _, divs), y in self._years.items() if r == region and not divs
        }
        local = tuple(
            y
            for (r, _, divs), y in sorted(self._years.items())
            if r == region and divs and any(division_covers(d, jurisdiction) for d in divs)
        )
        return WorkingCalendar(regional, local)

    def dates_for_place(self, region: str, jurisdiction: str = "") -> DateCalendar:
        """:meth:`for_place` answering plain dates, named after what it was built from."""
        calendar = self.for_place(region, jurisdiction)
        years = ",".join(str(y) for y in sorted(calendar.years)) or "none"
        return DateCalendar(calendar, f"published {region} years {years}")
