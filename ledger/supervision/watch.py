"""What a supervisor watches: scopes of GB/T 2260 divisions, "as of" dates, the status of a stored
deadline at query time and the alerts a scheduler records (docs/supervision.md §6, §7).

Pure functions over plain values: the routes and the scheduler give them the rows the read
models stored (a deadline date, a closed flag) and a :class:`~ledger.calendars.WorkingCalendar`;
nothing here reads a database. No personal data is touched: a row names a case, a leg or a
rectification stage, a body, an item and dates.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.calendars import CHINA, division_covers

#: At most this many working days left: ``due_soon`` (the engine's ``DUE_SOON_DAYS``).
DUE_SOON_DAYS = 2
#: Calendar days after "as of" that always hold :data:`DUE_SOON_DAYS` working days, even across
#: the longest break (Spring Festival, 9 days off): the range a due-soon query reads.
DUE_SOON_HORIZON = dt.timedelta(days=21)
ALERT_STATUSES = ("due_soon", "overdue")
ALERT_SOURCES = ("leg", "rectification")
_DIVISION = re.compile(r"[1-9][0-9]{5}")
MAX_SCOPE = 64


class ScopeError(ValueError):
    """A supervisor's scope or an "as of" that cannot be read; ``field`` names the input."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def parse_scope(text: str, region: str, *, field: str = "scope") -> tuple[str, ...]:
    """``510000`` (the region) or ``510104,510105`` (divisions): sorted, deduplicated GB/T 2260
    codes of ``region`` (its first two digits). A supervisor's token names its scope so."""
    codes = sorted({part.strip() for part in text.split(",") if part.strip()})
    if not codes:
        raise ScopeError("a supervisor's scope names at least one division", field=field)
    if len(codes) > MAX_SCOPE:
        raise ScopeError(f"a scope names at most {MAX_SCOPE} divisions", field=field)
    for code in codes:
        if not _DIVISION.fullmatch(code):
            raise ScopeError(f"{code!r} is not a 6-digit GB/T 2260 division code", field=field)
        if region and code[:2] != region[:2]:
            raise ScopeError(f"division {code} is outside region {region}", field=field)
    return tuple(codes)


def scope_covers(scope: Sequence[str], division: str) -> bool:
    """Whether a scope covers a body whose division is ``division`` (§2.2's rule: ``510000``
    the province, ``510100`` the prefecture, ``510104`` that county only)."""
    return bool(division) and any(division_covers(code, division) for code in scope)


def parse_as_of(text: str | None, now: dt.datetime, *, field: str = "as_of") -> dt.date:
    """The China date of an "as of": an ISO date (China's) or an instant with its offset
    (``2025-10-10T09:00:00+08:00``, ``...Z``); ``None`` is ``now``'s China date."""
    if text is None:
        return now.astimezone(CHINA).date()
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ScopeError(
            f"{field} {text!r} is not an ISO date (2025-10-10) or an instant with its offset "
            "(2025-10-10T09:00:00+08:00)",
            field=field,
        ) from None
    if moment.tzinfo is None:
        raise ScopeError(f"{field} {text!r} has no offset (add +08:00 or Z)", field=field)
    return moment.astimezone(CHINA).date()


class Days(Protocol):
    """A place's working days (:class:`~ledger.calendars.WorkingCalendar` fits)."""

    def is_working_day(self, day: dt.date) -> bool: ...


def working_days_left(calendar: Days, as_of: dt.date, deadline: dt.date) -> int:
    """Working days in ``(as_of, deadline]``: 0 on the deadline itself."""
    day, left = as_of, 0
    while day < deadline:
        day += dt.timedelta(days=1)
        left += calendar.is_working_day(day)
    return left


def status_at(
    deadline: dt.date | None,
    *,
    closed: bool,
    provisional: bool,
    as_of: dt.date,
    calendar: Days,
) -> str:
    """A stored open row's status at ``as_of``, never stored: ``overdue`` after the deadline,
    ``due_soon`` with at most :data:`DUE_SOON_DAYS` working days left, ``provisional`` when
    the deadline rests on an unpublished year (an overdue row stays overdue), else
    ``on_time``; ``closed`` for a closed row; ``no_deadline`` for an open row stored without a
    deadline (a paused leg, whose clock stands still, or one no limit applies to)."""
    if closed:
        return "closed"
    if deadline is None:
        return "no_deadline"
    if as_of > deadline:
        return "overdue"
    if provisional:
        return "provisional"
    if working_days_left(calendar, as_of, deadline) <= DUE_SOON_DAYS:
        return "due_soon"
    return "on_time"


@dataclass(frozen=True)
class Watched:
    """An open dated row a scheduler looks at: a case leg or a rectification stage."""

    source: str  # "leg" or "rectification"
    case_id: str  # hex UUID
    name: str  # the leg's or the stage's name
    body: str  # the body it waits on
    item: str
    deadline: dt.date
    provisional: bool = False


@dataclass(frozen=True)
class Alert:
    """An alert as recorded: one per (source, case, name, status, deadline), so a scan run
    twice records nothing new, and a deadline that moves (a pause, a calendar published) is
    alerted again. ``seq`` is the feed's cursor (0 before it is recorded)."""

    source: str
    case_id: str
    name: str
    body: str
    item: str
    status: str
    deadline: dt.date
    as_of: dt.date  # the scan's China date that found it
    seq: int = 0
    recorded_at: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.source, self.case_id, self.name, self.status, self.deadline.isoformat())

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "source": self.source,
            "case_id": self.case_id,
            "name": self.name,
            "body": self.body,
            "item": self.item,
            "status": self.status,
            "deadline": self.deadline.isoformat(),
            "as_of": self.as_of.isoformat(),
            "recorded_at": self.recorded_at,
        }


def alerts_due(
    rows: Iterable[Watched], as_of: dt.date, calendar_of: Callable[[str], Days]
) -> list[Alert]:
    """The alerts ``rows`` call for at ``as_of``: ``overdue`` and ``due_soon`` ones, in deadline
    order. ``calendar_of(body)`` gives the working days of the body's place."""
    found = []
    for row in rows:
        status = status_at(
            row.deadline,
            closed=False,
            provisional=row.provisional,
            as_of=as_of,
            calendar=calendar_of(row.body),
        )
        if status in ALERT_STATUSES:
            found.append(
                Alert(
                    row.source,
                    row.case_id,
                    row.name,
                    row.body,
                    row.item,
                    status,
                    row.deadline,
                    as_of,
                )
            )
    return sorted(found, key=lambda a: (a.deadline, a.source, a.case_id, a.name, a.status))
