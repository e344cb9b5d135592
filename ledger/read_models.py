"""Read models: projections of the ledger kept in the node's database, following its index.

A projection is derived data, never a source of truth: it can be dropped and rebuilt from the
ledger at any time with the same result. Each one keeps a *position*, the ledger index it has
processed up to, written in the same transaction as its rows (eventsourcing's
:class:`~eventsourcing.persistence.Tracking`, whose ``notification_id`` here is Tongban's dense
ledger index, not eventsourcing's notification id). Nothing is written on the append path:
:class:`LedgerFollower` catches up after appends (a server polls, a reader catches up to the
head before answering), in batches of ledger entries.

Three projections:

- ``case_summaries``: one :class:`~ledger.case_listing.CaseSummary` per case, with the ledger
  index that opened it and counts per filter, behind the :class:`ProjectedCaseListing`.
- ``case_deadlines``: per case, rows of the generic *dated rows* shape (:class:`Leg`: a name,
  the body responsible, a start date, a deadline date, working days allowed and paused, a
  closed flag), filled from a :class:`CaseLegs` (the calendar engine's legs,
  :class:`ledger.supervision.projection.LedgerLegs`). "Overdue
  now" and "due soon" compare stored deadline dates with an "as of" date given at query time
  (:meth:`ReadModelStore.deadlines_between`); no status is frozen into a row.
- ``case_ratings``: one :class:`RatedCase` per rated case (好差评) with a 差评's rectification
  stages, so a body's ratings and the open rectifications are read, not replayed; and every
  case's :class:`CaseDays` (received, first closed, the body it counts for), so the bulletin
  of the month under way is counted from rows, not from every case replayed.

Every writer of a projection (a server's workers, a CLI reader) may catch up at once: a write
is a compare-and-set on the position, so a batch another writer committed first is dropped.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import NamedTuple, Protocol

from eventsourcing.persistence import Tracking

from ledger.case_listing import CaseListing, CaseQuery, CaseSummaries, CaseSummary
from ledger.domain import Case
from ledger.errors import IndexBeyondHead, NotCaughtUp, UnknownCase
from ledger.persistence import LedgerEntry
from ledger.ratings.rectification import Stage, stages_late
from ledger.workflow.fields import POOR_LEVELS

SUMMARIES = "case_summaries"
DEADLINES = "case_deadlines"
RATINGS = "case_ratings"
LEG_KIND = "leg"  # the calendar engine's legs in the dated-rows table
BATCH = 500  # ledger entries per projection transaction
CHINA = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class Leg:
    """One dated row of a case: a deadline leg (or any per-case deadline another projection
    keeps, such as a rectification's). Dates are China (+08:00) calendar dates; ``deadline``
    is the last working day allowed (None: no limit applies)."""

    name: str
    started: date
    deadline: date | None
    working_days_allowed: int
    working_days_paused: int
    closed: bool
    body: str = ""  # the body the leg waits on ("" when none is named)
    provisional: bool = False  # counted on weekends only: a year without a calendar
    # The last date any stored value was counted through (None: ``started``): a calendar
    # published for a year after it changes nothing stored.
    reach: date | None = None
    # A closed leg's facts, fixed once it closed: its date, whether by its deadline, and for a
    # decision leg its working days (pauses excluded), so statistics need no replay.
    closed_on: date | None = None
    on_time: bool | None = None
    handling_days: int | None = None


@dataclass(frozen=True)
class CaseLeg:
    """A stored :class:`Leg` with its case."""

    case_id: uuid.UUID
    leg: Leg


class CaseLegs(Protocol):
    """The legs of a case (the calendar engine): a function of the case's signed steps and
    of the registry's catalog versions and calendars (``ledger.supervision.projection``)."""

    def prepare(self, entries: Sequence[LedgerEntry]) -> Sequence[tuple[date, date]]:
        """Called once per batch before any case: bring the registry up to at least
        ``entries``; return the spans ``(first, last)`` of the calendar years a record among
        them published or replaced (every stored case counted through one is recomputed)."""
        ...

    def __call__(self, case_id: uuid.UUID) -> Sequence[Leg]:
        """The case's rows, from its entries as they stand now (at least the batch's)."""
        ...


@dataclass(frozen=True)
class ProjectedCase:
    """A case summary as stored: ``opened_index`` is the ledger index of its first step
    (None: the case's row exists already and keeps the index it has)."""

    summary: CaseSummary
    opened_index: int | None


class ReadModelStore(Protocol):
    """The projections' storage (``adapters/readmodels.py``: SQLite and PostgreSQL)."""

    def position(self, projection: str) -> int:
        """The ledger index ``projection`` has processed up to (0: nothing yet)."""
        ...

    def positions(self, projections: Sequence[str]) -> dict[str, int]:
        """:meth:`position` of each of ``projections``, read at once."""
        ...

    def wait(self, application_name: str, notification_id: int | None, timeout: float) -> None:
        """Return once ``application_name`` (a projection) reached ``notification_id``;
        raise ``TimeoutError`` after ``timeout`` seconds (eventsourcing's tracking wait)."""
        ...

    def save_summaries(
        self, expected: int, tracking: Tracking, cases: Sequence[ProjectedCase]
    ) -> bool:
        """Upsert ``cases`` and move the position from ``expected`` to ``tracking``'s index in
        one transaction; False (nothing written) if the position is no longer ``expected``."""
        ...

    def save_legs(
        self,
        expected: int,
        tracking: Tracking,
        kind: str,
        legs: Mapping[uuid.UUID, Sequence[Leg]],
    ) -> bool:
        """Replace the ``kind`` rows of every case in ``legs``, position as in
        :meth:`save_summaries`."""
        ...

    def reset(self, projection: str) -> None:
        """Forget ``projection``'s rows and position (a rebuild starts from index 0)."""
        ...

    def list_summaries(self, query: CaseQuery) -> tuple[list[CaseSummary], int]:
        """A page of stored summaries and the total matching (``after`` resolved here)."""
        ...

    def deadlines_between(
        self,
        kind: str,
        *,
        after: date | None,
        until: date,
        body: str | None = None,
        limit: int = 100,
    ) -> list[CaseLeg]:
        """Open rows whose deadline lies in ``(after, until]`` (``after`` None: no lower
        bound), earliest deadline first; optionally only ``body``'s."""
        ...

    def cases_dated_within(self, kind: str, first: date, last: date) -> list[uuid.UUID]:
        """The cases with a ``kind`` row counted through a day of ``[first, last]``
        (``started <= last`` and ``reach >= first``)."""
        ...

    def save_ratings(
        self,
        expected: int,
        tracking: Tracking,
        ratings: Mapping[uuid.UUID, RatingRows],
    ) -> bool:
        """Replace the stored days and rating of every case named (None: no valid step, not
        rated), position as in :meth:`save_summaries`."""
        ...

    def ratings_within(self, first: date, last: date) -> list[uuid.UUID]:
        """The rated cases whose stored row was counted through a day of ``[first, last]``."""
        ...

    def ratings_of(self, body: str, as_of: date) -> list[RatedCase]:
        """Every rating of ``body`` (the rated body) given by ``as_of``, oldest first."""
        ...

    def open_rectifications(
        self, as_of: date, *, bodies: Sequence[str] | None = None
    ) -> list[RatedCase]:
        """差评 rated by ``as_of`` whose rectification was not closed by then (of ``bodies``
        only when given: an empty list is none), oldest rating first."""
        ...

    # -- what the bulletin of the month under way counts (ledger.ratings.stats) -------------

    def month_cases(self, first: date, last: date) -> list[tuple[CaseDays, RatedCase | None]]:
        """The cases whose days or rating count in ``[first, last]``: received or closed in
        it, rated in it, or a 差评 rated by ``last`` whose rectification was open on
        ``first`` (a stage of it may end in the month); each with its rating."""
        ...

    def month_legs(self, kind: str, first: date, last: date) -> list[MonthLeg]:
        """``kind`` rows open now or closed in ``[first, last]``, as :class:`MonthLeg`."""
        ...


class LedgerSource(Protocol):
    """What projections read of the ledger (``LedgerApplication``)."""

    def entries_after(self, after_index: int, limit: int) -> list[LedgerEntry]: ...

    def get_case(self, case_id: uuid.UUID) -> Case: ...


class LedgerHead(Protocol):
    def max_index(self) -> int: ...


def _touched_cases(source: LedgerSource, entries: Sequence[LedgerEntry]) -> dict[uuid.UUID, Case]:
    """The cases among the streams ``entries`` belong to (other streams are not cases: keys,
    licenses), each as it stands now (at least as new as the batch)."""
    cases: dict[uuid.UUID, Case] = {}
    seen: set[uuid.UUID] = set()
    for entry in entries:
        if entry.stream_id in seen:
            continue
        seen.add(entry.stream_id)
        try:
            cases[entry.stream_id] = source.get_case(entry.stream_id)
        except UnknownCase:
            continue
    return cases


class CaseSummaryProjection:
    """``case_summaries``: a case's summary is rewritten whenever the ledger adds to it."""

    name = SUMMARIES

    def save(
        self,
        store: ReadModelStore,
        expected: int,
        entries: Sequence[LedgerEntry],
        cases: Mapping[uuid.UUID, Case],
    ) -> bool:
        opened = {e.stream_id: e.index for e in entries if e.seq == 1}
        projected = [
            ProjectedCase(CaseSummary.of(case), opened.get(case_id))
            for case_id, case in cases.items()
        ]
        return store.save_summaries(expected, Tracking(self.name, entries[-1].index), projected)


class CaseDeadlineProjection:
    """``case_deadlines``: a case's legs (from ``legs``) are rewritten whenever it changes,
    and every stored case counted through a year whose calendar a batch (re)publishes is
    rewritten in that batch's transaction, so the rows never depend on when a calendar came
    (a rebuild equals the live projection)."""

    name = DEADLINES

    def __init__(self, legs: CaseLegs):
        self.legs = legs

    def save(
        self,
        store: ReadModelStore,
        expected: int,
        entries: Sequence[LedgerEntry],
        cases: Mapping[uuid.UUID, Case],
    ) -> bool:
        recount = self.legs.prepare(entries)
        ids = _to_rewrite(cases, recount, lambda a, b: store.cases_dated_within(LEG_KIND, a, b))
        rows = {case_id: tuple(self.legs(case_id)) for case_id in ids}
        return store.save_legs(expected, Tracking(self.name, entries[-1].index), LEG_KIND, rows)


@dataclass(frozen=True)
class RatedCase:
    """A case's rating (好差评) as ``case_ratings`` stores it: the rated body, the level, the
    rating's date and, for a 差评, its rectification (整改): the date it was closed (None:
    open) and its stages. A good rating has no rectification: no stages, never open."""

    case_id: uuid.UUID
    item: str
    body: str
    level: str
    rated: date
    closed_on: date | None
    stages: tuple[Stage, ...]

    @property
    def poor(self) -> bool:
        return self.level in POOR_LEVELS

    def open_on(self, as_of: date) -> bool:
        """A 差评 rated by ``as_of`` whose rectification was not closed by then."""
        return (
            self.poor and self.rated <= as_of and (self.closed_on is None or self.closed_on > as_of)
        )

    def late(self, as_of: date) -> bool:
        return stages_late(self.stages, as_of)

    @property
    def reach(self) -> date:
        """The last date a stored value was counted through (a calendar after it changes
        nothing stored)."""
        dates = [self.rated, *(s.deadline for s in self.stages)]
        dates += [d for d in (self.closed_on, *(s.ended for s in self.stages)) if d is not None]
        return max(dates)


class MonthLeg(NamedTuple):
    """What a month's bulletin reads of a stored leg: the body owing it, its case's item, its
    deadline (None: paused), whether and when it closed, on time or not, its handling days."""

    body: str
    item: str
    deadline: date | None
    closed: bool
    closed_on: date | None
    on_time: bool | None
    handling_days: int | None
    provisional: bool


@dataclass(frozen=True)
class CaseDays:
    """A case as the monthly bulletin counts it (``case_ratings`` stores one per case): the
    body it counts for (the rated body once rated, else its home body), its item, and the
    China dates it was received and first entered a closing state (None: not yet)."""

    case_id: uuid.UUID
    item: str
    body: str
    received: date
    closed: date | None


class RatingRows(NamedTuple):
    """What ``case_ratings`` stores of one case: its days (None: no valid step yet) and its
    rating (None: not rated)."""

    days: CaseDays | None
    rating: RatedCase | None


class CaseRatingRows(Protocol):
    """A case's days, rating and rectification, from its signed steps and the calendars
    (``ledger.ratings.projection``); ``prepare`` as :class:`CaseLegs`'s."""

    def prepare(self, entries: Sequence[LedgerEntry]) -> Sequence[tuple[date, date]]: ...

    def __call__(self, case_id: uuid.UUID) -> RatingRows: ...


class CaseRatingProjection:
    """``case_ratings``: a case's rating is rewritten whenever the case changes, and every
    stored one counted through a year whose calendar a batch (re)publishes, as
    :class:`CaseDeadlineProjection` does for legs."""

    name = RATINGS

    def __init__(self, ratings: CaseRatingRows):
        self.ratings = ratings

    def save(
        self,
        store: ReadModelStore,
        expected: int,
        entries: Sequence[LedgerEntry],
        cases: Mapping[uuid.UUID, Case],
    ) -> bool:
        recount = self.ratings.prepare(entries)
        ids = _to_rewrite(cases, recount, store.ratings_within)
        rows = {case_id: self.ratings(case_id) for case_id in ids}
        return store.save_ratings(expected, Tracking(self.name, entries[-1].index), rows)


def _to_rewrite(
    cases: Mapping[uuid.UUID, Case],
    recount: Sequence[tuple[date, date]],
    stored_within: Callable[[date, date], list[uuid.UUID]],
) -> list[uuid.UUID]:
    """The cases a batch touched, then every stored one counted through a span (a calendar
    year) a record of the batch (re)published, each once."""
    ids = list(cases)
    for first, last in recount:
        ids += stored_within(first, last)
    return list(dict.fromkeys(ids))


class Projection(Protocol):
    name: str

    def save(
        self,
        store: ReadModelStore,
        expected: int,
        entries: Sequence[LedgerEntry],
        cases: Mapping[uuid.UUID, Case],
    ) -> bool: ...


class LedgerFollower:
    """Brings projections up to the ledger's head, one batch (one transaction) at a time."""

    def __init__(
        self,
        source: LedgerSource,
        head: LedgerHead,
        store: ReadModelStore,
        projections: Sequence[Projection],
        *,
        batch: int = BATCH,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.source = source
        self.head = head
        self.store = store
        self.projections = tuple(projections)
        self.batch = batch
        self.clock = clock
        self._lock = threading.Lock()  # one catch-up per process at a time

    def positions(self) -> dict[str, int]:
        return self.store.positions([p.name for p in self.projections])

    def catch_up(self, *, budget: float | None = None) -> int:
        """Process what the ledger holds now (at most ``budget`` seconds' worth of batches);
        returns the lowest position of the projections."""
        target = self.head.max_index()
        stop = None if budget is None else self.clock() + budget
        # Another thread of this process catching up does this caller's work too.
        if not self._lock.acquire(timeout=-1 if budget is None else budget):
            return min(self.positions().values(), default=target)
        try:
            while stop is None or self.clock() < stop:
                positions = self.positions()
                low = min(positions.values(), default=target)
                if low >= target:
                    return low  # caught up: the common case of a reader, one read
                entries = self.source.entries_after(low, self.batch)
                if not entries:
                    break
                # One read of the entries and the cases serves every projection at ``low``;
                # one further ahead waits until the others reach it.
                cases = _touched_cases(self.source, entries)
                for projection in self.projections:
                    if positions[projection.name] == low:
                        # False when another writer moved it first: the next round re-reads.
                        projection.save(self.store, low, entries, cases)
        finally:
            self._lock.release()
        return min(self.positions().values(), default=target)

    def rebuild(self) -> int:
        """Drop every projection's rows and build them again from the ledger's first entry."""
        with self._lock:
            for projection in self.projections:
                self.store.reset(projection.name)
        return self.catch_up()

    def reach(
        self, projection: str, min_index: int, *, timeout: float, budget: float | None = None
    ) -> int:
        """Catch up (for at most ``budget`` seconds, default ``timeout``), then wait (another
        process may be writing) until ``projection`` reached ``min_index``; returns its
        position or raises :class:`NotCaughtUp`."""
        head = self.head.max_index()
        if min_index > head:
            # A receipt is given only once its index is committed: nobody holds this one yet,
            # so waiting would only hold the caller.
            raise IndexBeyondHead(
                f"the ledger holds index {head}; no object has index {min_index} yet",
                field="min_index",
            )
        self.catch_up(budget=timeout if budget is None else budget)
        position = self.store.position(projection)
        if position >= min_index:
            return position
        try:
            self.store.wait(projection, min_index, timeout=timeout)
        except TimeoutError:
            position = self.store.position(projection)
            raise NotCaughtUp(
                f"this listing reflects ledger index {position}; index {min_index} was not "
                f"reached within {timeout:g} s (retry, or ask without min_index)",
                field="min_index",
            ) from None
        return self.store.position(projection)


class ProjectedCaseListing(CaseListing):
    """:class:`~ledger.case_listing.CaseListing` read from the ``case_summaries`` projection.

    Each call first catches up with what the ledger holds (bounded by ``budget`` seconds, the
    rest is left to the next call or a background follower); with ``query.min_index`` it
    waits up to ``wait`` seconds for that index, then raises :class:`NotCaughtUp`."""

    def __init__(self, follower: LedgerFollower, *, budget: float = 2.0, wait: float = 2.0):
        self.follower = follower
        self.store = follower.store
        self.budget = budget
        self.wait = wait

    def list_cases(self, query: CaseQuery) -> CaseSummaries:
        if query.min_index:
            as_of = self.follower.reach(
                SUMMARIES, query.min_index, timeout=self.wait, budget=self.budget
            )
        else:
            self.follower.catch_up(budget=self.budget)
            as_of = self.store.position(SUMMARIES)
        cases, total = self.store.list_summaries(replace(query, min_index=0))
        # Rows written after ``as_of`` was read are newer, never older: "at least as_of".
        return CaseSummaries(tuple(cases), total, as_of)


def china_date(instant: datetime) -> date:
    """The China (+08:00) calendar date of an aware instant."""
    return instant.astimezone(CHINA).date()


def overdue(
    store: ReadModelStore, as_of: datetime, *, body: str | None = None, limit: int = 100
) -> list[CaseLeg]:
    """Open legs whose deadline (the last day allowed) is before ``as_of``'s China date."""
    last_day = china_date(as_of) - timedelta(days=1)
    return store.deadlines_between(LEG_KIND, after=None, until=last_day, body=body, limit=limit)


def due_soon(
    store: ReadModelStore,
    as_of: datetime,
    until: date,
    *,
    body: str | None = None,
    limit: int = 100,
) -> list[CaseLeg]:
    """Open legs not yet overdue whose deadline is on or before ``until`` (the calendar engine
    says which date is N working days after ``as_of``)."""
    today = china_date(as_of)
    return store.deadlines_between(
        LEG_KIND, after=today - timedelta(days=1), until=until, body=body, limit=limit
    )
