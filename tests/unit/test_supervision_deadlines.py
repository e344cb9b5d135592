"""Deadlines across real holiday periods with 调休, against dates counted by hand.

The counts in the comments are the hand computation (the start day not counted; 调休 Saturdays
and Sundays count; weekday holidays do not). The calendar is the one the region's root
publishes, seeded from the State Council's announcements (adapters.calendar_seed).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from adapters.calendar_seed import UnannouncedYear, seed_year
from ledger.calendars import CalendarBook, CalendarError, CalendarYear, WorkingCalendar

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "supervision" / "deadlines.json"
D = dt.date.fromisoformat


def _published(*years: int) -> WorkingCalendar:
    return CalendarBook(seed_year("510000", y) for y in years).for_place("510000", "510104")


def test_spring_festival_2025_counts_the_makeup_sunday() -> None:
    # Start Fri 01-24. Sun 01-26 (调休) 1, Mon 01-27 2; 01-28..02-04 off; 02-05 3, 02-06 4,
    # 02-07 5. Without the make-up Sunday it would be Sat 02-08, itself a make-up day.
    counted = _published(2025).add_working_days(D("2025-01-24"), 5)
    assert counted.value == D("2025-02-07")
    assert not counted.provisional


def test_labour_day_2025() -> None:
    # Start Fri 04-25. Sun 04-27 (调休) 1, 04-28 2, 04-29 3, 04-30 4; 05-01..05-05 off; 05-06 5.
    calendar = _published(2025)
    assert calendar.add_working_days(D("2025-04-25"), 4).value == D("2025-04-30")
    assert calendar.add_working_days(D("2025-04-25"), 5).value == D("2025-05-06")


def test_national_day_2025_counts_the_makeup_saturday() -> None:
    # Start Fri 09-26. Sun 09-28 (调休) 1, 09-29 2, 09-30 3; 10-01..10-08 off; 10-09 4,
    # 10-10 5, Sat 10-11 (调休) 6.
    assert _published(2025).add_working_days(D("2025-09-26"), 6).value == D("2025-10-11")


def test_spring_festival_2026_twenty_days() -> None:
    # Start Fri 02-13. Sat 02-14 (调休) 1; 02-15..02-23 off; 02-24..02-27 2-5; Sat 02-28 (调休)
    # 6; then five days a week: 03-02..03-06 7-11, 03-09..03-13 12-16, 03-16..03-19 17-20.
    assert _published(2026).add_working_days(D("2026-02-13"), 20).value == D("2026-03-19")


def test_pause_excludes_working_days_after_pausing_through_resuming() -> None:
    # Started Mon 09-22, suspended Thu 09-25, resumed Thu 10-09. Excluded: 09-26, Sun 09-28
    # (调休), 09-29, 09-30, 10-09 = 5. Counted: 09-23 1, 09-24 2, 09-25 3, 10-10 4,
    # Sat 10-11 (调休) 5, 10-13..10-17 6-10.
    calendar = _published(2025)
    pause = (D("2025-09-25"), D("2025-10-09"))
    assert calendar.add_working_days(D("2025-09-22"), 10, [pause]).value == D("2025-10-17")
    assert calendar.working_days(*pause).value == 5


def test_a_year_without_calendar_is_provisional_then_recomputed() -> None:
    # 2026 published, 2027 not: Fri 2027-01-01 counts as a weekday, provisionally.
    book = CalendarBook([seed_year("510000", 2026)])
    counted = book.for_place("510000", "510104").add_working_days(D("2026-12-28"), 5)
    assert (counted.value, counted.provisional) == (D("2027-01-04"), True)
    # Once 2027 is published (here: New Year's Day off), the deadline moves and is final.
    book.publish(CalendarYear("510000", 2027, frozenset({D("2027-01-01")})))
    counted = book.for_place("510000", "510104").add_working_days(D("2026-12-28"), 5)
    assert (counted.value, counted.provisional) == (D("2027-01-05"), False)


def test_the_seed_refuses_an_unannounced_year() -> None:
    with pytest.raises(UnannouncedYear):
        seed_year("510000", 2099)


def test_local_holidays_apply_only_inside_their_divisions() -> None:
    # 凉山 (513400): a local day off on Thu 2025-11-20 (illustrative date).
    book = CalendarBook(
        [
            seed_year("510000", 2025),
            CalendarYear("510000", 2025, frozenset({D("2025-11-20")}), divisions=("513400",)),
        ]
    )
    liangshan = book.for_place("510000", "513401")
    chengdu = book.for_place("510000", "510104")
    assert not liangshan.is_working_day(D("2025-11-20"))
    assert chengdu.is_working_day(D("2025-11-20"))
    assert liangshan.add_working_days(D("2025-11-19"), 1).value == D("2025-11-21")
    assert chengdu.add_working_days(D("2025-11-19"), 1).value == D("2025-11-20")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"year": 2025, "holidays": ["2025-10-04"]}, "holidays"),  # a Saturday
        ({"year": 2025, "holidays": [], "workdays": ["2025-10-09"]}, "workdays"),  # a Thursday
        ({"year": 2025, "holidays": ["2026-01-01"]}, "holidays"),  # another year
        ({"year": 2025, "holidays": ["2025-10-02", "2025-10-01"]}, "holidays"),  # unsorted
        ({"year": 2025, "holidays": ["2025-1-1"]}, "holidays"),
        ({"year": "2025", "holidays": []}, "year"),
        ({"year": 2025, "holidays": [], "divisions": ["320100"]}, "divisions"),
    ],
)
def test_malformed_calendar_names_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(CalendarError) as caught:
        CalendarYear.from_body("510000", body)
    assert caught.value.field == field


def test_deadline_vectors() -> None:
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    years = [CalendarYear.from_body("510000", body) for body in vectors["calendars"].values()]
    calendar = CalendarBook(years).for_place("510000", "510104")
    for case in vectors["deadlines"]:
        pauses = [(D(a), D(b)) for a, b in case["pauses"]]
        counted = calendar.add_working_days(D(case["start"]), case["days"], pauses)
        assert (counted.value.isoformat(), counted.provisional) == (
            case["deadline"],
            case["provisional"],
        ), case["name"]
        if "paused_days" in case:
            assert sum(calendar.working_days(a, b).value for a, b in pauses) == case["paused_days"]


def test_vector_calendars_are_the_announced_years() -> None:
    """The vectors' calendars equal what the seed reads from the announcements."""
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    for year, body in vectors["calendars"].items():
        seeded = seed_year("510000", int(year)).to_body()
        assert {**seeded, "source": body["source"]} == body


def test_plain_dates_for_rectification_deadlines() -> None:
    """The view ratings count rectification deadlines on (name, is_working_day, dates)."""
    book = CalendarBook([seed_year("510000", 2025)])
    plain = book.dates_for_place("510000", "510104")
    assert plain.name == "published 510000 years 2025"
    assert plain.add_working_days(D("2025-09-26"), 6) == D("2025-10-11")
    assert plain.is_working_day(D("2025-09-28")) and not plain.is_working_day(D("2025-10-01"))
    with pytest.raises(ValueError, match="non-negative"):
        plain.add_working_days(D("2025-09-26"), -1)
