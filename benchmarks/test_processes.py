"""P12: append throughput by the number of node processes against one PostgreSQL ledger.

1, 2 and 4 OS processes, each a ``LedgerApplication`` opened like a ``tongban serve`` worker
(``open_ledger`` on one data directory and one schema; the registry, the real
``CaseWorkflow``, signature checks, group commit, receipts, checkpoints), append the same
total load: 8 writers (cases) of ``EACH`` steps per round, split evenly over the processes,
8 threads in all (8, 4+4, 2+2+2+2). Envelopes are signed ahead by the parent between rounds
(not timed), so the time is the node's: the throughput ratio against one process in the same
run is P12 (goal: 2 processes >= 1.6x one on this 2-core machine, which PostgreSQL and the
parent share). ``TONGBAN_BENCH_P12_ROUNDS`` (default 10; ``make bench-large``: 40).

Run: ``make bench`` (PostgreSQL from ``TONGBAN_TEST_POSTGRES_URL``; skipped if unreachable).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from benchmarks.conftest import WalMeter, add_note
from benchmarks.loader import CaseWriter, new_world
from ledger.application import now_micros

WRITERS = 8
EACH = 10  # steps per writer per round
ROUNDS = int(os.environ.get("TONGBAN_BENCH_P12_ROUNDS", "10"))
BASELINE = "P12 append, 1 process (8 threads)"


def _serve_appends(conn: Connection, data_dir: str, url: str, schema: str, threads: int) -> None:
    """A node process: open the ledger, then append each job's envelopes (one list per
    writer, a thread each) until told to stop."""
    from adapters.bootstrap import open_ledger
    from adapters.settings import Settings
    from ledger.workflow import CaseWorkflow

    settings = Settings(data_dir=Path(data_dir), database_url=url, database_schema=schema)
    app = open_ledger(settings, workflow=CaseWorkflow())

    def append_all(envelopes: list[bytes]) -> None:
        for raw in envelopes:
            if not app.append_event(raw).created:
                raise AssertionError("a fresh step was not created")

    conn.send("ready")
    with ThreadPoolExecutor(threads) as pool:
        while (job := conn.recv()) is not None:
            try:
                list(pool.map(append_all, job))
                conn.send("done")
            except Exception as error:  # the parent fails the benchmark with it
                conn.send(f"failed: {type(error).__name__}: {error}")
    app.close()


class NodeProcesses:
    """``count`` node processes sharing the writers; :meth:`round` appends one batch each."""

    def __init__(self, count: int, data_dir: Path, url: str, schema: str):
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes = []
        for _ in range(count):
            parent, child = context.Pipe()
            process = context.Process(
                target=_serve_appends,
                args=(child, str(data_dir), url, schema, WRITERS // count),
                daemon=True,
            )
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)
        for pipe in self.pipes:
            assert pipe.recv() == "ready"

    def round(self, jobs: list[list[list[bytes]]]) -> None:
        for pipe, job in zip(self.pipes, jobs, strict=True):
            pipe.send(job)
        for pipe in self.pipes:
            answer = pipe.recv()
            if answer != "done":
                raise AssertionError(answer)

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for process in self.processes:
            process.join(timeout=30)


@pytest.fixture(scope="module")
def ledger(
    postgres_url: str, new_schema: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str, list[CaseWriter]]]:
    data_dir = tmp_path_factory.mktemp("p12")
    schema = new_schema("p12")
    world = new_world(data_dir, postgres_url, schema)
    writers = [CaseWriter(world, case_steps=10**9) for _ in range(WRITERS)]
    yield data_dir, schema, writers
    world.app.close()


@pytest.mark.parametrize("count", [1, 2, 4])
def test_p12_append_by_process_count(
    benchmark: Any,
    record: Any,
    postgres_url: str,
    ledger: tuple[Path, str, list[CaseWriter]],
    count: int,
) -> None:
    data_dir, schema, writers = ledger
    threads = WRITERS // count
    if count == 1:
        figure = BASELINE
        record(BASELINE, ops=WRITERS * EACH, note="PG, open_ledger per process, 8 writers")
    else:
        figure = f"P12 append, {count} processes ({'+'.join([str(threads)] * count)} threads)"
        record(
            figure,
            baseline=BASELINE,
            ops=WRITERS * EACH,
            note="same load, same run; goal for 2: >= 1.6x",
        )
    nodes = NodeProcesses(count, data_dir, postgres_url, schema)
    try:

        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            batches = [w.batch(EACH, now_micros) for w in writers]
            jobs = [batches[n * threads : (n + 1) * threads] for n in range(count)]
            return (jobs,), {}

        meter = WalMeter(postgres_url)
        benchmark.pedantic(nodes.round, setup=setup, rounds=ROUNDS, warmup_rounds=1)
    finally:
        nodes.close()
    # The commits of all processes queue on one table lock held through each WAL flush:
    # fsyncs per event say how well the processes' batches still group (docs/benchmarks.md).
    add_note(figure, meter.per_event(WRITERS * EACH * (ROUNDS + 1)))
