"""Read models (``ledger/read_models.py``, ``adapters/readmodels.py``) on SQLite and PostgreSQL.

A projection followed batch by batch while cases are appended equals one rebuilt from the
ledger; the projected listing answers every query as the replaying one does; the stored deadline
legs answer "overdue" and "due soon" as a scan of every case's legs does; a follower catches up
with appends made by another process; ``min_index`` waits for, or refuses, an index.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from adapters.bootstrap import follower_of, open_services
from adapters.calendar_seed import seed_year
from adapters.readmodel_rows import DATED_COLUMNS
from adapters.readmodels import SqlReadModelStore, memory_read_models, open_read_models
from ledger.application import now_micros
from ledger.calendars import CalendarYear
from ledger.case_listing import CaseQuery, CaseSummary, ReplayedCaseListing
from ledger.envelope import ZERO_HASH
from ledger.errors import IndexBeyondHead, LedgerError, NotCaughtUp, UnknownCase
from ledger.ratings.stats import bulletin_of, bulletin_of_read_models, published_calendars
from ledger.read_models import (
    CHINA,
    DEADLINES,
    LEG_KIND,
    RATINGS,
    SUMMARIES,
    CaseLeg,
    LedgerFollower,
    ProjectedCase,
    ProjectedCaseListing,
    due_soon,
    overdue,
)
from ledger.supervision.cases import supervise_ledger
from ledger.supervision.projection import LedgerLegs, rows_of
from ledger.workflow import START, CaseWorkflow
from ledger.workflow.table import RATEABLE_STATES, RATING_TRANSITIONS
from tests.support.cases import COMBOS, LedgerCase, co_handle_all, graph, populate
from tests.support.world import World, make_world

BASE = date(2026, 1, 1)
ROOT = Path(__file__).resolve().parents[2]


PASS = {"result": "pass", "reasons": [], "identity_verified": True}


def _at(world: World, china_day: str) -> None:
    """Set the world's clock to 10:00 China time on ``china_day``."""
    moment = datetime.fromisoformat(f"{china_day}T10:00:00+08:00")
    world.clock.now = int(moment.timestamp()) * 1_000_000


def _dated(store: SqlReadModelStore, case_id: uuid.UUID) -> dict[str, tuple[Any, ...]]:
    """A case's stored leg rows by name: (body, started, deadline, allowed, paused, closed,
    provisional)."""
    rows = _tables(store)["readmodel_case_dated"]
    return {r[2]: (r[3], *r[4:10]) for r in rows if r[0] == LEG_KIND and r[1] == case_id.hex}


@dataclass
class Node:
    world: World
    store: SqlReadModelStore
    follower: LedgerFollower

    def listing(self, *, budget: float = 2.0, wait: float = 2.0) -> ProjectedCaseListing:
        return ProjectedCaseListing(self.follower, budget=budget, wait=wait)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    if request.param == "sqlite":
        world = make_world(tmp_path, workflow=CaseWorkflow(), with_jiangsu=True)
    else:
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
        world = make_world(
            tmp_path, database_url=url, schema=schema, workflow=CaseWorkflow(), with_jiangsu=True
        )
    assert world.settings is not None
    settings = world.settings
    store = open_read_models(
        settings.resolved_database_url(), tmp_path, schema=settings.database_schema or None
    )
    follower = follower_of(world.app, store)  # the calendar engine's legs
    follower.batch = 7  # small batches: a case's steps fall in several
    yield Node(world, store, follower)
    store.close()
    world.app.close()


def _open_case(world: World, item: str = "510000/1/5", officer: str = "rs-001") -> uuid.UUID:
    case_id = uuid.uuid4()
    world.run(case_id, [(officer, "received", world.received_body(item, "online"))])
    return case_id


def _advance(world: World, case_id: uuid.UUID, steps: list[tuple[str, dict[str, Any]]]) -> None:
    rows = world.app.store.select_stream_rows(case_id)
    assert rows[-1].event_hash is not None and rows[-1].seq is not None
    world.run(
        case_id,
        [("rs-001", kind, body) for kind, body in steps],
        prev=rows[-1].event_hash,
        first_seq=rows[-1].seq + 1,
    )


def _cases(world: World) -> list[uuid.UUID]:
    """Cases in several states and items, one of them delivered (its legs closed)."""
    made = [_open_case(world) for _ in range(5)]
    made.append(world.online_case())  # ten steps, delivered
    made += [_open_case(world, "510000/1/6") for _ in range(2)]
    _advance(
        world,
        made[0],
        [("form_checked", {"result": "pass", "reasons": [], "identity_verified": True})],
    )
    return made


def _tables(store: SqlReadModelStore) -> dict[str, list[tuple[Any, ...]]]:
    dumped = {}
    with store._tx() as cur:
        for table in (
            "readmodel_tracking",
            "readmodel_cases",
            "readmodel_case_parties",
            "readmodel_case_counts",
            "readmodel_case_dated",
            "readmodel_ratings",
        ):
            cur.execute(f"SELECT * FROM {table}")
            rows = [tuple(row) for row in cur.fetchall()]
            # Counts that went back to zero are kept as rows; they answer as no row does.
            dumped[table] = sorted(r for r in rows if table != "readmodel_case_counts" or r[-1])
    return dumped


def test_a_rebuilt_projection_equals_the_one_followed_live(node: Node) -> None:
    world = node.world
    for _ in range(3):  # appends and catch-ups interleaved, as a server does them
        _cases(world)
        node.follower.catch_up()
    live = _tables(node.store)
    assert node.follower.positions() == {
        SUMMARIES: world.app.store.max_index(),
        DEADLINES: world.app.store.max_index(),
        RATINGS: world.app.store.max_index(),
    }
    assert len(live["readmodel_cases"]) == 24
    node.follower.rebuild()
    assert _tables(node.store) == live


QUERIES = [
    CaseQuery(),
    CaseQuery(body="510104-RS"),
    CaseQuery(body="510104-RS", state="received"),
    CaseQuery(state="delivered"),
    CaseQuery(item="510000/1/6"),
    CaseQuery(body="510104-RS", item="510000/1/6", limit=1),
    CaseQuery(body="320105-ZWFW"),  # on no case
    CaseQuery(offset=3, limit=4),
    CaseQuery(body="510104-RS", offset=2, limit=3),
]


def test_the_projected_listing_answers_as_the_replayed_one(node: Node) -> None:
    world = node.world
    made = _cases(world) + _cases(world)
    projected, replayed = node.listing(), ReplayedCaseListing(world.app)
    afters = [made[0], made[5], made[-1]]
    queries = QUERIES + [CaseQuery(after=a, limit=3) for a in afters]
    queries += [CaseQuery(body="510104-RS", state="received", after=made[1], limit=2)]
    for query in queries:
        mine, theirs = projected.list_cases(query), replayed.list_cases(query)
        assert (mine.cases, mine.total) == (theirs.cases, theirs.total), query
        assert mine.as_of == world.app.store.max_index()
    with pytest.raises(UnknownCase) as refused:
        projected.list_cases(CaseQuery(after=uuid.uuid4()))
    assert refused.value.field == "after"


def test_paging_by_after_walks_every_case_once_while_cases_are_added(node: Node) -> None:
    world = node.world
    made = _cases(world)
    listing, seen = node.listing(), []
    page = listing.list_cases(CaseQuery(limit=3))
    while page.cases:
        seen += [c.case_id for c in page.cases]
        made.append(_open_case(world))  # added while paging: it comes at the end
        page = listing.list_cases(CaseQuery(after=seen[-1], limit=3))
        if len(seen) > 40:
            break
    assert seen == made[: len(seen)]
    assert len(seen) == len(set(seen))


def _all_legs(world: World) -> list[CaseLeg]:
    """Every case's legs as ``tongban supervise`` reads them from the whole ledger."""
    cases, books = supervise_ledger(world.app)
    return [CaseLeg(uuid.UUID(case.case_id), leg) for case in cases for leg in rows_of(case, books)]


def test_overdue_and_due_soon_compare_stored_deadlines_with_the_as_of_date(node: Node) -> None:
    world = node.world
    _cases(world)
    _cases(world)
    node.follower.catch_up()
    legs = _all_legs(world)
    for days in (0, 3, 4, 10, 31, 400):
        # 16:30 UTC is the next day in China: the China date is what counts.
        as_of = datetime.combine(BASE + timedelta(days=days), datetime.min.time(), UTC)
        as_of += timedelta(hours=16, minutes=30)
        china_today = BASE + timedelta(days=days + 1)
        expected = [
            c
            for c in legs
            if not c.leg.closed and c.leg.deadline is not None and c.leg.deadline < china_today
        ]
        assert days < 10 or expected  # the engine's legs of open cases fall due
        key = lambda c: (c.leg.deadline, c.case_id.hex, c.leg.name)  # noqa: E731
        assert overdue(node.store, as_of, limit=1000) == sorted(expected, key=key)
        soon = china_today + timedelta(days=5)
        expected_soon = [
            c
            for c in legs
            if not c.leg.closed
            and c.leg.deadline is not None
            and china_today <= c.leg.deadline <= soon
        ]
        assert due_soon(node.store, as_of, soon, limit=1000) == sorted(expected_soon, key=key)
    late = datetime(2027, 1, 1, tzinfo=UTC)
    mine = overdue(node.store, late, body="510104-RS", limit=1000)
    assert mine and all(c.leg.body == "510104-RS" for c in mine)
    assert len(overdue(node.store, late, limit=2)) == 2
    # A delivered case's leg is closed: never overdue, whatever the date.
    delivered = {c for c in world.app.case_ids() if world.app.get_case(c).flow.state == "delivered"}
    assert delivered and not delivered & {c.case_id for c in overdue(node.store, late, limit=1000)}


APPENDER = """
import json, sys
from pathlib import Path
from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from ledger.workflow import CaseWorkflow

spec = json.loads(sys.argv[1])
settings = Settings(
    data_dir=Path(spec["data_dir"]), database_url=spec["url"], region="510000",
    database_schema=spec["schema"],
)
app = open_ledger(settings, workflow=CaseWorkflow())
try:
    for raw in spec["envelopes"]:
        app.append_event(bytes.fromhex(raw))
    print(app.store.max_index())
finally:
    app.close()
"""


def _append_elsewhere(world: World, count: int) -> int:
    """Append ``count`` new cases from another process; returns the ledger's head after."""
    settings = world.settings
    assert settings is not None
    officer = world.officers["rs-001"]
    envelopes = [
        world.event(
            officer,
            uuid.uuid4(),
            1,
            ZERO_HASH,
            "received",
            world.received_body("510000/1/5", "online"),
            time=now_micros(),
        ).hex()
        for _ in range(count)
    ]
    spec = {
        "data_dir": str(settings.data_dir),
        "url": settings.database_url,
        "schema": settings.database_schema,
        "envelopes": envelopes,
    }
    done = subprocess.run(
        [sys.executable, "-c", APPENDER, json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def test_a_follower_catches_up_with_appends_of_another_process(node: Node) -> None:
    world = node.world
    _cases(world)
    listing = node.listing()
    before = listing.list_cases(CaseQuery())
    head = _append_elsewhere(world, 4)
    assert head > before.as_of
    assert node.store.position(SUMMARIES) == before.as_of  # nothing written on their appends
    after = listing.list_cases(CaseQuery(min_index=head))
    assert after.as_of == head
    assert after.total == before.total + 4
    assert [c.case_id for c in after.cases] == world.app.case_ids()


def test_min_index_waits_for_the_index_or_refuses_clearly(node: Node) -> None:
    world = node.world
    _cases(world)
    head = world.app.store.max_index()
    assert node.listing().list_cases(CaseQuery(min_index=head)).as_of == head
    with pytest.raises(IndexBeyondHead) as beyond:  # no receipt has that index: no wait
        node.listing().list_cases(CaseQuery(min_index=head + 5))
    assert (beyond.value.field, beyond.value.reason) == ("min_index", "beyond_head")
    assert f"the ledger holds index {head}" in beyond.value.detail
    with pytest.raises(IndexBeyondHead):
        ReplayedCaseListing(world.app).list_cases(CaseQuery(min_index=head + 1))
    _open_case(world)
    new_head = world.app.store.max_index()
    # A listing that may not catch up itself (budget 0) waits for another writer, then says
    # which index it reflects.
    with pytest.raises(NotCaughtUp) as refused:
        node.listing(budget=0, wait=0.2).list_cases(CaseQuery(min_index=new_head))
    assert (refused.value.field, refused.value.reason) == ("min_index", "not_caught_up")
    assert f"reflects ledger index {head}; index {new_head} was not" in refused.value.detail
    assert node.listing().list_cases(CaseQuery(min_index=new_head)).as_of == new_head


def test_a_batch_written_by_another_follower_first_is_not_written_again(node: Node) -> None:
    world = node.world
    made = _cases(world)
    node.follower.catch_up()
    live = _tables(node.store)
    # A second follower that read position 0 before the first one wrote: refused, no row.
    stale = ProjectedCase(CaseSummary.of(world.app.get_case(made[0])), 1)
    assert not node.store.save_summaries(0, Tracking(SUMMARIES, 1), [stale])
    assert not node.store.save_legs(0, Tracking(DEADLINES, 1), LEG_KIND, {made[0]: ()})
    assert _tables(node.store) == live


def test_the_stored_legs_are_the_calendar_engines_across_spring_festival_2026(node: Node) -> None:
    """docs/supervision.md §4.8: Spring Festival 2026 (holidays 02-16–02-20 and 02-23,
    make-up Saturdays 02-14 and 02-28), an online case received, checked and accepted on Fri
    2026-02-13 of 失业登记 (not 行政许可: the service standard's limits)."""
    world = node.world
    world.clerk.append(world.root, "calendar_published", seed_year("510000", 2026).to_body())
    _at(world, "2026-02-13")
    case_id = _open_case(world)
    _advance(world, case_id, [("form_checked", PASS), ("accepted", {"note": ""})])
    # The engine reads a case through the index's (stream, seq) key: the rows the audit sees.
    entries = world.app.stream_entries(case_id)
    rows = world.app.store.select_stream_rows(case_id)
    assert [(e.index, e.seq, e.receipt) for e in entries] == [
        (r.index, r.seq, r.receipt) for r in rows
    ]
    assert len(entries) == 3
    node.follower.catch_up()
    assert _dated(node.store, case_id) == {
        # check: 1 day after Fri 02-13 is make-up Sat 02-14; closed the same day.
        "check": ("510104-RS", "2026-02-13", "2026-02-14", 1, 0, 1, 0),
        # acceptance: 5 days: Sat 02-14 (1), 02-24 (2), 02-25 (3), 02-26 (4), 02-27 (5).
        "acceptance": ("510104-RS", "2026-02-13", "2026-02-27", 5, 0, 1, 0),
        # decision: 15 days: 02-14 (1), 02-24–02-27 (2–5), Sat 02-28 (6), 03-02–03-06
        # (7–11), 03-09–03-12 (12–15).
        "decision": ("510104-RS", "2026-02-13", "2026-03-12", 15, 0, 0, 0),
    }
    thursday = datetime(2026, 3, 12, 10, tzinfo=CHINA)
    assert case_id not in {c.case_id for c in overdue(node.store, thursday)}
    (late,) = [c for c in overdue(node.store, thursday + timedelta(days=1)) if c.case_id == case_id]
    assert late.leg.name == "decision" and late.leg.deadline == date(2026, 3, 12)
    # A rebuild gives the same rows.
    live = _tables(node.store)
    node.follower.rebuild()
    assert _tables(node.store) == live


def test_a_served_node_keeps_the_calendar_engines_legs(node: Node) -> None:
    """``open_services`` wires ``NodeServices.legs`` (the engine over the node's registry):
    the node's follower stores every case's legs as the whole-ledger reading has them."""
    world = node.world
    world.clerk.append(world.root, "calendar_published", seed_year("510000", 2026).to_body())
    _cases(world)
    assert world.settings is not None
    services = open_services(world.settings)
    try:
        assert isinstance(services.legs, LedgerLegs)
        assert services.follower is not None
        services.follower.catch_up()
        assert services.read_models is not None
        stored = overdue(services.read_models, datetime(2027, 1, 1, tzinfo=UTC), limit=1000)
    finally:
        services.close()
        services.ledger.close()
    expected = [c for c in _all_legs(world) if not c.leg.closed and c.leg.deadline is not None]
    key = lambda c: (c.leg.deadline, c.case_id.hex, c.leg.name)  # noqa: E731
    assert stored == sorted(expected, key=key)
    assert {c.leg.name for c in stored} == {"check", "acceptance"}
    assert not any(c.leg.provisional for c in stored)


def test_publishing_a_year_recomputes_the_legs_counted_through_it(node: Node) -> None:
    """docs/supervision.md §4.8: an acceptance leg (5 days) starting Mon 2026-12-28 reaches
    into 2027, not yet published: 12-29 (1), 12-30 (2), 12-31 (3), Fri 2027-01-01 (4, a
    weekday), Mon 01-04 (5), provisional. The root then publishes 2027 with 01-01 a holiday:
    the same leg ends on 01-05 (12-29, 12-30, 12-31, 01-04, 01-05), final, although the case
    itself took no step."""
    world = node.world
    world.clerk.append(world.root, "calendar_published", seed_year("510000", 2026).to_body())
    _at(world, "2026-02-13")
    early = _open_case(world)  # counted through 2026 only
    _at(world, "2026-12-28")
    case_id = _open_case(world)
    _advance(world, case_id, [("form_checked", PASS)])
    node.follower.catch_up()
    assert _dated(node.store, case_id) == {
        "check": ("510104-RS", "2026-12-28", "2026-12-29", 1, 0, 1, 0),
        "acceptance": ("510104-RS", "2026-12-28", "2027-01-04", 5, 0, 0, 1),
    }
    before_early = _dated(node.store, early)
    assert before_early == {"check": ("510104-RS", "2026-02-13", "2026-02-14", 1, 0, 0, 0)}
    year = CalendarYear("510000", 2027, frozenset({date(2027, 1, 1)}), source="test: 元旦 2027")
    world.clerk.append(world.root, "calendar_published", year.to_body())
    node.follower.catch_up()
    assert _dated(node.store, case_id) == {
        "check": ("510104-RS", "2026-12-28", "2026-12-29", 1, 0, 1, 0),
        "acceptance": ("510104-RS", "2026-12-28", "2027-01-05", 5, 0, 0, 0),
    }
    assert _dated(node.store, early) == before_early
    on_the_fifth = datetime(2027, 1, 5, 10, tzinfo=CHINA)
    assert case_id not in {c.case_id for c in overdue(node.store, on_the_fifth)}
    assert case_id in {c.case_id for c in overdue(node.store, on_the_fifth + timedelta(days=1))}
    # The rows no longer depend on when the calendar came: a rebuild gives the same.
    live = _tables(node.store)
    node.follower.rebuild()
    assert _tables(node.store) == live


def test_a_suspended_leg_is_stored_without_a_running_deadline(node: Node) -> None:
    """A decision leg suspended on its start day (Fri 2026-02-13) has no stored deadline
    while the pause lasts (never overdue, as ``judge`` has it); resumed Mon 03-02, the pause
    excludes the working days in (02-13, 03-02]: Sat 02-14, 02-24–02-27, Sat 02-28, 03-02 = 7,
    and 15 days run 03-03–03-06 (1–4), 03-09–03-13 (5–9), 03-16–03-20 (10–14), 03-23 (15)."""
    world = node.world
    world.clerk.append(world.root, "calendar_published", seed_year("510000", 2026).to_body())
    _at(world, "2026-02-13")
    case_id = _open_case(world)
    steps: list[tuple[str, dict[str, Any]]] = [("form_checked", PASS), ("accepted", {"note": ""})]
    _advance(world, case_id, [*steps, ("suspended", {"reason": "hearing", "detail": "听证"})])
    node.follower.catch_up()
    assert _dated(node.store, case_id)["decision"] == ("510104-RS", "2026-02-13", None, 15, 0, 0, 0)
    assert case_id not in {
        c.case_id for c in overdue(node.store, datetime(2026, 12, 1, tzinfo=UTC))
    }
    _at(world, "2026-03-02")
    _advance(world, case_id, [("resumed", {"note": ""})])
    node.follower.catch_up()
    assert _dated(node.store, case_id)["decision"] == (
        "510104-RS",
        "2026-02-13",
        "2026-03-23",
        15,
        7,
        0,
        0,
    )


def test_a_leg_suspended_on_its_deadline_day_keeps_it_and_is_overdue_after_as_judged(
    node: Node,
) -> None:
    """The decision leg of the Spring Festival case is due Thu 2026-03-12; suspended that very
    day, the pause excludes only the days after it, so no working day is left: the stored row
    keeps 03-12 and the leg is overdue from 03-13, as ``judge`` (``tongban supervise cases``)
    says. (It was stored without a deadline, never overdue: the two views disagreed.)"""
    world = node.world
    world.clerk.append(world.root, "calendar_published", seed_year("510000", 2026).to_body())
    _at(world, "2026-02-13")
    case_id = _open_case(world)
    _advance(world, case_id, [("form_checked", PASS), ("accepted", {"note": ""})])
    _at(world, "2026-03-12")
    _advance(world, case_id, [("suspended", {"reason": "testing", "detail": ""})])
    node.follower.catch_up()
    assert _dated(node.store, case_id)["decision"][2] == "2026-03-12"
    friday = date(2026, 3, 13)
    cases, books = supervise_ledger(world.app)
    [judged] = [c.judged(friday, books) for c in cases if uuid.UUID(c.case_id) == case_id]
    [decision] = [leg for leg in judged["legs"] if leg["name"] == "decision"]
    assert decision["status"] == "overdue"
    stored = overdue(node.store, datetime(2026, 3, 13, 10, tzinfo=CHINA))
    assert [(c.case_id, c.leg.name) for c in stored] == [(case_id, "decision")]
    assert overdue(node.store, datetime(2026, 3, 12, 10, tzinfo=CHINA)) == []


def test_a_dated_rows_table_of_the_older_shape_is_dropped_and_followed_again(
    tmp_path: Path,
) -> None:
    """A node whose ``readmodel_case_dated`` predates ``reach`` (10 columns): opening the store
    drops it and sets ``case_deadlines`` back to index 0, so the follower rebuilds it; the
    summaries keep their position."""
    path = tmp_path / "readmodels.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE readmodel_tracking "
            "(projection TEXT PRIMARY KEY, position BIGINT NOT NULL)"
        )
        old.executemany(
            "INSERT INTO readmodel_tracking VALUES (?, ?)", [(SUMMARIES, 40), (DEADLINES, 40)]
        )
        old.execute(
            "CREATE TABLE readmodel_case_dated (kind TEXT NOT NULL, case_id TEXT NOT NULL, "
            "name TEXT NOT NULL, body TEXT NOT NULL, started TEXT NOT NULL, deadline TEXT, "
            "allowed INTEGER NOT NULL, paused INTEGER NOT NULL, closed INTEGER NOT NULL, "
            "provisional INTEGER NOT NULL, PRIMARY KEY (kind, case_id, name))"
        )
        old.execute(
            "INSERT INTO readmodel_case_dated VALUES "
            "('leg', 'c', 'decision', 'b', '2026-01-01', '2026-01-22', 15, 0, 0, 0)"
        )
    old.close()
    store = memory_read_models(path)
    try:
        assert (store.position(SUMMARIES), store.position(DEADLINES)) == (40, 0)
        with store._tx() as cur:
            cur.execute("SELECT * FROM readmodel_case_dated")
            assert cur.fetchall() == [] and len(cur.description) == DATED_COLUMNS == 14
    finally:
        store.close()
    again = memory_read_models(path)  # the new shape is kept as it is
    try:
        assert again.position(SUMMARIES) == 40
    finally:
        again.close()


def test_the_older_rectifications_table_is_dropped_and_ratings_followed_from_zero(
    tmp_path: Path,
) -> None:
    """A node from before ``case_ratings`` kept only the 差评 in ``readmodel_rectifications``:
    opening the store drops that table and its position, and ``case_ratings`` starts at 0."""
    path = tmp_path / "readmodels.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE readmodel_tracking "
            "(projection TEXT PRIMARY KEY, position BIGINT NOT NULL)"
        )
        old.executemany(
            "INSERT INTO readmodel_tracking VALUES (?, ?)",
            [(SUMMARIES, 40), ("case_rectifications", 40)],
        )
        old.execute("CREATE TABLE readmodel_rectifications (case_id TEXT PRIMARY KEY)")
    old.close()
    store = memory_read_models(path)
    try:
        assert (store.position(SUMMARIES), store.position(RATINGS)) == (40, 0)
        with store._tx() as cur:
            cur.execute("SELECT projection FROM readmodel_tracking ORDER BY projection")
            assert [row[0] for row in cur.fetchall()] == [DEADLINES, SUMMARIES]
            cur.execute("SELECT name FROM sqlite_master WHERE name = 'readmodel_rectifications'")
            assert cur.fetchall() == []
    finally:
        store.close()


# -- the bulletin of the month under way, counted from the rows -----------------------------


RARE_STEPS = frozenset({"withdrawn", "refused", "reopened", "transferred", "mail_problem"})


def _walk_cases(world: World, seed: int, first: date, last: date) -> Counter[str]:
    """Cases of every channel and coordination (direct-joint aside: it needs an amendment),
    opened on random working days of ``[first, last]`` and walked through random rows of the
    transition table, a day at a time, so receipt times only grow: supplement rounds,
    suspensions, transfers, refusals, withdrawals, decisions, deliveries, ratings (good and
    poor) and rectifications. Refused attempts (a transfer's new officer, an origin body not
    yet heard) append nothing. Returns the steps appended, by type."""
    rng = random.Random(seed)
    combos = [c for c in COMBOS if not c.catalog_changes]
    walking: list[tuple[LedgerCase, dict[str, str]]] = []
    steps: Counter[str] = Counter()
    day = first
    while day <= last:
        _at(world, day.isoformat())
        if rng.random() < 0.6:
            walking.append((LedgerCase(world, rng.choice(combos)), {}))
        for case, officers in walking:
            if rng.random() > 0.4:
                continue
            rows = graph(case.combo.channel, case.combo.coordination)
            flow = None if case.seq == 0 else case.flow
            state = START if flow is None else flow.state
            choices = [
                t
                for t in rows
                if t.state == state and t.step.split(":")[0] not in {"corrected", "extended"}
            ]
            if flow is not None and state in RATEABLE_STATES:
                choices += [t for t in RATING_TRANSITIONS if t.state == flow.rating]
            if not choices:
                continue
            # Forward more often than back: most cases reach a decision, a rating, a
            # rectification; some are refused, withdrawn or reopened on the way.
            weights = [0.2 if t.step.split(":")[0] in RARE_STEPS else 1.0 for t in choices]
            t = rng.choices(choices, weights)[0]
            if t.step.startswith("decided:") and case.combo.coordination == "joint":
                co_handle_all(case)
            actor = "intake" if t.actor == "rater" else t.actor  # a rating at the window
            officer = officers.get(actor, case.combo.officer_for(actor))
            try:
                case.take(officer, t.step)
            except LedgerError:
                continue
            steps[t.step.split(":")[0]] += 1
            if t.step == "transferred":
                officers["home"] = "cdrs-001"  # body_for's transfer goes to 510100-RS
        day += timedelta(days=1)
    return steps


@pytest.mark.parametrize("seed", [11, 29])
def test_the_bulletin_of_the_month_under_way_is_counted_from_rows_as_from_the_ledger(
    node: Node, seed: int
) -> None:
    """``bulletin_of_read_models`` (every case's days and rating, the stored legs) gives the
    bulletin ``bulletin_of`` replays from the ledger, row for row, for the month the ledger's
    newest step falls in and for a later one, across 2026's Qingming holiday (04-04–04-06)."""
    world = node.world
    populate(world)
    world.clerk.append(world.root, "calendar_published", seed_year("510000", 2026).to_body())
    steps = _walk_cases(world, seed, date(2026, 2, 2), date(2026, 4, 24))
    assert sum(steps.values()) > 150
    node.follower.catch_up()
    calendars = published_calendars(world.app)
    for month in ("2026-04", "2026-05"):
        replayed = bulletin_of(world.app, month)
        counted = bulletin_of_read_models(node.store, month, calendars, world.region)
        assert counted.rows == replayed.rows, month
        assert (counted.notes, counted.calendar) == (replayed.notes, replayed.calendar)
    april = {(r["body"], r["item"]): r for r in replayed.rows if r["month"] == "2026-05"}
    # Every column had something to count (the walk is not a trivial one).
    rows = bulletin_of(world.app, "2026-04").rows
    for column in ("cases_received", "cases_closed", "legs_closed", "overdue", "ratings"):
        assert sum(int(str(r[column] or 0)) for r in rows) > 0, column
    assert any(r["body"] == "320105-ZWFW" for r in rows)  # a window's legs have their row
    assert april  # May has rows: legs still open and overdue at its end


def test_ratings_followed_before_the_case_days_table_are_followed_again_from_zero(
    tmp_path: Path,
) -> None:
    """A node whose ``case_ratings`` was followed before ``readmodel_case_days`` existed has
    days only for cases changed since: opening the store makes the table and sets
    ``case_ratings`` back to 0 (its old rows dropped); a store that has the table keeps its
    position."""
    path = tmp_path / "readmodels.sqlite3"
    store = memory_read_models(path)
    with store._tx() as cur:
        cur.execute("DROP TABLE readmodel_case_days")
        cur.execute("INSERT INTO readmodel_tracking VALUES (?, 40)", (RATINGS,))
        cur.execute(
            "INSERT INTO readmodel_ratings VALUES "
            "('c', '510000/1/5', 'b', 'satisfied', 0, '2026-01-05', NULL, '2026-01-05', '[]')"
        )
    store.close()
    upgraded = memory_read_models(path)
    try:
        assert (upgraded.position(SUMMARIES), upgraded.position(RATINGS)) == (0, 0)
        with upgraded._tx() as cur:
            cur.execute("SELECT COUNT(*) FROM readmodel_ratings")
            assert cur.fetchone()[0] == 0
            cur.execute(
                "UPDATE readmodel_tracking SET position = 40 WHERE projection = ?", (RATINGS,)
            )
    finally:
        upgraded.close()
    again = memory_read_models(path)
    try:
        assert again.position(RATINGS) == 40
    finally:
        again.close()


def test_a_caught_up_reader_reads_the_positions_once(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every listing and worklist catches up first; once the projections stand at the head
    that is one read of every position (one query), not a read per projection, twice."""
    _cases(node.world)
    node.follower.catch_up()
    reads: list[list[str]] = []
    real = node.store.positions

    def counted(projections: Any) -> dict[str, int]:
        reads.append(list(projections))
        return real(projections)

    monkeypatch.setattr(node.store, "positions", counted)
    monkeypatch.setattr(node.store, "position", lambda _: pytest.fail("one at a time"))
    head = node.world.app.store.max_index()
    assert node.follower.catch_up(budget=1.0) == head
    assert reads == [[SUMMARIES, DEADLINES, RATINGS]]
    assert real([SUMMARIES, "nothing yet"]) == {SUMMARIES: head, "nothing yet": 0}


def test_legs_bounded_by_deadline_are_read_in_the_index_order_not_sorted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body's open legs up to a date (the worklist's 时限提醒, /supervision/legs, the
    scheduler) come in the order of the (kind, body, closed, deadline, case) index: SQLite
    sorted every open leg of the body first (a NULLs-last term in ORDER BY), 260 ms a page on
    the 1,000,000-event benchmark ledger. Unbounded listings keep the legs without a
    deadline last."""
    store = memory_read_models(tmp_path / "readmodels.sqlite3")
    statements: list[str] = []
    connect = store._connect

    @contextmanager
    def traced() -> Iterator[sqlite3.Connection]:
        with connect() as conn:
            conn.set_trace_callback(statements.append)
            yield conn

    monkeypatch.setattr(store, "_connect", traced)
    store.dated_rows(LEG_KIND, until=date(2026, 12, 15), bodies=["510104-RS"], limit=20)
    store.dated_rows(LEG_KIND, bodies=["510104-RS"], limit=20)
    bounded, unbounded = (s for s in statements if "FROM readmodel_case_dated d" in s)
    monkeypatch.undo()
    with store._tx() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + bounded)
        plan = [str(row[-1]) for row in cur.fetchall()]
    store.close()
    assert any("readmodel_dated_body_due" in step for step in plan), plan
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan  # a partial sort of ties at most
    assert "ORDER BY d.deadline IS NULL" in unbounded
