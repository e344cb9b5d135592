"""Ratings and rectifications read from the ledger: per body, per case, and the monthly
bulletin (定期通报).

Everything here is recomputed from signed steps and their receipt times (no stored figure), so
anyone holding the ledger gets the same bulletin. Dates are China (+08:00) dates of receipt
times. The *rated body* is the case's home body when it was rated: it answers for the
rectification.

The bulletin's time-limit columns (on-time rate, overdue, median handling days) are the deadline
engine's (``ledger/supervision/``): :func:`bulletin_of` counts every case's legs as the ledger
stood at the month's end, on the catalog versions the cases pinned and the published calendars.
"""

from __future__ import annotations

import json
import statistics
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from ledger.application import LedgerApplication
from ledger.calendars import CalendarBook, china_date
from ledger.envelope import Envelope, parse_event
from ledger.errors import LedgerError
from ledger.keys import KeyRegistry
from ledger.ratings.rectification import (
    Stage,
    rectification_limits,
    rectification_stages,
    stages_late,
)
from ledger.read_models import (
    LEG_KIND,
    CaseDays,
    MonthLeg,
    RatedCase,
    RatingRows,
    ReadModelStore,
)
from ledger.receipts import parse_receipt
from ledger.reports import reading_registry, stored_cases
from ledger.supervision.cases import CaseLegs, supervise_stored
from ledger.supervision.legs import judge
from ledger.supervision.time_limits import ServiceStandard
from ledger.workflow import CaseState, advance
from ledger.workflow.fields import POOR_LEVELS, RATING_LEVELS
from ledger.workflow.table import RATEABLE_STATES

CLOSING_STATES = RATEABLE_STATES | {"withdrawn"}


@dataclass
class CaseRatings:
    """One case's rating and rectification, read from its steps."""

    case_id: uuid.UUID
    item: str
    home_body: str
    received: date | None = None
    closed: date | None = None  # the first time it entered a closed state
    level: str | None = None
    rated_body: str | None = None
    rated: date | None = None
    channel: str | None = None
    stages: list[Stage] = field(default_factory=list)
    rectification_closed: date | None = None

    @property
    def poor(self) -> bool:
        return self.level in POOR_LEVELS

    def rectification_open(self, as_of: date) -> bool:
        """A 差评 rated by ``as_of`` whose rectification was not closed by then."""
        return (
            self.poor
            and self.rated is not None
            and self.rated <= as_of
            and (self.rectification_closed is None or self.rectification_closed > as_of)
        )

    def rectification_late(self, as_of: date) -> bool:
        """Some stage started by ``as_of`` ended after its deadline, or is open past it then."""
        return stages_late(self.stages, as_of)


def _case_steps(app: LedgerApplication, case_id: uuid.UUID) -> Iterator[tuple[Envelope, int]]:
    for entry in app.stream_entries(case_id):
        try:
            yield parse_event(entry.envelope), parse_receipt(entry.receipt).time
        except LedgerError:
            continue  # the audit reports it; a bulletin reads what verifies


def case_ratings(
    app: LedgerApplication,
    case_id: uuid.UUID,
    calendars: CalendarBook | None = None,
) -> CaseRatings:
    """One case's rating and rectification; its stages counted on the calendars the
    region's root published for the case's place (``calendars``: the registry's)."""
    if calendars is None:
        calendars = published_calendars(app)
    steps = list(_case_steps(app, case_id))
    flow = CaseState()
    result: CaseRatings | None = None
    for envelope, received_at in steps:
        before = flow
        flow = advance(flow, envelope)
        day = china_date(received_at)
        if result is None:
            if flow.state == "start":
                continue
            result = CaseRatings(case_id, flow.item, flow.home_body, received=day)
        result.home_body = flow.home_body
        if flow.state in CLOSING_STATES and before.state != flow.state and result.closed is None:
            result.closed = day
        if envelope.type == "rated" and before.rating != flow.rating:
            result.level = envelope.body["level"]
            result.channel = envelope.body["channel"]
            result.rated, result.rated_body = day, flow.home_body
        if envelope.type == "rectification_closed" and before.rating != flow.rating:
            result.rectification_closed = day
    if result is None:
        return CaseRatings(case_id, "", "")
    region = app.home_region
    calendar = calendars.for_place(result.item.split("/")[0], flow.jurisdiction)
    result.stages = rectification_stages(steps, rectification_limits(region), calendar)
    return result


def all_case_ratings(
    app: LedgerApplication, calendars: CalendarBook | None = None
) -> list[CaseRatings]:
    """Every case's rating and rectification (the registry read once)."""
    if calendars is None:
        calendars = published_calendars(app)
    return [case_ratings(app, case_id, calendars) for case_id in app.case_ids()]


def rated_case_of(ratings: CaseRatings) -> RatedCase | None:
    """A case's rating as ``case_ratings`` stores it (None: not rated)."""
    if ratings.rated is None or ratings.level is None:
        return None
    return RatedCase(
        ratings.case_id,
        ratings.item,
        ratings.rated_body or ratings.home_body,
        ratings.level,
        ratings.rated,
        ratings.rectification_closed if ratings.poor else None,
        tuple(ratings.stages) if ratings.poor else (),
    )


def rating_rows_of(ratings: CaseRatings) -> RatingRows:
    """What ``case_ratings`` stores of a case: its days (None: no valid step) and rating."""
    days = None
    if ratings.received is not None:
        body = ratings.rated_body or ratings.home_body
        days = CaseDays(ratings.case_id, ratings.item, body, ratings.received, ratings.closed)
    return RatingRows(days, rated_case_of(ratings))


def all_rated_cases(
    app: LedgerApplication, calendars: CalendarBook | None = None
) -> list[RatedCase]:
    """Every rated case, replayed from the ledger (a node without read models)."""
    every = (rated_case_of(case) for case in all_case_ratings(app, calendars))
    return [rated for rated in every if rated is not None]


def _fresh_registry(app: LedgerApplication) -> KeyRegistry:
    if app.node_signer is not None:
        app.refresh_registry()  # a serving node: another worker may have appended records
    return reading_registry(app)


def counting_index(app: LedgerApplication) -> int:
    """The ledger index of the newest calendar or catalog amendment as the ledger holds it
    now: what a bulletin counted on changes only with it (a key record changes nothing)."""
    return _fresh_registry(app).counting_index


def published_calendars(app: LedgerApplication) -> CalendarBook:
    """The calendars the trusted regions' roots published, as the ledger holds them now (a
    serving node's registry refreshed first: another worker may have appended a year)."""
    return _fresh_registry(app).calendars


def calendar_name(calendars: CalendarBook, region: str) -> str:
    """Which calendar the working days were counted on: the region's published years."""
    years = [y.year for y in calendars.years(region) if not y.local]
    return f"published {region} years {','.join(map(str, years)) or 'none'}"


@dataclass(frozen=True)
class BodyRatings:
    """Per rated body: how its cases were rated and how its rectifications stand on ``as_of``."""

    body_id: str
    distribution: dict[str, int]
    rectifications_open: int
    rectifications_late: int
    rectifications_closed: int

    @property
    def total(self) -> int:
        return sum(self.distribution.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "body": self.body_id,
            "ratings": self.total,
            "distribution": self.distribution,
            "rectifications_open": self.rectifications_open,
            "rectifications_late": self.rectifications_late,
            "rectifications_closed": self.rectifications_closed,
        }


def body_ratings(rated: Iterable[RatedCase], as_of: date) -> list[BodyRatings]:
    """Rating distribution and rectifications per rated body, on ``as_of``."""
    by_body: dict[str, list[RatedCase]] = {}
    for case in rated:
        if case.rated <= as_of:
            by_body.setdefault(case.body, []).append(case)
    out = []
    for body_id in sorted(by_body):
        given = by_body[body_id]
        counts = Counter(c.level for c in given)
        out.append(
            BodyRatings(
                body_id,
                {level: counts.get(level, 0) for level in RATING_LEVELS},
                sum(c.open_on(as_of) for c in given),
                sum(c.open_on(as_of) and c.late(as_of) for c in given),
                sum(c.closed_on is not None and c.closed_on <= as_of for c in given),
            )
        )
    return out


# -- the monthly bulletin (定期通报) --------------------------------------------------------------


BULLETIN_COLUMNS = (
    "month",
    "body",
    "item",
    "cases_received",
    "cases_closed",
    "legs_closed",
    "on_time_rate",
    "overdue",
    "median_handling_days",
    "ratings",
    *RATING_LEVELS,
    "satisfaction_rate",
    "rectifications_opened",
    "rectifications_closed",
    "rectifications_open",
    "rectifications_late",
    "rectification_on_time_rate",
)
NO_DEADLINE_ENGINE = (
    "legs_closed, on_time_rate, overdue and median_handling_days are empty: no legs were given "
    "(bulletin_of reads them from the ledger)"
)


# Kept bulletins (``adapters.supervision.bulletin_for``) are keyed by this: change it with
# anything that changes what :func:`monthly_bulletin` computes (2: rows of zeros left out).
BULLETIN_FORMAT = 2
# A row is shown when one of these counts something in the month.
COUNTED_COLUMNS = (
    "cases_received",
    "cases_closed",
    "legs_closed",
    "overdue",
    "ratings",
    "rectifications_opened",
    "rectifications_closed",
    "rectifications_open",
)


@dataclass(frozen=True)
class Bulletin:
    month: str  # YYYY-MM
    rows: list[dict[str, object]]
    notes: list[str]
    calendar: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "month": self.month,
                "calendar": self.calendar,
                "notes": self.notes,
                "rows": self.rows,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Bulletin:
        stored = json.loads(text)
        return cls(stored["month"], stored["rows"], stored["notes"], stored["calendar"])


def month_bounds(month: str) -> tuple[date, date]:
    """``2026-11`` → (first day, last day). Raises ValueError naming the expected form."""
    try:
        year, number = (int(part) for part in month.split("-"))
        first = date(year, number, 1)
    except ValueError:
        raise ValueError(f"month must be YYYY-MM, not {month!r}") from None
    if len(month) != 7:
        raise ValueError(f"month must be YYYY-MM, not {month!r}")
    following = date(year + number // 12, number % 12 + 1, 1)
    return first, following - timedelta(days=1)


def _rate(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.4f}" if denominator else ""


@dataclass(frozen=True)
class LegCount:
    """What one deadline leg adds to its row of a month's bulletin: the body owing it, its
    case's item, its closing facts, and whether it was open past its deadline at the month's
    end. Made from the engine's legs (:func:`engine_leg_counts`) or from the stored rows of
    ``case_deadlines`` (:func:`stored_leg_count`): one definition of the columns, two sources."""

    body: str
    item: str
    closed_on: date | None
    on_time: bool
    handling_days: int | None
    overdue: bool
    provisional: bool


def engine_leg_counts(
    legs: Iterable[CaseLegs], first: date, last: date, calendars: CalendarBook
) -> Iterator[LegCount]:
    """The engine's legs of every case as the month's bulletin counts them: a leg closed
    outside ``[first, last]`` adds nothing but its row's key (its figures are not computed)."""
    for case in legs:
        calendar = calendars.for_place(case.item.split("/")[0], case.jurisdiction)
        for leg in case.legs:
            body = case.body_of(leg)
            if leg.closed is not None and not first <= leg.closed <= last:
                yield LegCount(body, case.item, leg.closed, False, None, False, False)
                continue
            yield LegCount(
                body,
                case.item,
                leg.closed,
                leg.closed is not None and leg.closed <= leg.deadline,
                leg.handling_days(calendar),
                leg.closed is None and judge(leg, last, calendar)[0] == "overdue",
                leg.provisional,
            )


def stored_leg_count(leg: MonthLeg, last: date) -> LegCount:
    """A stored leg (``case_deadlines``) as the month's bulletin counts it: a leg stored
    without a deadline stands paused, never overdue (as :func:`judge` has it)."""
    overdue = not leg.closed and leg.deadline is not None and last > leg.deadline
    return LegCount(
        leg.body,
        leg.item,
        leg.closed_on,
        bool(leg.on_time),
        leg.handling_days,
        overdue,
        leg.provisional,
    )


@dataclass
class _LegTally:
    closed: int = 0
    on_time: int = 0
    overdue: int = 0
    days: list[int] = field(default_factory=list)
    provisional: int = 0


def _leg_tallies(
    legs: Iterable[LegCount], first: date, last: date
) -> dict[tuple[str, str], _LegTally]:
    """Per (body owing the leg, item): legs closed in ``[first, last]`` and on time, decision
    legs' working days (pauses excluded), legs open and overdue at the end of ``last``."""
    tallies: dict[tuple[str, str], _LegTally] = {}
    for leg in legs:
        tally = tallies.setdefault((leg.body, leg.item), _LegTally())
        if leg.closed_on is not None:
            if not first <= leg.closed_on <= last:
                continue
            tally.closed += 1
            tally.on_time += leg.on_time
            if leg.handling_days is not None:
                tally.days.append(leg.handling_days)
        else:
            tally.overdue += leg.overdue
        tally.provisional += leg.provisional
    return tallies


def monthly_bulletin(
    cases: Iterable[CaseRatings],
    month: str,
    *,
    calendar_name: str,
    legs: Iterable[LegCount] | None = None,
) -> Bulletin:
    """Per body and item: what happened in ``month`` (China dates), from signed steps.

    Cases, ratings and rectifications count for the case's home body (the rated one once
    rated). With ``legs`` (every case's legs as the ledger stood at the month's end), the
    time-limit columns count for the body owing each leg (the window its ``check`` and
    ``mail``): ``legs_closed`` in the month, ``on_time_rate`` (closed by their deadline),
    ``overdue`` (open past their deadline at the month's end) and ``median_handling_days``
    (working days of the decision legs closed in the month, pauses excluded), as ``tongban
    supervise bodies`` counts them. A (body, item) gets a row when something of it counts in
    the month (cases received or closed, legs closed or overdue at its end, ratings,
    rectifications opened, closed or open): a row of zeros says nothing, and leaving it out
    lets the month under way read only the month's rows (:func:`bulletin_of_read_models`)."""
    first, last = month_bounds(month)

    def within(day: date | None) -> bool:
        return day is not None and first <= day <= last

    groups: dict[tuple[str, str], list[CaseRatings]] = {}
    for case in cases:
        if case.received is not None and case.received <= last:
            groups.setdefault((case.rated_body or case.home_body, case.item), []).append(case)
    tallies = _leg_tallies(legs, first, last) if legs is not None else {}
    rows: list[dict[str, object]] = []
    for key in sorted(set(groups) | set(tallies)):
        body_id, item = key
        group = groups.get(key, [])
        rated = [c for c in group if within(c.rated)]
        counts = Counter(c.level for c in rated)
        good = sum(counts[level] for level in RATING_LEVELS if level not in POOR_LEVELS)
        stages_ended = [s for c in group for s in c.stages if within(s.ended)]
        tally = tallies.get(key)
        median = statistics.median(tally.days) if tally and tally.days else None
        row: dict[str, object] = {
            "month": month,
            "body": body_id,
            "item": item,
            "cases_received": sum(within(c.received) for c in group),
            "cases_closed": sum(within(c.closed) for c in group),
            "legs_closed": tally.closed if tally else ("" if legs is None else 0),
            "on_time_rate": _rate(tally.on_time, tally.closed) if tally else "",
            "overdue": tally.overdue if tally else ("" if legs is None else 0),
            "median_handling_days": "" if median is None else f"{median:g}",
            "ratings": len(rated),
            **{level: counts.get(level, 0) for level in RATING_LEVELS},
            "satisfaction_rate": _rate(good, len(rated)),
            "rectifications_opened": sum(c.poor for c in rated),
            "rectifications_closed": sum(within(c.rectification_closed) for c in group),
            "rectifications_open": sum(c.rectification_open(last) for c in group),
            "rectifications_late": sum(
                c.rectification_open(last) and c.rectification_late(last) for c in group
            ),
            "rectification_on_time_rate": _rate(
                sum(not s.late(last) for s in stages_ended), len(stages_ended)
            ),
        }
        if any(row[column] for column in COUNTED_COLUMNS):
            rows.append(row)
    notes = [f"working days counted on the calendar {calendar_name} (holidays and 调休)"]
    if legs is None:
        notes.append(NO_DEADLINE_ENGINE)
    else:
        notes.append(
            "time limits: legs as the ledger stood at the end of "
            f"{last.isoformat()} (China), counted for the body owing each leg; overdue: open "
            f"past the deadline at the end of {last.isoformat()}"
        )
        provisional = sum(t.provisional for t in tallies.values())
        if provisional:
            notes.append(
                f"{provisional} leg deadlines are provisional: counted through a year with no "
                "published calendar (weekends only)"
            )
    provisional_years = sorted(
        {s.deadline.year for c in groups_cases(groups) for s in c.stages if s.provisional}
    )
    if provisional_years:
        notes.append(
            "rectification deadlines counted through "
            + ", ".join(map(str, provisional_years))
            + " are provisional: no calendar published for those years (weekends only)"
        )
    return Bulletin(month, rows, notes, calendar_name)


def bulletin_of(app: LedgerApplication, month: str) -> Bulletin:
    """The bulletin of ``month`` recomputed from the ledger: its signed steps and receipt
    times, the catalog versions cases pinned and the calendars published (the same ledger
    gives the same bulletin)."""
    first, last = month_bounds(month)
    registry = _fresh_registry(app)
    calendars = registry.calendars
    legs = supervise_stored(
        stored_cases(app), registry.catalogs, calendars, ServiceStandard(), until=last
    )
    return monthly_bulletin(
        all_case_ratings(app, calendars),
        month,
        calendar_name=calendar_name(calendars, app.home_region),
        legs=engine_leg_counts(legs, first, last, calendars),
    )


def bulletin_of_read_models(
    store: ReadModelStore, month: str, calendars: CalendarBook, region: str
) -> Bulletin:
    """The bulletin of ``month`` counted from the read models' rows (every case's days and
    rating, the stored legs), as :func:`bulletin_of` counts it from the ledger, provided the
    rows stand where the ledger stood at the month's end: the month under way, the read
    models caught up. Reads the rows that count in the month, not every case."""
    first, last = month_bounds(month)
    cases = [
        CaseRatings(
            days.case_id,
            days.item,
            days.body,
            received=days.received,
            closed=days.closed,
            level=None if rating is None else rating.level,
            rated_body=None if rating is None else rating.body,
            rated=None if rating is None else rating.rated,
            stages=[] if rating is None else list(rating.stages),
            rectification_closed=None if rating is None else rating.closed_on,
        )
        for days, rating in store.month_cases(first, last)
    ]
    legs = (stored_leg_count(leg, last) for leg in store.month_legs(LEG_KIND, first, last))
    return monthly_bulletin(cases, month, calendar_name=calendar_name(calendars, region), legs=legs)


def groups_cases(
    groups: dict[tuple[str, str], list[CaseRatings]],
) -> Iterator[CaseRatings]:
    for group in groups.values():
        yield from group


ReadCases = Callable[[], list[CaseRatings]]
