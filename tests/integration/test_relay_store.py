"""The relay queue (``adapters.relay_store``) on SQLite and PostgreSQL: a step kept before it is
sent, a repost keeping its first relay receipt, one settlement per step, the monitor's held
checkpoint."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.relay_store import RelayStore, open_relay_store


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RelayStore]:
    url, schema = "", None
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
    opened = open_relay_store(
        url or f"sqlite:///{tmp_path}/ledger.sqlite3", tmp_path, schema=schema
    )
    try:
        yield opened
    finally:
        opened.close()


def keep(store: RelayStore, seq: int, receipt: bytes = b"relay-receipt") -> bytes:
    event_hash = hashlib.sha256(f"step {seq}".encode()).digest()
    store.enqueue(
        event_hash=event_hash,
        home_ledger="tongban/510000",
        case_id="0b5b3a52-7c1e-4c5e-9a0e-2f4d5c6b7a81",
        seq=seq,
        body="320105-ZWFW",
        step="form_checked",
        envelope=b"exact bytes %d" % seq,
        relay_receipt=receipt,
        relayed_at=1_000 + seq,
        applicant_ref=None,
    )
    return event_hash


def test_a_step_is_queued_once_and_settled_once(store: RelayStore) -> None:
    first = keep(store, 1)
    again = store.enqueue(
        event_hash=first,
        home_ledger="tongban/510000",
        case_id="0b5b3a52-7c1e-4c5e-9a0e-2f4d5c6b7a81",
        seq=1,
        body="320105-ZWFW",
        step="form_checked",
        envelope=b"exact bytes 1",
        relay_receipt=b"a second relay receipt",
        relayed_at=9_999,
        applicant_ref=None,
    )
    assert (again.relay_receipt, again.relayed_at, again.state) == (
        b"relay-receipt",
        1_001,
        "queued",
    )
    second = keep(store, 2)
    assert [s.seq for s in store.steps(state="queued")] == [1, 2]
    store.attempted(first, "unreachable")
    assert store.settle(first, "accepted", home_receipt=b"home", home_index=7) is True
    assert store.settle(first, "refused", detail="late answer") is False  # written once
    found = store.get(first)
    assert found is not None
    assert (found.state, found.home_receipt, found.home_index, found.attempts) == (
        "accepted",
        b"home",
        7,
        2,
    )
    assert store.settle(second, "conflict", detail="conflict: taken", home_head=(2, b"\x01" * 32))
    conflict = store.get(second)
    assert conflict is not None and (conflict.home_head_seq, conflict.home_head_hash) == (
        2,
        b"\x01" * 32,
    )
    assert store.home_of("0b5b3a52-7c1e-4c5e-9a0e-2f4d5c6b7a81") == "tongban/510000"
    assert store.steps(body="another body") == []


def test_the_monitor_holds_one_checkpoint_per_peer(store: RelayStore) -> None:
    assert store.held_checkpoint("tongban/510000") is None
    store.hold_checkpoint("tongban/510000", 3, "note 3")
    store.hold_checkpoint("tongban/510000", 5, "note 5")
    assert store.held_checkpoint("tongban/510000") == "note 5"


def test_a_held_step_waits_for_the_operator_and_a_waiting_step_drops_once(
    store: RelayStore,
) -> None:
    held, queued, settled = keep(store, 1), keep(store, 2), keep(store, 3)
    assert store.hold(held, "authentication refused by tongban/510000")
    store.settle(settled, "refused", detail="malformed: no")
    assert not store.hold(settled, "late")  # a settled step is not held again
    assert [s.seq for s in store.steps(state="held")] == [1]
    assert [s.seq for s in store.steps(state="queued")] == [2]
    row = store.get(held)
    assert row is not None and row.attempts == 1
    assert "authentication refused" in row.detail

    assert store.release_held() == 1
    assert [s.seq for s in store.steps(state="queued")] == [1, 2]
    assert store.hold(held, "again")
    assert store.drop(held, "dropped by an operator: gone") and store.drop(queued, "gone")
    assert not store.drop(held, "twice") and not store.drop(settled, "settled")
    assert [s.state for s in store.steps()] == ["dropped", "dropped", "refused"]
    assert [s.seq for s in store.steps(case_id="0b5b3a52-7c1e-4c5e-9a0e-2f4d5c6b7a81")] == [
        1,
        2,
        3,
    ]


def test_the_monitors_last_run_is_kept_and_replaced(store: RelayStore) -> None:
    assert store.last_monitor_run() is None
    store.record_monitor_run("2026-12-07T14:00:00+00:00", '{"alert": true}')
    store.record_monitor_run("2026-12-07T14:05:00+00:00", '{"alert": false}')
    assert store.last_monitor_run() == ("2026-12-07T14:05:00+00:00", '{"alert": false}')
