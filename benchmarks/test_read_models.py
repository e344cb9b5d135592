"""R0–R3: read-model queries on a large ledger against a small one (``make bench-large``).

Two SQLite node ledgers filled by the bulk loader (``benchmarks/loader.py``: the real append
path, 10 steps a case, one body ``510104-RS``): ``TONGBAN_BENCH_SMALL_EVENTS`` (default 10,000)
and ``TONGBAN_BENCH_LARGE_EVENTS`` (default 1,000,000, the issue's size). A ledger already
built elsewhere is reused from ``TONGBAN_BENCH_LARGE_DIR`` (a data directory the loader filled:
``TONGBAN_BENCH_P7_EVENTS=1000000 python -m benchmarks.loader var/bench/large-1m``); its size is
then what it holds (``TONGBAN_BENCH_SMALL_DIR`` likewise for the small one). Each ledger's
read models are built by following it from index 0 (the follower's rate is a row of the table;
a store built in an earlier run is only caught up), then the same queries are timed on both:

- R1: a body's first page of 50 cases in one state (``GET /cases?state=...``), through
  ``ProjectedCaseListing`` (so the catch-up check each listing makes is included);
- R2: the page of 50 after a case half-way through the ledger (``after``), no filter;
- R3: the first 50 legs overdue now (``ledger.read_models.overdue``) with a deadline per case
  spread over a year, as of a date that makes about three quarters of them overdue.

Target (issue 16): each costs at most 1.3x on the large ledger what it costs on the small one,
same run (throughput ratio at least 0.77).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import follower_of, open_ledger
from adapters.readmodels import SqlReadModelStore, open_read_models
from adapters.settings import Settings
from benchmarks.conftest import row
from benchmarks.loader import load, new_world
from ledger.application import LedgerApplication
from ledger.case_listing import CaseQuery
from ledger.persistence import LedgerEntry
from ledger.read_models import LedgerFollower, Leg, ProjectedCaseListing, overdue
from ledger.workflow import CaseWorkflow

pytestmark = pytest.mark.large

BASE = date(2026, 1, 1)
AS_OF = datetime(2026, 10, 1, 4, tzinfo=UTC)  # three quarters of the deadlines are before it
BODY = "510104-RS"
ROUNDS = 300


class SpreadLegs:
    """One leg per case, its deadline spread over a year by the case id (a stand-in for the
    calendar engine: what is measured is the stored-deadline query)."""

    def prepare(self, entries: Sequence[LedgerEntry]) -> list[tuple[date, date]]:
        return []

    def __call__(self, case_id: uuid.UUID) -> Sequence[Leg]:
        return (
            Leg(
                name="decision",
                started=BASE,
                deadline=BASE + timedelta(days=case_id.int % 365),
                working_days_allowed=20,
                working_days_paused=0,
                closed=False,
                body=BODY,
            ),
        )


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
        load(world, events)
        world.app.close()
    app = open_ledger(Settings(data_dir=data_dir, region="510000"), workflow=CaseWorkflow())
    store = open_read_models(app_url(data_dir), data_dir)
    follower = follower_of(app, store, SpreadLegs())
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
    page = listing.list_cases(CaseQuery(body=BODY, state="suspended", limit=50))
    assert len(page.cases) == 50 and page.as_of == node.events
    return page


def _after_page(node: Node) -> Any:
    page = ProjectedCaseListing(node.follower).list_cases(CaseQuery(after=node.middle, limit=50))
    assert len(page.cases) == 50
    return page


def _overdue(node: Node) -> Any:
    found = overdue(node.store, AS_OF, limit=50)
    assert len(found) == 50
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
