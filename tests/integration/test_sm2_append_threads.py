"""Appends of SM2 events from several threads: the envelope's signature is verified before the
append lock is taken, so writers verify at once (OpenSSL releases the GIL while it verifies;
``docs/envelope.md`` §3.2), and the check under the lock still decides."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from adapters.bulk import CaseWriter, Officer
from ledger.errors import LedgerError
from ledger.sm2 import Sm2Sm3
from ledger.workflow import CaseWorkflow
from tests.support.world import World, make_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = make_world(tmp_path, workflow=CaseWorkflow(), suite="sm2-sm3")
    yield made
    made.app.close()


def _writer(world: World) -> CaseWriter:
    found = world.officers["rs-001"]
    return CaseWriter(world.app, Officer(found.body_id, found.officer_id, found.signer))


def _ahead(world: World) -> int:
    """A claimed time 60 s ahead of the test clock: after every receipt time here."""
    return world.clock.now + 60_000_000


def _held_by_another_thread(lock: Any) -> bool:
    held: list[bool] = []

    def probe() -> None:
        got = lock.acquire(blocking=False)
        if got:
            lock.release()
        held.append(not got)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return held[0]


def test_the_envelope_is_verified_before_the_append_lock_and_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    officer_key = world.officers["rs-001"].signer.public_key
    writer = _writer(world)
    raws = [writer.next_event(_ahead(world)) for _ in range(3)]
    real_verify = Sm2Sm3.verify
    locked: list[bool] = []

    def verify(self: Sm2Sm3, public_key: bytes, message: bytes, signature: bytes) -> None:
        if public_key == officer_key:
            locked.append(_held_by_another_thread(world.app._lock))
        real_verify(self, public_key, message, signature)

    monkeypatch.setattr(Sm2Sm3, "verify", verify)
    for raw in raws:
        assert world.app.append_event(raw).created
    # One verification an event, each outside the lock (the one under it found it done).
    assert locked == [False, False, False]


def test_a_bad_signature_is_still_refused_under_the_lock(world: World) -> None:
    writer = _writer(world)
    raw = writer.next_event(_ahead(world))
    tampered = raw[:-1] + bytes([raw[-1] ^ 1])  # the signature's last byte
    with pytest.raises(LedgerError) as refused:
        world.app.append_event(tampered)
    assert refused.value.reason == "bad_signature"
    assert world.app.append_event(raw).created


def test_threads_append_sm2_events_of_their_own_cases(world: World) -> None:
    writers = [_writer(world) for _ in range(4)]
    batches = [[w.next_event(_ahead(world)) for _ in range(3)] for w in writers]

    def run(batch: list[bytes]) -> list[int]:
        return [world.app.append_event(raw).seq for raw in batch]

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(run, batches)) == [[1, 2, 3]] * 4
