"""P7 with both medians taken at the same moments: appends to an empty and to a loaded store
in turn, with WAL bytes and full-page images per append (``pg_stat_wal``, cluster-wide).

The P7 benchmark measures its two medians apart (loading the large store lies between), so a
machine whose load changes meanwhile moves its ratio; this takes them in turn instead::

    TONGBAN_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m benchmarks.p7_interleaved 300000

Run once right after a ``CHECKPOINT`` (every first touch of a page writes a full-page image)
and once more later. Its schemas are dropped at the end.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from benchmarks.conftest import DEFAULT_TEST_POSTGRES_URL
from benchmarks.loader import CaseWriter, load, new_world

ROUNDS = 300


def main() -> None:
    url = os.environ.get("TONGBAN_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    schemas: list[str] = []

    def schema() -> str:
        name = f"b_p7i_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        schemas.append(name)
        return name

    def wal() -> tuple[int, int]:
        with psycopg.connect(url, autocommit=True) as conn:
            found = conn.execute("SELECT wal_bytes, wal_fpi FROM pg_stat_wal").fetchone()
        assert found is not None
        return int(found[0]), int(found[1])

    try:
        worlds = {
            "large": new_world(Path(tempfile.mkdtemp()), url, schema()),
            "empty": new_world(Path(tempfile.mkdtemp()), url, schema()),
        }
        done = load(worlds["large"], events)
        print(f"loaded {done.events} events in {done.seconds:.0f} s ({done.per_second:.0f}/s)")
        for label in ("just after a checkpoint", "later"):
            if label.startswith("just"):
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("CHECKPOINT")
            writers = {name: CaseWriter(world) for name, world in worlds.items()}
            times: dict[str, list[float]] = {name: [] for name in worlds}
            wal_bytes = dict.fromkeys(worlds, 0)
            fpi = dict.fromkeys(worlds, 0)
            for _ in range(ROUNDS):
                for name, world in worlds.items():
                    raw = writers[name].next_event(world.clock.now)
                    before = wal()
                    started = time.perf_counter()
                    world.app.append_event(raw)
                    times[name].append(time.perf_counter() - started)
                    after = wal()
                    wal_bytes[name] += after[0] - before[0]
                    fpi[name] += after[1] - before[1]
            empty, large = (statistics.median(times[n]) for n in ("empty", "large"))
            print(
                f"[{label}] append median: empty {empty * 1e3:.2f} ms, large {large * 1e3:.2f} ms"
                f" (cost {large / empty:.2f}x); WAL bytes/append {wal_bytes['empty'] / ROUNDS:.0f}"
                f" vs {wal_bytes['large'] / ROUNDS:.0f}; full-page images/append"
                f" {fpi['empty'] / ROUNDS:.2f} vs {fpi['large'] / ROUNDS:.2f}"
            )
        for world in worlds.values():
            world.app.close()
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            for name in schemas:
                conn.execute(f'DROP SCHEMA "{name}" CASCADE')


if __name__ == "__main__":
    main()
