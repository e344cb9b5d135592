"""A supervisor's scope, "as of" dates and the status of a stored deadline at query time
(``ledger.supervision.watch``; docs/supervision.md §7), on dates worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from ledger.calendars import CalendarBook, CalendarYear, WorkingCalendar
from ledger.supervision.watch import (
    ScopeError,
    Watched,
    alerts_due,
    parse_as_of,
    parse_scope,
    scope_covers,
    status_at,
    working_days_left,
)

D = dt.date.fromisoformat
NOW = dt.datetime(2025, 10, 9, 17, 0, tzinfo=dt.UTC)  # 2025-10-10 01:00 in China

# The State Council's 2025 announcement, by hand (docs/supervision.md §4.6, §4.7): Spring
# Festival's weekday holidays and make-up Sunday 01-26 and Saturday 02-08; National Day's
# weekday holidays and make-up Sunday 09-28 and Saturday 10-11.
YEAR_2025 = CalendarYear(
    "510000",
    2025,
    holidays=frozenset(
        D(d)
        for d in (
            "2025-01-28",
            "2025-01-29",
            "2025-01-30",
            "2025-01-31",
            "2025-02-03",
            "2025-02-04",
            "2025-10-01",
            "2025-10-02",
            "2025-10-03",
            "2025-10-06",
            "2025-10-07",
            "2025-10-08",
        )
    ),
    workdays=frozenset(D(d) for d in ("2025-01-26", "2025-02-08", "2025-09-28", "2025-10-11")),
)


@pytest.fixture
def calendar() -> WorkingCalendar:
    return CalendarBook([YEAR_2025]).for_place("510000", "510104")


def _status(deadline: str, as_of: str, calendar: WorkingCalendar, **flags: bool) -> str:
    return status_at(
        D(deadline),
        closed=flags.get("closed", False),
        provisional=flags.get("provisional", False),
        as_of=D(as_of),
        calendar=calendar,
    )


@pytest.mark.parametrize(
    ("as_of", "deadline", "left", "status", "weekends_only"),
    [
        # Spring Festival: from Mon 01-27 the next working day is Wed 02-05 (01-28 … 02-04 off).
        ("2025-01-27", "2025-02-05", 1, "due_soon", "on_time"),
        # After it: Fri 02-07 (1), make-up Sat 02-08 (2), Mon 02-10 (3).
        ("2025-02-06", "2025-02-10", 3, "on_time", "due_soon"),
        # National Day: make-up Sun 09-28 (1), 09-29 (2), 09-30 (3), then Thu 10-09 (4).
        ("2025-09-26", "2025-10-09", 4, "on_time", "on_time"),
        ("2025-09-29", "2025-10-09", 2, "due_soon", "on_time"),
        # The deadline itself: 0 left, still due; the next day overdue (a holiday or not).
        ("2025-10-09", "2025-10-09", 0, "due_soon", "due_soon"),
        ("2025-10-10", "2025-10-09", 0, "overdue", "overdue"),
        ("2025-10-02", "2025-10-01", 0, "overdue", "overdue"),
    ],
)
def test_the_status_is_judged_at_query_time_on_the_calendar(
    calendar: WorkingCalendar,
    as_of: str,
    deadline: str,
    left: int,
    status: str,
    weekends_only: str,
) -> None:
    assert working_days_left(calendar, D(as_of), D(deadline)) == (
        left if D(as_of) <= D(deadline) else 0
    )
    assert _status(deadline, as_of, calendar) == status
    # The same stored row on a region that published no 2025: the holidays and make-up days
    # are what changed the answer.
    assert _status(deadline, as_of, CalendarBook().for_place("510000", "510104")) == weekends_only


def test_closed_provisional_and_unlimited_rows(calendar: WorkingCalendar) -> None:
    assert _status("2025-10-09", "2025-12-01", calendar, closed=True) == "closed"
    # A deadline resting on an unpublished year: never due_soon (it may move), overdue once
    # passed (that day is known).
    assert _status("2027-01-04", "2026-12-31", calendar, provisional=True) == "provisional"
    assert _status("2027-01-04", "2027-01-05", calendar, provisional=True) == "overdue"
    assert (
        status_at(None, closed=False, provisional=False, as_of=D("2025-10-10"), calendar=calendar)
        == "no_deadline"
    )


def test_alerts_are_due_soon_or_overdue_in_deadline_order(calendar: WorkingCalendar) -> None:
    rows = [
        Watched("leg", "c1", "decision", "510104-RS", "510000/1/5", D("2025-10-09")),
        Watched("leg", "c2", "acceptance", "510104-RS", "510000/1/5", D("2025-10-17")),
        Watched("rectification", "c3", "verify", "510104-RS", "510000/1/5", D("2025-09-30")),
        Watched("leg", "c4", "check", "510104-RS", "510000/1/5", D("2025-10-13"), True),
    ]
    found = alerts_due(rows, D("2025-10-09"), lambda body: calendar)
    assert [(a.case_id, a.status, a.as_of) for a in found] == [
        ("c3", "overdue", D("2025-10-09")),
        ("c1", "due_soon", D("2025-10-09")),
    ]
    assert found[0].key == ("rectification", "c3", "verify", "overdue", "2025-09-30")


def test_as_of_is_a_china_date_or_a_clear_refusal() -> None:
    assert parse_as_of(None, NOW) == D("2025-10-10")
    assert parse_as_of("2025-10-09", NOW) == D("2025-10-09")
    assert parse_as_of("2025-10-09T17:00:00Z", NOW) == D("2025-10-10")
    assert parse_as_of("2025-10-10T07:59:59+08:00", NOW) == D("2025-10-10")
    for text, why in (
        ("2025-10-10T09:00:00", "has no offset"),
        ("yesterday", "is not an ISO date"),
        ("2025-02-30", "is not an ISO date"),
    ):
        with pytest.raises(ScopeError, match=why) as error:
            parse_as_of(text, NOW)
        assert error.value.field == "as_of"


def test_a_scope_is_divisions_of_the_region() -> None:
    assert parse_scope(" 510104,510000,510104 ", "510000") == ("510000", "510104")
    for text, why in (
        ("", "at least one"),
        ("5101", "6-digit"),
        ("510100,320100", "outside region 510000"),
    ):
        with pytest.raises(ScopeError, match=why) as error:
            parse_scope(text, "510000")
        assert error.value.field == "scope"
    assert scope_covers(("510100",), "510104")  # 成都 covers 锦江区
    assert not scope_covers(("510100",), "510000")  # not the province's own bodies
    assert not scope_covers(("510104",), "510105")
    assert scope_covers(("510000",), "513401")  # the region covers every county
    assert not scope_covers(("510000",), "")
