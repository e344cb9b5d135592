"""P9: a guomi ledger (every Sichuan key SM2, suite ``sm2-sm3``) on PostgreSQL.

- SM2 signed append through the library, 1 writer and 8 writers (one ``LedgerApplication``,
  8 threads, different cases, group commit), each against plain eventsourcing measured here in
  the same run (1 application; 8 applications, 8 threads). Goal: ≥ 2x at 8 writers.
- The whole-ledger audit (``verify_ledger``, one process and ``--jobs 2``) of an SM2 ledger of
  ``TONGBAN_BENCH_P9_EVENTS`` events (default 3,000, SQLite), against raw SM2 verification with the
  library the suite verifies with (OpenSSL 3's libcrypto through ``ledger.sm2_openssl``, signer
  ID 1234567812345678) of a message the size of one envelope, one core. Each event costs two
  SM2 verifications (envelope, receipt), so one process is at most 0.5x and two at most 1.0x.
  Goal: ≥ 0.4x per core.

Events are signed before the timed rounds (SM2 signing is not what a node does on append).

Run: ``TONGBAN_TEST_POSTGRES_URL=postgresql://user@host:5432/db make bench`` (default
``postgresql://postgres@127.0.0.1:5432/test``); skipped with a reason if unreachable.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from benchmarks.conftest import add_note
from benchmarks.loader import CaseWriter, load, new_world
from benchmarks.test_append_postgres import PAYLOAD, Note, plain_app
from ledger.audit import verify_ledger
from ledger.sm2 import SM2_SIGNER_ID, Sm2Signer
from ledger.sm2_openssl import PublicKey, der_signature
from ledger.workflow import CaseWorkflow

WRITERS = 8
ONE_ROUNDS = 100
EIGHT_ROUNDS = 10
EACH = 5  # events per writer per round
ES_1 = "P9 baseline: plain eventsourcing, 1 writer"
ES_8 = "P9 baseline: plain eventsourcing, 8 writers"
RAW_SM2 = "P9 baseline: raw SM2 verify, OpenSSL libcrypto (envelope size)"
_ENVELOPE_SIZE = [800]


def _events() -> int:
    return int(os.environ.get("TONGBAN_BENCH_P9_EVENTS", "3000"))


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(WRITERS) as executor:
        yield executor


def _parallel(pool: ThreadPoolExecutor, jobs: list[Callable[[], None]]) -> None:
    for future in [pool.submit(job) for job in jobs]:
        future.result()


def test_p9_plain_eventsourcing_1_writer(
    benchmark: Any, record: Any, postgres_url: str, new_schema: Any
) -> None:
    record(ES_1)
    app = plain_app(postgres_url, new_schema("p9es1"))
    note = Note()
    app.save(note)

    def append() -> None:
        note.note(PAYLOAD)
        app.save(note)

    benchmark.pedantic(append, rounds=ONE_ROUNDS, warmup_rounds=5)
    app.close()


def test_p9_sm2_append_1_writer(
    benchmark: Any, record: Any, postgres_url: str, new_schema: Any, tmp_path: Path
) -> None:
    figure = "P9 SM2 signed append (library, PG), 1 writer"
    record(figure, baseline=ES_1, note="guomi ledger: SM2 envelope verify + SM2 receipt")
    world = new_world(tmp_path, postgres_url, new_schema("p9sm2"), suite="sm2-sm3")
    writer = CaseWriter(world)
    assert writer is not None and world.officers["rs-001"].signer.suite == "sm2-sm3"

    def setup() -> tuple[tuple[bytes], dict[str, Any]]:
        return (writer.next_event(world.clock.now),), {}

    benchmark.pedantic(world.app.append_event, setup=setup, rounds=ONE_ROUNDS, warmup_rounds=5)
    _ENVELOPE_SIZE[0] = len(writer.next_event(world.clock.now))
    world.app.close()


def test_p9_plain_eventsourcing_8_writers(
    benchmark: Any, record: Any, postgres_url: str, new_schema: Any, pool: ThreadPoolExecutor
) -> None:
    record(ES_8, ops=WRITERS * EACH, note="8 Application instances, 8 aggregates")
    schema = new_schema("p9es8")
    apps = [plain_app(postgres_url, schema) for _ in range(WRITERS)]
    notes = [Note() for _ in apps]
    for app, note in zip(apps, notes, strict=True):
        app.save(note)

    def writer(app: Any, note: Note) -> Callable[[], None]:
        def run() -> None:
            for _ in range(EACH):
                note.note(PAYLOAD)
                app.save(note)

        return run

    def round_() -> None:
        _parallel(pool, [writer(a, n) for a, n in zip(apps, notes, strict=True)])

    benchmark.pedantic(round_, rounds=EIGHT_ROUNDS, warmup_rounds=1)
    for app in apps:
        app.close()


def test_p9_sm2_append_8_writers(
    benchmark: Any,
    record: Any,
    postgres_url: str,
    new_schema: Any,
    tmp_path: Path,
    pool: ThreadPoolExecutor,
) -> None:
    figure = "P9 SM2 signed append (library, PG), 8 writers"
    record(
        figure,
        baseline=ES_8,
        ops=WRITERS * EACH,
        note="one LedgerApplication, 8 threads, different cases; goal >= 2x",
    )
    world = new_world(tmp_path, postgres_url, new_schema("p9sm28"), suite="sm2-sm3")
    writers = [CaseWriter(world) for _ in range(WRITERS)]
    committer = world.app.group_commit
    before = (committer.batches, committer.items)

    def setup() -> tuple[tuple[list[list[bytes]]], dict[str, Any]]:
        return ([w.batch(EACH, lambda: world.clock.now) for w in writers],), {}

    def job(batch: list[bytes]) -> Callable[[], None]:
        def run() -> None:
            for raw in batch:
                world.app.append_event(raw)

        return run

    def round_(batches: list[list[bytes]]) -> None:
        _parallel(pool, [job(b) for b in batches])

    benchmark.pedantic(round_, setup=setup, rounds=EIGHT_ROUNDS, warmup_rounds=1)
    batches, items = committer.batches - before[0], committer.items - before[1]
    world.app.close()
    add_note(figure, f"{items / max(batches, 1):.1f} appends per commit")


def _raw_verifier() -> tuple[Callable[[], bool], int]:
    signer = Sm2Signer.from_seed(bytes(range(32)))
    message = os.urandom(_ENVELOPE_SIZE[0])
    signature = signer.sign(message)
    verifier = PublicKey(signer.public_key, SM2_SIGNER_ID)
    return partial(verifier.verify, message, der_signature(signature)), len(message)


def test_p9_raw_sm2_verify(benchmark: Any, record: Any) -> None:
    verify, size = _raw_verifier()
    record(RAW_SM2, note=f"{size} B message, one core")
    assert verify()
    benchmark(verify)


@pytest.fixture(scope="module")
def sm2_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An SM2 ledger in SQLite: the audit reads it in long transactions, which a shared
    PostgreSQL server's idle-in-transaction timeout may cut while SM2 verifies slowly."""
    data_dir = tmp_path_factory.mktemp("p9audit")
    world = new_world(data_dir, suite="sm2-sm3")
    load(world, _events())
    world.app.close()
    yield data_dir


def _raw_verify_cpu(count: int = 1000) -> float:
    verify, _ = _raw_verifier()
    started = time.process_time()
    for _ in range(count):
        verify()
    return count / (time.process_time() - started)


@pytest.mark.parametrize("jobs", [1, 2])
def test_p9_sm2_audit(benchmark: Any, record: Any, sm2_ledger: Path, jobs: int) -> None:
    settings = Settings(data_dir=sm2_ledger, crypto_profile="guomi")
    reopen = partial(open_ledger, settings, read_only=True, workflow=CaseWorkflow())
    app = reopen()
    count = [0]

    def audit() -> None:
        report = verify_ledger(app, jobs=jobs, reopen=reopen)
        assert report.findings == [], report.findings[:3]
        count[0] = report.events

    audit()
    cap = "0.5x" if jobs == 1 else f"{jobs * 0.5:.1f}x"
    note = f"{count[0]:,} events; 2 SM2 verifications each: at most {cap}; goal 0.4x per core"
    if jobs == 1:
        started = time.process_time()
        audit()
        audit_cpu = count[0] / (time.process_time() - started)
        note += f"; CPU-time ratio {audit_cpu / _raw_verify_cpu():.3f}x"
    figure = "P9 SM2 verify_ledger, 1 process" if jobs == 1 else "P9 SM2 verify_ledger --jobs 2"
    record(figure, baseline=RAW_SM2, ops=count[0], note=note)
    benchmark.pedantic(audit, rounds=3)
    app.close()
