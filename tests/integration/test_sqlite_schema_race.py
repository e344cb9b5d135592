"""Node processes start while others write to the same SQLite ledger (``serve`` beside a CLI
command, the end-to-end suites' concurrent issuers) and each runs the recorder's schema
statements. In a deferred transaction SQLite answers "database is locked" at once, without
waiting its busy timeout, when its read snapshot must become a write after another process
committed; the schema is created in an immediate transaction, which waits its turn instead."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest
from eventsourcing.sqlite import SQLiteDatastore

from adapters.sqlite import SQLiteLedgerRecorder

STARTERS = 4
STARTS_EACH = 25


def _write_until(path: str, stop: Event) -> None:
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS other_writes (n INTEGER)")
    while not stop.is_set():  # a busy node: a commit every few milliseconds
        conn.execute("INSERT INTO other_writes VALUES (1)")
        time.sleep(0.002)
    conn.close()


def _start_recorders(path: str) -> None:
    for _ in range(STARTS_EACH):
        datastore = SQLiteDatastore(path, lock_timeout=10)
        try:
            SQLiteLedgerRecorder(datastore, events_table_name="race_events").create_table()
        finally:
            datastore.close()


@pytest.mark.parametrize("attempt", range(2))
def test_recorders_started_while_another_process_writes_all_start(
    tmp_path: Path, attempt: int
) -> None:
    context = multiprocessing.get_context("spawn")
    path = str(tmp_path / "ledger.sqlite3")
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").close()
    stop = context.Event()
    writer = context.Process(target=_write_until, args=(path, stop))
    writer.start()
    time.sleep(0.5)  # the writer is committing before the first recorder starts
    starters = [context.Process(target=_start_recorders, args=(path,)) for _ in range(STARTERS)]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join(timeout=120)
    stop.set()
    writer.join(timeout=30)
    assert [starter.exitcode for starter in starters] == [0] * STARTERS
