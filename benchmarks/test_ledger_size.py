"""P4 audit throughput, P7 append cost with a large store, P8 audit peak memory (PostgreSQL).

P4: ``verify_ledger`` over a ledger of ``P4_EVENTS`` events (every event re-encoded, hashed,
linked, receipt and signature checked), events/s on one process, vs raw Ed25519 verify of a
message the size of one envelope. ``--jobs 2`` does not exist yet: its row is N/A.

P7: ``benchmarks/loader.py`` fills a ledger through ``LedgerApplication.append_event`` (same
signing, commit and index path) with ``TONGBAN_BENCH_P7_EVENTS`` events (default 15,000, about
a minute here; the issue's size is 1,000,000); the single-writer append median on that store
is compared with the same on an empty store.

P8: peak memory of ``verify_ledger`` in a fresh subprocess (``benchmarks/audit_peak.py``:
tracemalloc peak of the audit, and ru_maxrss) at the P4 size and the P7 size.

Run: ``TONGBAN_TEST_POSTGRES_URL=postgresql://user@host:5432/db TONGBAN_BENCH_P7_EVENTS=15000
make bench`` (default URL ``postgresql://postgres@127.0.0.1:5432/test``); skipped with a
reason if PostgreSQL is unreachable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.conftest import row
from benchmarks.loader import CaseWriter, load, new_world, p7_events
from ledger.audit import verify_ledger
from ledger.suites import Ed25519Signer
from tests.support.world import World

P4_EVENTS = 1_000
APPEND_ROUNDS = 100
RAW_VERIFY = "raw Ed25519 verify (envelope size)"


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
def small(postgres_url: str, new_schema: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    ledger = _ledger(postgres_url, new_schema("small"), tmp_path_factory.mktemp("small"), P4_EVENTS)
    yield ledger
    ledger.world.app.close()


@pytest.fixture(scope="module")
def large(postgres_url: str, new_schema: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    ledger = _ledger(
        postgres_url, new_schema("large"), tmp_path_factory.mktemp("large"), p7_events()
    )
    yield ledger
    ledger.world.app.close()


def test_raw_ed25519_verify_envelope_size(benchmark: Any, record: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    world = new_world(Path(os.environ.get("TMPDIR", "/tmp")) / f"p4-size-{os.getpid()}")
    size = len(CaseWriter(world).next_event(world.clock.now))
    world.app.close()
    record(RAW_VERIFY, note=f"{size} B message, one core")
    signer = Ed25519Signer.from_seed(bytes(32))
    message = os.urandom(size)
    signature = signer.sign(message)
    key = Ed25519PublicKey.from_public_bytes(signer.public_key)
    benchmark(key.verify, signature, message)


def test_p4_audit_whole_ledger(benchmark: Any, record: Any, small: Ledger) -> None:
    figure = "P4 verify_ledger, 1 process (events/s)"
    count = [0]

    def audit() -> None:
        report = verify_ledger(small.world.app)
        assert report.findings == [], report.findings[:3]
        count[0] = report.events

    audit()
    record(figure, baseline=RAW_VERIFY, ops=count[0], note=f"{count[0]} stored objects")
    benchmark.pedantic(audit, rounds=3)
    row(
        "P4 verify_ledger --jobs 2",
        "N/A",
        baseline=RAW_VERIFY,
        note="--jobs does not exist yet: the audit is single-process",
    )


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


def _peak(ledger: Ledger) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.audit_peak",
            str(ledger.data_dir),
            ledger.url,
            ledger.schema,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_p8_audit_peak_memory(small: Ledger, large: Ledger) -> None:
    low, high = _peak(small), _peak(large)
    assert low["findings"] == 0 and high["findings"] == 0
    for ledger, found in ((small, low), (large, high)):
        row(
            f"P8 audit peak memory, {found['events']:,} objects",
            f"{found['traced_peak_bytes'] / 2**20:.1f} MiB",
            baseline=f"maxrss {found['maxrss_kib'] / 1024:.0f} MiB" if ledger else "",
            ratio=(
                f"{found['traced_peak_bytes'] / low['traced_peak_bytes']:.2f}x"
                if found is high
                else "(smaller)"
            ),
            note="tracemalloc peak of verify_ledger; baseline col: process ru_maxrss; "
            "ratio: vs the smaller ledger",
        )
