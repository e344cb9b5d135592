"""The deadline engine: legs of a case from its steps, judged at an "as of" date.

Dates are counted by hand in the comments (docs/supervision.md §4); the calendars are the
announced 2025 and 2026 years.
"""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.calendar_seed import seed_year
from ledger.calendars import CHINA, CalendarBook, CalendarYear, WorkingCalendar
from ledger.catalog import load_catalog
from ledger.catalog_limits import LegTimeLimit
from ledger.supervision import Leg, ServiceStandard, StepFact, case_legs, judge, limits_for

D = dt.date.fromisoformat
CALENDAR: WorkingCalendar = CalendarBook(seed_year("510000", y) for y in (2025, 2026)).for_place(
    "510000", "510104"
)
ITEM = load_catalog("510000").item(1, 5)
PERMIT = (
    load_catalog("510000")
    .amended([{"item": ITEM.item_key, "field": "item_type", "value": "行政许可"}])
    .item(1, 5)
)


def at(day: str, hour: int = 10) -> int:
    """A receipt time in microseconds: ``day`` at ``hour`` China time."""
    moment = dt.datetime.combine(D(day), dt.time(hour), tzinfo=CHINA)
    return int(moment.timestamp() * 1_000_000)


def steps(*taken: tuple[str, str] | tuple[str, str, dict[str, object]]) -> list[StepFact]:
    return [
        StepFact(seq, t[0], at(t[1]), t[2] if len(t) > 2 else {})
        for seq, t in enumerate(taken, start=1)
    ]


def legs_of(facts: list[StepFact], *, item: object = PERMIT, channel: str = "online") -> list[Leg]:
    limits = limits_for(item, "single", ServiceStandard())  # type: ignore[arg-type]
    return case_legs(
        facts, channel=channel, coordination="single", limits=limits, calendar=CALENDAR
    )


def by_name(legs: list[Leg]) -> dict[str, Leg]:
    return {leg.name: leg for leg in legs}


def test_online_permit_across_spring_festival_2025() -> None:
    legs = by_name(
        legs_of(
            steps(
                ("received", "2025-01-23"),
                ("form_checked:pass", "2025-01-24"),
                ("accepted", "2025-01-27"),
                ("decided:approved", "2025-02-20"),
                ("delivered:online", "2025-02-21"),
            )
        )
    )
    # check: 1 day after Thu 01-23 → Fri 01-24, closed that day.
    assert (legs["check"].deadline, legs["check"].closed) == (D("2025-01-24"), D("2025-01-24"))
    # acceptance (Art. 32, 5 days) from Fri 01-24: Sun 01-26 (调休) 1, 01-27 2, 02-05..02-07.
    assert legs["acceptance"].deadline == D("2025-02-07")
    # decision from Mon 01-27, 20 days: 02-05..02-07 1-3, Sat 02-08 (调休) 4, 02-10..02-14 5-9,
    # 02-17..02-21 10-14, 02-24..02-28 15-19, 03-03 20.
    decision = legs["decision"]
    assert (decision.started, decision.deadline) == (D("2025-01-27"), D("2025-03-03"))
    assert decision.legal_deadline == D("2025-03-03")
    assert "第四十二条" in decision.legal_basis
    assert judge(decision, D("2025-03-10"), CALENDAR) == ("closed_on_time", False)
    # delivery: 10 days (Art. 44) from 02-20.
    assert legs["delivery"].deadline == D("2025-03-06")


def test_art_32_no_timely_notice_counts_from_arrival() -> None:
    # Arrived (form check passed) Fri 01-24; accepted only Mon 02-10, after the fifth working
    # day (02-07): the decision leg starts at 01-24. 20 days from 01-24: 01-26 1, 01-27 2,
    # 02-05..02-07 3-5, 02-08 6, 02-10..02-14 7-11, 02-17..02-21 12-16, 02-24..02-27 17-20.
    legs = by_name(
        legs_of(
            steps(
                ("received", "2025-01-23"),
                ("form_checked:pass", "2025-01-24"),
                ("accepted", "2025-02-10"),
            )
        )
    )
    assert judge(legs["acceptance"], D("2025-02-10"), CALENDAR)[0] == "closed_late"
    decision = legs["decision"]
    assert decision.deemed_from_arrival
    assert (decision.started, decision.deadline) == (D("2025-01-24"), D("2025-02-27"))


def test_art_32_does_not_apply_without_a_legal_acceptance_limit() -> None:
    legs = by_name(
        legs_of(
            steps(
                ("received", "2025-01-23"),
                ("form_checked:pass", "2025-01-24"),
                ("accepted", "2025-02-10"),
            ),
            item=ITEM,
        )
    )
    assert legs["decision"].started == D("2025-02-10")
    assert not legs["decision"].deemed_from_arrival
    assert legs["decision"].legal_deadline is None  # legal limit not sourced


def test_suspension_across_national_day_2025_and_extension() -> None:
    facts = steps(
        ("received", "2025-09-19"),
        ("form_checked:pass", "2025-09-19"),
        ("accepted", "2025-09-22"),
        ("suspended", "2025-09-25"),
        ("resumed", "2025-10-09"),
        ("extended", "2025-10-10", {"working_days": 5}),
    )
    decision = by_name(legs_of(facts))["decision"]
    # Paused: 09-26, Sun 09-28 (调休), 09-29, 09-30, 10-09 = 5 working days.
    assert decision.working_days_paused == 5
    assert decision.working_days_allowed == 25
    # 25 days from 09-22 without the pause: 09-23..09-25 1-3, 10-10 4, Sat 10-11 (调休) 5,
    # 10-13..10-17 6-10, 10-20..10-24 11-15, 10-27..10-31 16-20, 11-03..11-07 21-25.
    assert decision.deadline == D("2025-11-07")
    # Promised equals the statute here (20 + 5 extended): the legal deadline is the same day.
    assert (decision.legal_days_allowed, decision.legal_deadline) == (25, D("2025-11-07"))
    assert judge(decision, D("2025-11-05"), CALENDAR) == ("due_soon", False)
    assert judge(decision, D("2025-10-20"), CALENDAR) == ("on_time", False)
    assert judge(decision, D("2025-11-07"), CALENDAR) == ("due_soon", False)
    assert judge(decision, D("2025-11-10"), CALENDAR) == ("overdue", True)


def test_an_open_pause_moves_the_deadline_each_working_day() -> None:
    facts = steps(
        ("received", "2025-09-19"),
        ("form_checked:pass", "2025-09-19"),
        ("accepted", "2025-09-22"),
        ("suspended", "2025-09-25"),
    )
    decision = by_name(legs_of(facts))["decision"]
    assert decision.paused_since == D("2025-09-25")
    # Without the pause the deadline (20 days) would be 10-27 (overdue on 11-03); suspended
    # since 09-25, every working day to 11-03 is excluded.
    assert judge(decision, D("2025-11-03"), CALENDAR)[0] == "on_time"


def test_proxy_case_has_window_legs_and_closes_late() -> None:
    legs = legs_of(
        steps(
            ("received", "2026-02-12"),
            ("form_checked:pass", "2026-02-13"),
            ("mailed:window_to_home", "2026-02-13"),
            ("arrived", "2026-03-02"),
        ),
        channel="proxy",
    )
    assert [leg.name for leg in legs] == ["check", "mail", "acceptance"]
    mail = legs[1]
    # 3 days from Fri 02-13: Sat 02-14 (调休) 1; 02-15..02-23 off; 02-24 2, 02-25 3.
    assert mail.deadline == D("2026-02-25")
    assert judge(mail, D("2026-03-02"), CALENDAR) == ("closed_late", False)
    assert judge(legs[2], D("2026-03-02"), CALENDAR)[0] == "on_time"


def test_a_deadline_in_an_unpublished_year_is_provisional() -> None:
    decision = by_name(
        legs_of(
            steps(
                ("received", "2026-12-14"),
                ("form_checked:pass", "2026-12-14"),
                ("accepted", "2026-12-15"),
            )
        )
    )["decision"]
    assert decision.provisional
    assert judge(decision, D("2026-12-16"), CALENDAR)[0] == "provisional"
    # Published later: recomputed, no longer provisional.
    book = CalendarBook([seed_year("510000", 2026)])
    book.publish(CalendarYear("510000", 2027, frozenset({D("2027-01-01")})))
    again = case_legs(
        steps(
            ("received", "2026-12-14"),
            ("form_checked:pass", "2026-12-14"),
            ("accepted", "2026-12-15"),
        ),
        channel="online",
        coordination="single",
        limits=limits_for(PERMIT, "single", ServiceStandard()),
        calendar=book.for_place("510000", "510104"),
    )[-1]
    assert not again.provisional
    assert again.deadline == decision.deadline + dt.timedelta(days=1)


def test_receipt_time_is_taken_as_a_china_date() -> None:
    # 2025-01-23 17:00 UTC is 2025-01-24 01:00 in China.
    utc = dt.datetime(2025, 1, 23, 17, tzinfo=dt.UTC)
    fact = StepFact(1, "received", int(utc.timestamp() * 1_000_000))
    (check,) = case_legs(
        [fact],
        channel="online",
        coordination="single",
        limits=limits_for(ITEM, "single", ServiceStandard()),
        calendar=CALENDAR,
    )
    assert check.started == D("2025-01-24")


def test_catalog_limits_override_the_statute_within_it() -> None:
    amended = load_catalog("510000").amended(
        [
            {"item": ITEM.item_key, "field": "item_type", "value": "行政许可"},
            {
                "item": ITEM.item_key,
                "field": "time_limits",
                "value": [{"leg": "decision", "promised_days": 10}],
            },
        ]
    )
    limits = limits_for(amended.item(1, 5), "single", ServiceStandard())
    assert limits["decision"].promised_days == 10
    assert limits["decision"].legal_days == 20  # the statute's, kept
    assert limits["check"] == LegTimeLimit("check", 1)


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"leg": "decision", "promised_days": 30, "legal_days": 20, "legal_basis": "x"}, "exceeds"),
        ({"leg": "decision", "promised_days": 5, "legal_days": 20}, "basis"),
        ({"leg": "lunch", "promised_days": 5}, "leg must be one of"),
        ({"leg": "decision", "promised_days": 0}, "at least 1"),
    ],
)
def test_bad_time_limits_are_refused(entry: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        load_catalog("510000").amended(
            [{"item": ITEM.item_key, "field": "time_limits", "value": [entry]}]
        )


def test_packaged_catalog_versions_are_unchanged_by_structured_limits() -> None:
    catalog = load_catalog("510000")
    assert all("time_limits" not in item.to_dict() for item in catalog.items)
    cleared = catalog.amended([{"item": ITEM.item_key, "field": "time_limits", "value": []}])
    assert cleared.version == catalog.version


def test_a_leg_stands_still_only_when_paused_before_its_deadline_day() -> None:
    """One predicate for the stored rows (no deadline) and the progress page ("moves when it
    resumes"): paused before its last day; paused on that day or later it keeps the deadline
    and ``judge`` calls it overdue the next day."""
    day = dt.date.fromisoformat
    base = Leg("decision", day("2026-03-02"), 1, day("2026-03-12"), 8, 0, None, "")
    assert not base.stands_still
    assert Leg(**{**base.__dict__, "paused_since": day("2026-03-11")}).stands_still
    on_the_day = Leg(**{**base.__dict__, "paused_since": day("2026-03-12")})
    assert not on_the_day.stands_still
    calendar = WorkingCalendar()  # 2026 unpublished: weekends only, enough here
    assert judge(on_the_day, day("2026-03-13"), calendar)[0] == "overdue"
    closed = Leg(
        **{**base.__dict__, "paused_since": day("2026-03-11"), "closed": day("2026-03-11")}
    )
    assert not closed.stands_still
