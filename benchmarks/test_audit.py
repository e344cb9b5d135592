"""P4 whole-ledger audit throughput (one process, ``--jobs 2``) and P8 its peak memory.

P4: ``verify_ledger`` events/s (every object re-encoded, hashed, linked, its receipt and its
signature checked, the workflow replayed; then the dense index and every stored checkpoint
against the Merkle tree) vs raw Ed25519 verify of a message the size of one envelope, on one
core. Each event costs two Ed25519 verifications (the officer's envelope, the node's receipt),
so one process cannot pass 0.5x and two cannot pass 1.0x. ``--jobs 2`` spawns its worker
processes inside the timed round (about 0.3 s of CPU each to start), as the command does.

P8: ``verify_ledger`` in a fresh process (``benchmarks/audit_peak.py``): the tracemalloc peak
of the audit, and ru_maxrss, at each ledger size; the ratio is against the smallest.

Ledgers are built here through ``benchmarks/loader.py`` (``append_event``: signature check,
workflow, commit, receipt, checkpoints as the node issues them) on PostgreSQL, or an existing
one is audited instead (the bulk loader's 1,000,000-event ledger, say). Environment:

- ``TONGBAN_BENCH_AUDIT_EVENTS``: size of the ledger P4 audits (default 20,000);
- ``TONGBAN_BENCH_P8_SIZES``: the ledger sizes P8 measures, comma-separated (default
  ``2000,20000``; a size equal to the P4 size reuses its ledger);
- ``TONGBAN_BENCH_AUDIT_DATA_DIR`` (its ``trust.json``), ``TONGBAN_BENCH_AUDIT_DATABASE_URL``
  and ``TONGBAN_BENCH_AUDIT_SCHEMA``: an existing ledger, which P4 then audits instead of
  building one and P8 adds as its largest size.

Run: ``TONGBAN_TEST_POSTGRES_URL=postgresql://user@host:5432/db make bench`` (default
``postgresql://postgres@127.0.0.1:5432/test``); skipped with a reason if unreachable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from benchmarks.conftest import row
from benchmarks.loader import CaseWriter, load, new_world
from ledger.application import LedgerApplication
from ledger.audit import verify_ledger
from ledger.suites import Ed25519Signer
from ledger.workflow import CaseWorkflow

RAW_VERIFY = "raw Ed25519 verify (envelope size)"
ROOT = Path(__file__).resolve().parents[1]
_ENVELOPE_SIZE = [731]  # measured by the baseline's test, which runs first


def _sizes() -> tuple[int, list[int]]:
    audit = int(os.environ.get("TONGBAN_BENCH_AUDIT_EVENTS", "20000"))
    sizes = os.environ.get("TONGBAN_BENCH_P8_SIZES", f"2000,{audit}")
    return audit, sorted({int(size) for size in sizes.split(",") if size.strip()})


@dataclass(frozen=True)
class AuditedLedger:
    """A ledger to audit: how to open it here, in a worker process and in ``audit_peak``."""

    data_dir: Path
    url: str
    schema: str

    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, database_url=self.url)

    def reopen(self) -> Callable[[], LedgerApplication]:
        return partial(
            open_ledger,
            self.settings(),
            schema=self.schema or None,
            read_only=True,
            workflow=CaseWorkflow(),
        )


def _external() -> AuditedLedger | None:
    data_dir = os.environ.get("TONGBAN_BENCH_AUDIT_DATA_DIR")
    if not data_dir:
        return None
    return AuditedLedger(
        Path(data_dir),
        os.environ.get("TONGBAN_BENCH_AUDIT_DATABASE_URL", ""),
        os.environ.get("TONGBAN_BENCH_AUDIT_SCHEMA", ""),
    )


@pytest.fixture(scope="module")
def ledger_of(
    postgres_url: str, new_schema: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[int], AuditedLedger]]:
    """``ledger_of(events)``: a PostgreSQL ledger of that many events, built once."""
    built: dict[int, AuditedLedger] = {}

    def make(events: int) -> AuditedLedger:
        if events not in built:
            schema = new_schema(f"audit{events}")
            data_dir = tmp_path_factory.mktemp(f"audit{events}")
            world = new_world(data_dir, postgres_url, schema)
            load(world, events)
            world.app.close()
            built[events] = AuditedLedger(data_dir, postgres_url, schema)
        return built[events]

    yield make


@pytest.fixture(scope="module")
def audited(ledger_of: Callable[[int], AuditedLedger]) -> Iterator[AuditedLedger]:
    """The ledger P4 audits: the external one if configured, else one built here."""
    yield _external() or ledger_of(_sizes()[0])


def test_raw_ed25519_verify_envelope_size(benchmark: Any, record: Any, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    world = new_world(tmp_path)
    size = _ENVELOPE_SIZE[0] = len(CaseWriter(world).next_event(world.clock.now))
    world.app.close()
    record(RAW_VERIFY, note=f"{size} B message, one core")
    signer = Ed25519Signer.from_seed(bytes(32))
    message = os.urandom(size)
    signature = signer.sign(message)
    key = Ed25519PublicKey.from_public_bytes(signer.public_key)
    benchmark(key.verify, signature, message)


def _audit_rounds(benchmark: Any, record: Any, ledger: AuditedLedger, jobs: int) -> None:
    app = ledger.reopen()()
    count = [0]

    def audit() -> None:
        report = verify_ledger(app, jobs=jobs, reopen=ledger.reopen())
        assert report.findings == [], report.findings[:3]
        count[0] = report.events

    audit()
    figure = "P4 verify_ledger, 1 process" if jobs == 1 else f"P4 verify_ledger --jobs {jobs}"
    cap = "0.5x" if jobs == 1 else f"{jobs * 0.5:.1f}x"
    note = f"{count[0]:,} events; 2 Ed25519 verifications each: at most {cap}"
    if jobs == 1:
        # Rounds of seconds on a shared machine lose time slices that the baseline's rounds of
        # 0.1 ms do not: the ratio of CPU times is told beside the ratio of medians.
        started = time.process_time()
        audit()
        audit_cpu = count[0] / (time.process_time() - started)
        note += f"; CPU-time ratio {audit_cpu / _raw_verify_cpu():.3f}x"
    record(figure, baseline=RAW_VERIFY, ops=count[0], note=note)
    benchmark.pedantic(audit, rounds=3)
    app.close()


def _raw_verify_cpu(count: int = 5000) -> float:
    """Raw Ed25519 verifications per second of this process's CPU time (envelope size)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    message = os.urandom(_ENVELOPE_SIZE[0])
    signature, public = key.sign(message), key.public_key()
    started = time.process_time()
    for _ in range(count):
        public.verify(signature, message)
    return count / (time.process_time() - started)


def test_p4_audit_one_process(benchmark: Any, record: Any, audited: AuditedLedger) -> None:
    _audit_rounds(benchmark, record, audited, 1)


def test_p4_audit_two_jobs(benchmark: Any, record: Any, audited: AuditedLedger) -> None:
    _audit_rounds(benchmark, record, audited, 2)


def _peak(ledger: AuditedLedger) -> dict[str, Any]:
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
        cwd=ROOT,
    )
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_p8_audit_peak_memory(ledger_of: Callable[[int], AuditedLedger]) -> None:
    ledgers = [ledger_of(size) for size in _sizes()[1]]
    external = _external()
    if external is not None:
        ledgers.append(external)
    peaks = [_peak(ledger) for ledger in ledgers]
    assert all(found["findings"] == 0 for found in peaks), peaks
    smallest = peaks[0]["traced_peak_bytes"]
    for found in peaks:
        row(
            f"P8 audit peak memory, {found['events']:,} events",
            f"{found['traced_peak_bytes'] / 2**20:.2f} MiB",
            baseline=f"maxrss {found['maxrss_kib'] / 1024:.0f} MiB",
            ratio=f"{found['traced_peak_bytes'] / smallest:.2f}x",
            note="tracemalloc peak of verify_ledger (baseline column: the process's "
            "ru_maxrss); ratio: vs the smallest ledger; target <= 256 MiB at 1,000,000",
        )
