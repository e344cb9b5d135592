"""The alert feed's store and the supervision queries of the read models, on SQLite and
PostgreSQL (docs/supervision.md §7.3): each alert once, a gapless cursor in commit order."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.persistence import Tracking

from adapters.alerts import AlertStore, open_alert_store
from adapters.readmodels import SqlReadModelStore, open_read_models
from ledger.read_models import DEADLINES, LEG_KIND, Leg
from ledger.supervision.watch import Alert

D = dt.date.fromisoformat
NOW = dt.datetime(2025, 10, 10, 1, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url"), request.getfixturevalue("postgres_schema")
    return "", None


@pytest.fixture
def store(where: tuple[str, str | None], tmp_path: Path) -> Iterator[AlertStore]:
    url, schema = where
    opened = open_alert_store(url, tmp_path, schema=schema)
    yield opened
    opened.close()


def _alert(case: str, status: str, deadline: str, body: str = "510104-RS") -> Alert:
    return Alert("leg", case, "decision", body, "510000/2/23", status, D(deadline), D("2025-10-10"))


def test_an_alert_is_recorded_once_and_the_cursor_pages(store: AlertStore) -> None:
    first = store.record(
        [_alert("c1", "due_soon", "2025-10-09"), _alert("c2", "overdue", "2025-09-30", "X")],
        now=NOW,
    )
    assert [a.seq for a in first] == [1, 2]
    assert first[0].recorded_at == NOW.isoformat()
    # The same again, and one new: only the new one is recorded, with the next seq.
    again = store.record(
        [_alert("c1", "due_soon", "2025-10-09"), _alert("c1", "overdue", "2025-10-09")], now=NOW
    )
    assert [(a.seq, a.case_id, a.status) for a in again] == [(3, "c1", "overdue")]
    # A deadline that moved is a new alert.
    assert [a.seq for a in store.record([_alert("c1", "overdue", "2025-10-13")], now=NOW)] == [4]
    assert [a.seq for a in store.after(0, limit=2)] == [1, 2]
    assert [a.seq for a in store.after(2)] == [3, 4]
    assert store.after(4) == []
    assert [a.seq for a in store.after(0, bodies=["X"])] == [2]
    assert store.after(0, bodies=[]) == []
    assert store.last_seq() == 4
    assert store.after(0)[0] == first[0]  # read back as recorded


def test_recorders_at_once_give_each_alert_one_gapless_seq(
    where: tuple[str, str | None], tmp_path: Path
) -> None:
    """Four recorders at once, each with 20 alerts of its own and 5 that all of them find:
    85 alerts, seqs 1..85, none twice, no recorder refused."""
    url, schema = where
    stores = [open_alert_store(url, tmp_path, schema=schema) for _ in range(4)]
    shared = [_alert(f"shared{n}", "overdue", "2025-10-09") for n in range(5)]
    batches = [
        [_alert(f"s{k}c{n}", "overdue", "2025-10-09") for n in range(20)] + shared
        for k in range(len(stores))
    ]
    start = threading.Barrier(len(stores))
    failures: list[BaseException] = []

    def record(store: AlertStore, batch: list[Alert]) -> None:
        start.wait()
        try:
            for alert in batch:  # one transaction per alert: the recorders interleave
                store.record([alert], now=NOW)
        except BaseException as error:  # reported below: a thread's exception is not raised
            failures.append(error)

    threads = [
        threading.Thread(target=record, args=pair) for pair in zip(stores, batches, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    recorded = stores[0].after(0, limit=1000)
    assert [a.seq for a in recorded] == list(range(1, 86))
    assert len({a.key for a in recorded}) == 85
    for store in stores:
        store.close()


@pytest.fixture
def read_models(where: tuple[str, str | None], tmp_path: Path) -> Iterator[SqlReadModelStore]:
    url, schema = where
    opened = open_read_models(url, tmp_path, schema=schema)
    yield opened
    opened.close()


def test_the_dated_rows_queries(read_models: SqlReadModelStore) -> None:
    cases = [uuid.UUID(int=n) for n in range(1, 4)]
    legs = {
        cases[0]: [
            Leg("acceptance", D("2025-09-22"), D("2025-09-26"), 5, 0, True, "A"),
            Leg("decision", D("2025-09-26"), D("2025-10-09"), 10, 0, False, "A"),
        ],
        cases[1]: [Leg("decision", D("2025-09-22"), D("2025-10-09"), 10, 0, False, "B")],
        cases[2]: [Leg("delivery", D("2025-09-22"), None, 0, 0, False, "A")],
    }
    assert read_models.save_legs(0, Tracking(DEADLINES, 5), LEG_KIND, legs)
    rows = read_models.dated_rows(LEG_KIND, until=D("2025-12-31"))
    assert [(r.case_id, r.leg.name, item) for r, item in rows] == [
        (cases[0], "decision", ""),  # no summary yet: no item
        (cases[1], "decision", ""),
    ]
    everything = read_models.dated_rows(LEG_KIND, open_only=False, limit=10)
    assert [r.leg.name for r, _ in everything] == ["acceptance", "decision", "decision", "delivery"]
    assert everything[-1][0].leg.deadline is None  # no limit: last
    after = (D("2025-10-09"), cases[0], "decision")
    assert [r.case_id for r, _ in read_models.dated_rows(LEG_KIND, after_row=after)] == [
        cases[1],
        cases[2],
    ]
    assert [r.leg.body for r, _ in read_models.dated_rows(LEG_KIND, bodies=["B"])] == ["B"]
    assert read_models.dated_rows(LEG_KIND, bodies=[]) == []
    tallies = read_models.dated_tallies(LEG_KIND, as_of=D("2025-10-10"), by="body")
    assert {key: tally[:3] for key, tally in tallies.items()} == {"A": (2, 1, 1), "B": (1, 1, 0)}
    by_item = read_models.dated_tallies(LEG_KIND, as_of=D("2025-10-09"), by="item")
    assert {key: tally[:3] for key, tally in by_item.items()} == {"": (3, 0, 1)}
