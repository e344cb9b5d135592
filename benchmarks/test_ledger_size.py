"""P7 append cost with a large store (PostgreSQL). P4 and P8 (the audit) are in
``benchmarks/test_audit.py``.

P7: ``benchmarks/loader.py`` fills a ledger through ``LedgerApplication.append_event`` (same
signing, commit and index path) with ``TONGBAN_BENCH_P7_EVENTS`` events (default 15,000, about
a minute here; the issue's size is 1,000,000); the single-writer append median on that store
is compared with the same on an empty store.

Run: ``TONGBAN_TEST_POSTGRES_URL=postgresql://user@host:5432/db TONGBAN_BENCH_P7_EVENTS=15000
make bench`` (default URL ``postgresql://postgres@127.0.0.1:5432/test``); skipped with a
reason if PostgreSQL is unreachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.loader import CaseWriter, load, new_world, p7_events
from tests.support.world import World

APPEND_ROUNDS = 100


class Ledger:
    def __init__(self, world: World, data_dir: Path, url: str, schema: str, events: int):
        self.world, self.data_dir, self.url, self.schema = world, data_dir, url, schema
        self.events = events


def _ledger(url: str, schema: str, data_dir: Path, events: int) -> Ledger:
    world = new_world(data_dir, url, schema)
    if events:
        load(world, events)
    return Ledger(world, data_dir, url, schema, events)


@pytest.fixture(scope="module")
def large(postgres_url: str, new_schema: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    ledger = _ledger(
        postgres_url, new_schema("large"), tmp_path_factory.mktemp("large"), p7_events()
    )
    yield ledger
    ledger.world.app.close()


def _append_rounds(benchmark: Any, world: World) -> None:
    writer = CaseWriter(world)

    def setup() -> tuple[tuple[bytes], dict[str, Any]]:
        return (writer.next_event(world.clock.now),), {}

    benchmark.pedantic(world.app.append_event, setup=setup, rounds=APPEND_ROUNDS, warmup_rounds=5)


def test_p7_append_empty_store(
    benchmark: Any, record: Any, postgres_url: str, new_schema: Any, tmp_path: Path
) -> None:
    record("P7 baseline: append, empty store")
    ledger = _ledger(postgres_url, new_schema("empty"), tmp_path, 0)
    _append_rounds(benchmark, ledger.world)
    ledger.world.app.close()


def test_p7_append_large_store(benchmark: Any, record: Any, large: Ledger) -> None:
    record(
        f"P7 append, store of {large.events:,} events",
        baseline="P7 baseline: append, empty store",
        note=f"TONGBAN_BENCH_P7_EVENTS={large.events} (issue's size: 1,000,000)",
    )
    _append_rounds(benchmark, large.world)
