"""Group commit on SQLite and PostgreSQL: concurrent appends share transactions, and keep
every guarantee of appends made one at a time.

Batches are made deterministic with a gate on the store: the first write waits until the
other appends are queued behind it, so they are written together in the next transaction.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import open_ledger
from adapters.bulk import CaseWriter, Officer
from adapters.settings import Settings
from ledger.application import Appended, LedgerApplication
from ledger.audit import verify_ledger
from ledger.domain import Case
from ledger.errors import ConflictError, EnvelopeRejected
from ledger.persistence import ReceiptMaker
from ledger.receipts import parse_receipt
from ledger.workflow import SignedCoreOnly
from tests.support.world import World, make_world

WRITERS = 6


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
        made = make_world(tmp_path, database_url=url, schema=schema, workflow=SignedCoreOnly())
    else:
        made = make_world(tmp_path, workflow=SignedCoreOnly())
    yield made
    made.app.close()


def second_app(world: World, node_dir: Path, data_dir: Path) -> LedgerApplication:
    """Another process's view of the same ledger (its own connections and kept states)."""
    env = world.app.env
    if env.get("POSTGRES_DBNAME"):
        database_url = (
            f"postgresql://{env.get('POSTGRES_USER')}@{env.get('POSTGRES_HOST')}:"
            f"{env.get('POSTGRES_PORT')}/{env.get('POSTGRES_DBNAME')}"
        )
    else:
        database_url = f"sqlite:///{env.get('SQLITE_DBNAME')}"
    data_dir.mkdir()
    for name in ("trust.json", "node.key"):
        (data_dir / name).write_bytes((node_dir / name).read_bytes())
    return open_ledger(
        Settings(data_dir=data_dir, database_url=database_url, region=world.region),
        clock=world.clock,
        schema=env.get("POSTGRES_SCHEMA"),
    )


def writer(world: World, officer_id: str = "rs-001") -> CaseWriter:
    found = world.officers[officer_id]
    return CaseWriter(world.app, Officer(found.body_id, found.officer_id, found.signer))


class Gate:
    """Holds the store's first write until ``waiting`` appends are queued behind it."""

    def __init__(self, app: LedgerApplication, waiting: int):
        self.app = app
        self.waiting = waiting
        self.queued = threading.Event()
        self.writes: list[int] = []  # objects per write, in order
        store: Any = app.store
        self.inner: Callable[..., None] = store.append_objects
        store.append_objects = self

    def __call__(self, stored_events: Sequence[Any], maker: ReceiptMaker) -> None:
        if not self.writes:
            assert self.queued.wait(timeout=60), "the other appends were never queued"
        self.writes.append(len(stored_events))
        self.inner(stored_events, maker)

    def watch(self) -> None:
        """Open the gate once the other appends are queued (polls the committer)."""
        while self.app.group_commit.queued < self.waiting:
            threading.Event().wait(0.005)
        self.queued.set()


def run_together(
    app: LedgerApplication, first: bytes, others: Sequence[bytes]
) -> tuple[Gate, list[Future[Appended]]]:
    """Append ``first``, then ``others`` concurrently while ``first`` is being written."""
    gate = Gate(app, len(others))
    with ThreadPoolExecutor(len(others) + 2) as pool:
        futures = [pool.submit(app.append_event, first)]
        watcher = pool.submit(gate.watch)
        futures += [pool.submit(app.append_event, raw) for raw in others]
        watcher.result(timeout=60)
        for future in futures:
            future.exception(timeout=60)
    return gate, futures


def stored_indexes(app: LedgerApplication) -> dict[tuple[uuid.UUID, int], int]:
    return {(e.stream_id, e.seq): e.index for e in app.entries_after(0, 100_000)}


def test_concurrent_appends_share_a_commit_and_each_is_stored_once_in_order(
    world: World,
) -> None:
    writers = [writer(world) for _ in range(WRITERS + 1)]
    before = world.app.store.max_index()
    raws = [w.next_event(world.clock.now) for w in writers]
    gate, futures = run_together(world.app, raws[0], raws[1:])

    assert gate.writes == [1, WRITERS]  # the first alone, then all the others in one commit
    done = [f.result() for f in futures]
    assert all(a.created for a in done)
    stored = stored_indexes(world.app)
    indexes = sorted(a.index for a in done)
    assert indexes == list(range(before + 1, before + WRITERS + 2))  # dense, none twice
    for appended in done:
        assert stored[(appended.stream_id, appended.seq)] == appended.index
        receipt = parse_receipt(appended.receipt)
        assert (receipt.index, receipt.stream_id) == (appended.index, appended.stream_id)
    assert sorted(stored.values()) == list(range(1, len(stored) + 1))
    assert verify_ledger(world.app).exit_code == 0


def test_a_refused_append_fails_alone_and_is_not_stored(world: World) -> None:
    writers = [writer(world) for _ in range(WRITERS)]
    raws = [w.next_event(world.clock.now) for w in writers]
    forged = bytearray(raws[3])
    forged[-1] ^= 1  # the signature's last byte
    others = [*raws[1:3], bytes(forged), *raws[4:]]
    # The forged one is refused while checked: never queued, so the gate waits for one fewer.
    gate = Gate(world.app, len(others) - 1)
    with ThreadPoolExecutor(len(others) + 2) as pool:
        first = pool.submit(world.app.append_event, raws[0])
        watcher = pool.submit(gate.watch)
        rest = [pool.submit(world.app.append_event, raw) for raw in others]
        watcher.result(timeout=60)
    with pytest.raises(EnvelopeRejected) as refused:
        rest[2].result()
    assert refused.value.reason == "bad_signature"
    done = [first.result(), *(f.result() for i, f in enumerate(rest) if i != 2)]
    # The others still shared one commit: the refusal cost nobody else their batch.
    assert gate.writes == [1, len(others) - 1]
    assert all(a.created for a in done)
    stored = stored_indexes(world.app)
    assert (writers[3].case_id, 1) not in stored
    assert {(a.stream_id, a.seq) for a in done} <= stored.keys()
    assert sorted(stored.values()) == list(range(1, len(stored) + 1))


def test_a_seq_taken_by_another_process_fails_only_its_own_append(
    world: World, tmp_path: Path
) -> None:
    writers = [writer(world) for _ in range(WRITERS)]
    for w in writers:  # each case open here: its state is kept by this process
        world.app.append_event(w.next_event(world.clock.now))
    # Another process takes seq 2 of the first case; this one still believes it is at seq 1.
    rival = CaseWriter(world.app, writers[0].officer)
    rival.case_id, rival.seq, rival.prev = writers[0].case_id, writers[0].seq, writers[0].prev
    other = second_app(world, tmp_path, tmp_path / "other")
    theirs = other.append_event(rival.next_event(world.clock.now))
    other.close()

    ours = [w.next_event(world.clock.now) for w in writers]  # ours[0] is seq 2 of case 0 too
    gate, futures = run_together(world.app, ours[1], [ours[0], *ours[2:]])

    with pytest.raises(ConflictError) as conflict:
        futures[1].result()
    assert conflict.value.head.seq == 2  # the stored head, not the stale kept one
    assert conflict.value.head.event_hash == theirs.head.event_hash
    done = [f.result() for i, f in enumerate(futures) if i != 1]
    assert all(a.created for a in done)
    stored = stored_indexes(world.app)
    assert stored[(writers[0].case_id, 2)] == theirs.index
    for appended in done:
        assert stored[(appended.stream_id, appended.seq)] == appended.index
    assert sorted(stored.values()) == list(range(1, len(stored) + 1))
    assert verify_ledger(world.app).exit_code == 0
    # The failed batch was retried one by one: only the conflicting one failed.
    assert gate.writes[0] == 1 and gate.writes[1] == WRITERS - 1


def test_the_same_bytes_stored_by_another_process_are_a_replay(
    world: World, tmp_path: Path
) -> None:
    mine = writer(world)
    world.app.append_event(mine.next_event(world.clock.now))
    raw = mine.next_event(world.clock.now)
    other = second_app(world, tmp_path, tmp_path / "other")
    theirs = other.append_event(raw)
    other.close()
    again = world.app.append_event(raw)  # this process still keeps the case at seq 1
    assert not again.created
    assert (again.index, again.receipt) == (theirs.index, theirs.receipt)


def test_a_committed_append_whose_kept_state_cannot_be_updated_is_read_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = writer(world)
    world.app.append_event(mine.next_event(world.clock.now))
    original = Case._absorb
    calls = [0]

    def fail_once(self: Case, raw: bytes, parsed: Any) -> bytes:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("applying failed")
        return original(self, raw, parsed)

    monkeypatch.setattr(Case, "_absorb", fail_once)
    second = world.app.append_event(mine.next_event(world.clock.now))  # stored all the same
    assert second.created and calls[0] == 1
    monkeypatch.setattr(Case, "_absorb", original)
    third = world.app.append_event(mine.next_event(world.clock.now))  # not stuck, not stale
    assert (third.seq, third.index) == (3, second.index + 1)
    assert world.app.get_case(mine.case_id).head == third.head
