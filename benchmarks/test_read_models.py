"""R0–R3: read-model queries on a large ledger against a small one (``make bench-large``).

Two SQLite node ledgers filled by the bulk loader (``benchmarks/loader.py``: the real append
path, 9 steps a case — received, checked, accepted, then suspended and resumed three times, so
each case's decision leg runs again — one body ``510104-RS``, 2026's calendar published first):
``TONGBAN_BENCH_SMALL_EVENTS`` (default 10,000) and ``TONGBAN_BENCH_LARGE_EVENTS`` (default
1,000,000, the issue's size). A ledger already built elsewhere is reused from
``TONGBAN_BENCH_LARGE_DIR`` (a data directory the loader filled: ``TONGBAN_BENCH_CASE_STEPS=9
TONGBAN_BENCH_P7_EVENTS=1000000 python -m benchmarks.loader var/bench/large-1m``); its size is
then what it holds (``TONGBAN_BENCH_SMALL_DIR`` likewise for the small one). Each ledger's
read models are built by following it from index 0 with the node's real projections (case
summaries, and the calendar engine's legs: ``ledger.supervision.projection.LedgerLegs``; the
follower's rate is a row of the table; a store built in an earlier run is only caught up), then
the same queries are timed on both:

- R1: a body's first page of 50 cases in one state (``GET /cases?state=...``), through
  ``ProjectedCaseListing`` (so the catch-up check each listing makes is included);
- R2: the page of 50 after a case half-way through the ledger (``after``), no filter;
- R3: the first 50 legs overdue now (``ledger.read_models.overdue``) on the engine's stored
  legs: every case's decision leg (15 working days from 2026-01-01: 01-04, the make-up Sunday,
  to 01-22) is open and overdue as of 2026-10-01.

Target (issue 16): each costs at most 1.3x on the large ledger what it costs on the small one,
same run (throughput ratio at least 0.77).

B1 times the bulletin of the month under way from the read models against its replay from the
ledger (no size target: :func:`test_bulletin_of_the_month_under_way` says why).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import follower_of, open_ledger
from adapters.calendar_seed import seed_year
from adapters.readmodels import SqlReadModelStore, open_read_models
from adapters.settings import Settings
from benchmarks.conftest import row
from benchmarks.loader import load, new_world
from ledger.application import LedgerApplication
from ledger.case_listing import CaseQuery
from ledger.ratings.stats import (
    Bulletin,
    bulletin_of,
    bulletin_of_read_models,
    published_calendars,
)
from ledger.read_models import LedgerFollower, ProjectedCaseListing, overdue
from ledger.workflow import CaseWorkflow

pytestmark = pytest.mark.large

CASE_STEPS = 9  # ends ``resumed``: the decision leg runs (a suspended one is never overdue)
AS_OF = datetime(2026, 10, 1, 4, tzinfo=UTC)  # every decision leg (due 2026-01-22) is overdue
BODY = "510104-RS"
# From Thu 2026-01-01 (a holiday) on 2026's calendar: check 1 day (Sunday 01-04, a make-up
# workday), acceptance 5 (01-04 to 01-08), decision 15 (01-04, 01-05 to 01-22).
DUE = {"check": date(2026, 1, 4), "acceptance": date(2026, 1, 8), "decision": date(2026, 1, 22)}
ROUNDS = 300


@dataclass
class Node:
    events: int
    app: LedgerApplication
    store: SqlReadModelStore
    follower: LedgerFollower
    middle: uuid.UUID  # a case half-way through the ledger


def _node(data_dir: Path, events: int, label: str) -> Node:
    ledger_file = data_dir / "ledger.sqlite3"
    if not ledger_file.exists() or ledger_file.stat().st_size == 0:
        world = new_world(data_dir)
        world.clerk.append(world.root, "calendar_published", seed_year("510000", 2026).to_body())
        load(world, events, case_steps=CASE_STEPS)
        world.app.close()
    app = open_ledger(Settings(data_dir=data_dir, region="510000"), workflow=CaseWorkflow())
    store = open_read_models(app_url(data_dir), data_dir)
    follower = follower_of(app, store)  # the node's projections, the engine's legs
    started = time.perf_counter()
    reached = follower.catch_up()
    seconds = time.perf_counter() - started
    held = app.store.max_index()
    if seconds > 0.5:  # a store built in an earlier run is only checked
        row(
            f"R0 read models built from {label} ({held:,} events)",
            f"{held / seconds:,.0f} events/s",
            note=f"{seconds:.1f} s to follow the ledger from index 0 to {reached:,}",
        )
    case_ids = app.case_ids()
    return Node(held, app, store, follower, case_ids[len(case_ids) // 2])


def app_url(data_dir: Path) -> str:
    return Settings(data_dir=data_dir, region="510000").resolved_database_url()


def _events(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    given = os.environ.get("TONGBAN_BENCH_SMALL_DIR")
    data_dir = Path(given) if given else tmp_path_factory.mktemp("small")
    events = _events("TONGBAN_BENCH_SMALL_EVENTS", 10_000)
    node = _node(data_dir, events, "the small ledger")
    yield node
    node.store.close()
    node.app.close()


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    given = os.environ.get("TONGBAN_BENCH_LARGE_DIR")
    data_dir = Path(given) if given else tmp_path_factory.mktemp("large")
    events = _events("TONGBAN_BENCH_LARGE_EVENTS", 1_000_000)
    node = _node(data_dir, events, "the large ledger")
    yield node
    node.store.close()
    node.app.close()


def _list_page(node: Node) -> Any:
    listing = ProjectedCaseListing(node.follower)
    page = listing.list_cases(CaseQuery(body=BODY, state="accepted", limit=50))
    assert len(page.cases) == 50 and page.as_of == node.events
    return page


def _after_page(node: Node) -> Any:
    page = ProjectedCaseListing(node.follower).list_cases(CaseQuery(after=node.middle, limit=50))
    assert len(page.cases) == 50
    return page


def _overdue(node: Node) -> Any:
    found = overdue(node.store, AS_OF, limit=50)
    assert len(found) == 50
    # Earliest first: the check and acceptance legs of the cases the loader left open, then
    # the decision legs; every one owed by the body, none suspended.
    assert all(c.leg.deadline == DUE[c.leg.name] and c.leg.body == BODY for c in found)
    return found


QUERIES = {
    "R1 case list: a body's first page in one state": _list_page,
    "R2 case list: the page after a case half-way": _after_page,
    "R3 overdue now: the first 50 legs": _overdue,
}


@pytest.mark.parametrize("figure", list(QUERIES))
def test_query_on_the_small_ledger(benchmark: Any, record: Any, small: Node, figure: str) -> None:
    record(f"{figure}, {small.events:,} events")
    benchmark.pedantic(QUERIES[figure], args=(small,), rounds=ROUNDS, warmup_rounds=20)


@pytest.mark.parametrize("figure", list(QUERIES))
def test_query_on_the_large_ledger(
    benchmark: Any, record: Any, small: Node, large: Node, figure: str
) -> None:
    record(
        f"{figure}, {large.events:,} events",
        baseline=f"{figure}, {small.events:,} events",
        note="target: cost at most 1.3x the small ledger's (ratio >= 0.77)",
    )
    benchmark.pedantic(QUERIES[figure], args=(large,), rounds=ROUNDS, warmup_rounds=20)


INTERLEAVED_ROUNDS = 400


def test_queries_interleaved(small: Node, large: Node) -> None:
    """The same queries timed in turn on both ledgers, round by round: load from other jobs
    on the machine then falls on both alike (the figures above are minutes apart)."""
    for figure, query in QUERIES.items():
        times: dict[str, list[float]] = {"small": [], "large": []}
        for _ in range(20):
            query(small), query(large)
        for _ in range(INTERLEAVED_ROUNDS):
            for name, node in (("small", small), ("large", large)):
                started = time.perf_counter()
                query(node)
                times[name].append(time.perf_counter() - started)
        cost = statistics.median(times["large"]) / statistics.median(times["small"])
        row(
            f"{figure}, interleaved, {large.events:,} vs {small.events:,} events",
            f"{statistics.median(times['large']) * 1e3:.3f} ms",
            baseline=f"{statistics.median(times['small']) * 1e3:.3f} ms",
            ratio=f"cost {cost:.3f}x",
            note=f"median of {INTERLEAVED_ROUNDS} rounds each; target: cost at most 1.3x",
        )


BULLETIN_MONTH = "2026-01"  # every step of the loader's ledgers is received in it
BULLETIN_ROUNDS = 5


def _bulletin_seconds(make: Callable[[], Bulletin], rounds: int) -> tuple[float, Bulletin]:
    times, made = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        made = make()
        times.append(time.perf_counter() - started)
    assert made is not None
    return statistics.median(times), made


def test_bulletin_of_the_month_under_way(small: Node, large: Node) -> None:
    """B1: the bulletin of the month under way counted from the read models
    (``bulletin_of_read_models``) against the same bulletin replayed from the ledger
    (``bulletin_of``), on the small ledger, then from the read models on the large one.

    No size target: a month's bulletin reads the cases received, closed or rated in it and the
    legs open now, and every case of the loader's ledgers is received in one month and left
    open, so the cost here grows with the ledger (a real month holds a month's cases)."""
    calendars = published_calendars(small.app)

    def from_rows(node: Node) -> Bulletin:
        return bulletin_of_read_models(node.store, BULLETIN_MONTH, calendars, "510000")

    replayed_seconds, replayed = _bulletin_seconds(
        lambda: bulletin_of(small.app, BULLETIN_MONTH), 1
    )
    small_seconds, counted = _bulletin_seconds(lambda: from_rows(small), BULLETIN_ROUNDS)
    assert counted.rows == replayed.rows
    row(
        f"B1 bulletin of the month under way from the read models, {small.events:,} events",
        f"{small_seconds * 1e3:,.1f} ms",
        baseline=f"replayed from the ledger: {replayed_seconds * 1e3:,.1f} ms",
        ratio=f"{replayed_seconds / small_seconds:,.0f}x faster",
        note=f"median of {BULLETIN_ROUNDS}; the same rows",
    )
    large_seconds, made = _bulletin_seconds(lambda: from_rows(large), BULLETIN_ROUNDS)
    [body] = made.rows
    assert body["cases_received"] == len(large.app.case_ids())
    row(
        f"B1 bulletin of the month under way from the read models, {large.events:,} events",
        f"{large_seconds * 1e3:,.1f} ms",
        baseline=f"{small.events:,} events: {small_seconds * 1e3:,.1f} ms",
        ratio=f"cost {large_seconds / small_seconds:,.1f}x",
        note=f"median of {BULLETIN_ROUNDS}; every case received in the month and open",
    )
