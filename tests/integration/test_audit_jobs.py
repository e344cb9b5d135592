"""``verify_ledger(jobs=N)``: worker processes find exactly what one process finds.

A tampered ledger (a bad receipt, a deleted event, a changed envelope, steps signed with a key
revoked afterwards) on SQLite and on PostgreSQL is audited with one process and with two; the
reports must be equal finding for finding, in the same order, with the same counts.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import msgpack
import pytest

from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from ledger.audit import (
    PARTS_PER_JOB,
    POLICY,
    AuditReport,
    ledger_checks,
    stream_ranges,
    verify_ledger,
)
from ledger.audit import pool as audit_pool
from ledger.audit.pool import worker_context
from ledger.workflow import SignedCoreOnly
from tests.integration.ledger_contract import (
    PostgresRawStore,
    RawStore,
    SQLiteRawStore,
    extend,
    flip,
    found,
)
from tests.support.module_probe import imported
from tests.support.stalled_workers import open_ledger_busy_in_workers
from tests.support.world import World, iter_cases, make_world


class Ledger:
    def __init__(self, world: World, raw: RawStore, reopen: Callable[[], Any]):
        self.world, self.raw, self.reopen = world, raw, reopen


def _reopen(data_dir: Path, url: str = "", schema: str | None = None) -> Callable[[], Any]:
    # The world's permissive policy, as its own application has it.
    settings = Settings(data_dir=data_dir, database_url=url)
    return partial(open_ledger, settings, schema=schema, read_only=True, workflow=SignedCoreOnly())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "sqlite":
        world = make_world(tmp_path, workflow=SignedCoreOnly())
        yield Ledger(world, SQLiteRawStore(tmp_path / "ledger.sqlite3"), _reopen(tmp_path))
        world.app.close()
        return
    url = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("postgres_schema")
    world = make_world(tmp_path, database_url=url, schema=schema, workflow=SignedCoreOnly())
    yield Ledger(world, PostgresRawStore(url, schema), _reopen(tmp_path, url, schema))
    world.app.close()


def _tamper(ledger: Ledger) -> dict[str, uuid.UUID]:
    """Thirty cases of three steps and one of four signed with a key revoked afterwards; then
    damage in cases at both ends of the id space, so different workers meet it."""
    world, raw = ledger.world, ledger.raw
    cases = sorted(iter_cases(world, 30, 3))
    rs = world.officers["rs-001"]
    revoked_case, done = world.append_case(rs, 2)
    world.clock.advance(10)
    compromised_since = world.clock.now
    world.clock.advance(10)
    extend(world, rs, revoked_case, done[-1].head, 2)
    world.clock.advance(10)
    world.clerk.revoke(world.root, rs.signer.key_id, compromised_since=compromised_since)

    first, middle, last = cases[0], cases[15], cases[-1]
    receipt = raw.receipt(first, 2)
    raw.set_receipt(first, 2, flip(receipt, len(receipt) - 1))
    raw.delete(middle, 2)
    state = msgpack.unpackb(raw.state(last, 3), raw=False)
    state["envelope"] = flip(state["envelope"], len(state["envelope"]) // 2)
    raw.set_state(last, 3, msgpack.packb(state, use_bin_type=True))
    return {"first": first, "middle": middle, "last": last, "revoked": revoked_case}


def test_two_workers_report_what_one_process_reports(ledger: Ledger) -> None:
    damaged = _tamper(ledger)
    one = verify_ledger(ledger.world.app)
    counted: list[int] = []
    two = verify_ledger(ledger.world.app, jobs=2, reopen=ledger.reopen, progress=counted.append)

    assert two.as_dict() == one.as_dict()
    assert two.findings == one.findings  # the same order, not only the same set
    assert (two.events, two.cases, two.exit_code) == (one.events, one.cases, 1)
    assert sum(counted) == two.events
    reported = found(two)
    assert (str(damaged["first"]), 2, "bad_receipt") in reported
    assert (str(damaged["middle"]), 2, "seq_gap") in reported
    assert any(f.reason == "index_gap" and f.case_id == "" for f in two.findings)
    assert (str(damaged["last"]), 3, "bad_hash") in reported
    assert (str(damaged["revoked"]), 3, "key_revoked") in reported
    assert {f.kind for f in two.findings if f.case_id == str(damaged["revoked"])} == {POLICY}
    # The damage lies in parts checked by different workers' tasks.
    parts = stream_ranges(2 * PARTS_PER_JOB)
    where = {
        next(n for n, (low, high) in enumerate(parts) if low <= case <= high)
        for case in (damaged["first"], damaged["last"])
    }
    assert len(where) == 2


def test_a_clean_ledger_is_clean_with_any_number_of_jobs(ledger: Ledger) -> None:
    list(iter_cases(ledger.world, 12, 2))
    reports: list[AuditReport] = [
        verify_ledger(ledger.world.app, jobs=jobs, reopen=ledger.reopen) for jobs in (1, 2, 3)
    ]
    assert [(r.events, r.cases, r.findings, r.exit_code) for r in reports] == [(24, 12, [], 0)] * 3


def test_jobs_needs_a_way_to_reopen_the_ledger(tmp_path: Path) -> None:
    world = make_world(tmp_path, workflow=SignedCoreOnly())
    with pytest.raises(ValueError, match="reopen"):
        verify_ledger(world.app, jobs=2)
    with pytest.raises(ValueError, match="at least 1"):
        verify_ledger(world.app, jobs=0)
    world.app.close()


@pytest.mark.parametrize("parts", [1, 2, 3, 8, 13])
def test_stream_ranges_cover_every_stream_id_once(parts: int) -> None:
    ranges = stream_ranges(parts)
    assert len(ranges) == parts
    assert ranges[0][0] == uuid.UUID(int=0)
    assert ranges[-1][1] == uuid.UUID(int=2**128 - 1)
    for (_, high), (low, _) in pairwise(ranges):
        assert low.int == high.int + 1
    assert all(low <= high for low, high in ranges)


def test_audit_workers_start_with_the_audit_already_imported(tmp_path: Path) -> None:
    """Workers fork from a server that imported the audit and ``reopen``'s module once: a
    spawned worker imported them again for every audit (about 0.5 s of CPU each)."""
    context = worker_context(partial(open_ledger, Settings(data_dir=tmp_path), read_only=True))
    for _ in range(2):  # a second audit's workers too
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            assert pool.submit(imported, "ledger.audit.chains").result()
            assert pool.submit(imported, "adapters.bootstrap").result()


def test_the_auditing_process_takes_every_part_a_busy_worker_has_not_begun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker held on its first part leaves the other three to the auditing process. The
    pool was once given every part up front and queued the next one for a busy worker, which
    the auditing process then could not take back: it checked two parts and waited for the
    held worker's two."""
    world = make_world(tmp_path, workflow=SignedCoreOnly())
    assert len(list(iter_cases(world, 12, 2))) == 12
    flag = tmp_path / "worker-may-go"
    reopen = partial(
        open_ledger_busy_in_workers,
        Settings(data_dir=tmp_path),
        str(flag),
        workflow=SignedCoreOnly(),
    )
    mine: list[int] = []
    ranges = stream_ranges(2 * PARTS_PER_JOB)
    check_range = audit_pool._check_range

    def checked_here(auditor: Any, bounds: tuple[uuid.UUID, uuid.UUID]) -> AuditReport:
        mine.append(ranges.index(bounds))
        part = check_range(auditor, bounds)
        if len(mine) == len(ranges) - 1:
            flag.touch()  # every part but the worker's is done: let it go
        return part

    check_whole_ledger = ledger_checks.check_whole_ledger

    def whole_ledger_taking_a_while(auditor: Any, store: Any) -> None:
        time.sleep(0.5)  # a large ledger's Merkle tree: the pool meanwhile queues what it has
        check_whole_ledger(auditor, store)

    monkeypatch.setattr(audit_pool, "_check_range", checked_here)
    monkeypatch.setattr(audit_pool, "check_whole_ledger", whole_ledger_taking_a_while)
    two = verify_ledger(world.app, jobs=2, reopen=reopen)
    assert mine == [3, 2, 1]
    one = verify_ledger(world.app)
    assert (two.events, two.cases, two.findings) == (one.events, one.cases, one.findings)
    world.app.close()
