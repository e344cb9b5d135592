"""P1 / P2: signed appends through the library on PostgreSQL, 1 and 8 writers.

P1: ``LedgerApplication.append_event`` (signature check, the real ``CaseWorkflow``, commit
with ledger index and signed receipt), one writer, vs plain eventsourcing: an unsigned
``Aggregate``, one event per ``save``, same PostgreSQL. P2: the same with 8 threads on
different cases sharing one ``LedgerApplication``, as a node's request threads do (its group
commit writes the appends that wait together in one transaction), vs 8 plain eventsourcing
applications and vs raw psycopg (8 connections, one INSERT + COMMIT per event).

Every commit is durable when the call returns (``synchronous_commit = on``). Beside each
figure: WAL fsyncs per acknowledged event, from ``pg_stat_wal.wal_sync`` read before and after
(cluster-wide; see ``WalMeter``). Events are signed before the timed round (setup).

Run: ``TONGBAN_TEST_POSTGRES_URL=postgresql://user@host:5432/db make bench`` (default
``postgresql://postgres@127.0.0.1:5432/test``); skipped with a reason if unreachable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from adapters.bootstrap import persistence_env
from benchmarks.conftest import WalMeter, add_note
from benchmarks.loader import CaseWriter, new_world

WRITERS = 8
P1_ROUNDS = 150
P2_ROUNDS = 12
P2_EACH = 5  # events per writer per round
PAYLOAD = "x" * 600  # about one signed envelope


class Note(Aggregate):
    @event("Opened")
    def __init__(self) -> None:
        pass

    @event("Noted")
    def note(self, payload: str) -> None:
        pass


def plain_app(url: str, schema: str) -> Application[uuid.UUID]:
    env = persistence_env(url, schema=schema)
    del env["APPLICATION_RECORDER_TOPIC"]
    return Application[uuid.UUID](env)


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(WRITERS) as executor:
        yield executor


def _parallel(pool: ThreadPoolExecutor, jobs: list[Callable[[], None]]) -> None:
    for future in [pool.submit(job) for job in jobs]:
        future.result()


def test_p1_plain_eventsourcing_1_writer(
    benchmark: Any, record: Any, postgres_url: str, new_schema: Any
) -> None:
    record("P1 baseline: plain eventsourcing, 1 writer")
    app = plain_app(postgres_url, new_schema("p1es"))
    note = Note()
    app.save(note)
    done = [0]

    def append() -> None:
        note.note(PAYLOAD)
        app.save(note)
        done[0] += 1

    meter = WalMeter(postgres_url)
    benchmark.pedantic(append, rounds=P1_ROUNDS, warmup_rounds=5)
    app.close()
    add_note("P1 baseline: plain eventsourcing, 1 writer", meter.per_event(done[0]))


def test_p1_signed_append_1_writer(
    benchmark: Any, record: Any, postgres_url: str, new_schema: Any, tmp_path: Path
) -> None:
    figure = "P1 signed append (library, PG), 1 writer"
    record(figure, baseline="P1 baseline: plain eventsourcing, 1 writer")
    world = new_world(tmp_path, postgres_url, new_schema("p1"))
    writer = CaseWriter(world)
    done = [0]

    def setup() -> tuple[tuple[bytes], dict[str, Any]]:
        return (writer.next_event(world.clock.now),), {}

    def append(raw: bytes) -> None:
        world.app.append_event(raw)
        done[0] += 1

    meter = WalMeter(postgres_url)
    benchmark.pedantic(append, setup=setup, rounds=P1_ROUNDS, warmup_rounds=5)
    world.app.close()
    add_note(figure, meter.per_event(done[0]))


def test_p2_raw_psycopg_8_writers(
    benchmark: Any, record: Any, postgres_url: str, new_schema: Any, pool: ThreadPoolExecutor
) -> None:
    figure = "P2 baseline: raw psycopg, 8 conns"
    record(figure, ops=WRITERS * P2_EACH, note="one INSERT + COMMIT per event")
    schema = new_schema("p2raw")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{schema}".events (id bigserial PRIMARY KEY, state bytea)')
    conns = [psycopg.connect(postgres_url) for _ in range(WRITERS)]
    insert = f'INSERT INTO "{schema}".events (state) VALUES (%s)'
    done = [0]

    def writer(conn: psycopg.Connection[Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(P2_EACH):
                conn.execute(insert, (PAYLOAD,))
                conn.commit()

        return run

    def round_() -> None:
        _parallel(pool, [writer(conn) for conn in conns])
        done[0] += WRITERS * P2_EACH

    meter = WalMeter(postgres_url)
    benchmark.pedantic(round_, rounds=P2_ROUNDS, warmup_rounds=1)
    for conn in conns:
        conn.close()
    add_note(figure, meter.per_event(done[0]))


def test_p2_plain_eventsourcing_8_writers(
    benchmark: Any, record: Any, postgres_url: str, new_schema: Any, pool: ThreadPoolExecutor
) -> None:
    figure = "P2 baseline: plain eventsourcing, 8 writers"
    record(figure, ops=WRITERS * P2_EACH, note="8 Application instances, 8 aggregates")
    schema = new_schema("p2es")
    apps = [plain_app(postgres_url, schema) for _ in range(WRITERS)]
    notes = [Note() for _ in apps]
    for app, note in zip(apps, notes, strict=True):
        app.save(note)
    done = [0]

    def writer(app: Application[uuid.UUID], note: Note) -> Callable[[], None]:
        def run() -> None:
            for _ in range(P2_EACH):
                note.note(PAYLOAD)
                app.save(note)

        return run

    def round_() -> None:
        _parallel(pool, [writer(a, n) for a, n in zip(apps, notes, strict=True)])
        done[0] += WRITERS * P2_EACH

    meter = WalMeter(postgres_url)
    benchmark.pedantic(round_, rounds=P2_ROUNDS, warmup_rounds=1)
    for app in apps:
        app.close()
    add_note(figure, meter.per_event(done[0]))


def test_p2_signed_append_8_writers(
    benchmark: Any,
    record: Any,
    postgres_url: str,
    new_schema: Any,
    tmp_path: Path,
    pool: ThreadPoolExecutor,
) -> None:
    figure = "P2 signed append (library, PG), 8 writers"
    record(
        figure,
        baseline=[
            "P2 baseline: plain eventsourcing, 8 writers",
            "P2 baseline: raw psycopg, 8 conns",
        ],
        ops=WRITERS * P2_EACH,
        note="one LedgerApplication, 8 threads, different cases",
    )
    world = new_world(tmp_path, postgres_url, new_schema("p2"))
    writers = [CaseWriter(world) for _ in range(WRITERS)]
    done = [0]
    committer = world.app.group_commit
    before = (committer.batches, committer.items)

    def setup() -> tuple[tuple[list[list[bytes]]], dict[str, Any]]:
        return ([w.batch(P2_EACH, lambda: world.clock.now) for w in writers],), {}

    def job(batch: list[bytes]) -> Callable[[], None]:
        def run() -> None:
            for raw in batch:
                world.app.append_event(raw)

        return run

    def round_(batches: list[list[bytes]]) -> None:
        _parallel(pool, [job(b) for b in batches])
        done[0] += WRITERS * P2_EACH

    meter = WalMeter(postgres_url)
    benchmark.pedantic(round_, setup=setup, rounds=P2_ROUNDS, warmup_rounds=1)
    batches, items = committer.batches - before[0], committer.items - before[1]
    world.app.close()
    add_note(figure, f"{meter.per_event(done[0])}; {items / batches:.1f} appends per commit")
