"""What every ledger recorder must store, written once (as eventsourcing's
``ApplicationRecorderTestCase`` is subclassed per backend).

``RecorderContract`` exercises the storage ports the ledger declares, below the application:
:class:`ledger.persistence.LedgerStore` (append with index and receipt, reads by index and by
stream, the rows of both tables) and :class:`ledger.transparency.TreeStore` (ledger hashes,
tree state and subtrees with compare-and-set, checkpoints). Subclasses provide one fixture,
``recorder``: a new, empty recorder of their backend (``test_recorder_sqlite.py``,
``test_recorder_postgres.py``, and ``tests/unit/test_recorder_memory.py`` for
``adapters.memory``). The application-level contract is ``ledger_contract.py``.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Protocol

import pytest
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent

from ledger.merkle import FrontierState
from ledger.persistence import LedgerStore
from ledger.transparency import EMPTY_TREE, StoredCheckpoint, TreeState, TreeStore

CASE_TOPIC = "case_opened"
STEP_TOPIC = "case_step"


class Recorder(LedgerStore, TreeStore, Protocol):
    """Both ports, as one recorder implements them."""

    def max_index(self) -> int: ...


class Maker:
    """A :class:`ledger.persistence.ReceiptMaker` that records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[uuid.UUID, int, int]] = []

    def receipt_for(self, stream_id: uuid.UUID, seq: int, index: int) -> tuple[bytes, bytes]:
        self.asked.append((stream_id, seq, index))
        return event_hash(stream_id, seq), f"receipt {index}".encode()


def event_hash(stream_id: uuid.UUID, seq: int) -> bytes:
    return hashlib.sha256(stream_id.bytes + seq.to_bytes(8, "big")).digest()


def stored(stream_id: uuid.UUID, seq: int, topic: str = STEP_TOPIC) -> StoredEvent:
    return StoredEvent(
        originator_id=stream_id,
        originator_version=seq,
        topic=topic,
        state=f"state {stream_id.hex[:8]}/{seq}".encode(),
    )


def ids(n: int) -> list[uuid.UUID]:
    """``n`` stream ids in ascending order (rows come back by stream id)."""
    return [uuid.UUID(int=(k + 1) << 64) for k in range(n)]


def tree(size: int, seed: bytes = b"") -> TreeState:
    hashes = tuple(
        hashlib.sha256(seed + bytes([size, k])).digest() for k in range(bin(size).count("1"))
    )
    return TreeState(FrontierState(size, hashes), hashlib.sha256(seed + bytes([size])).digest())


class RecorderContract:
    """Every test here runs on every backend."""

    @pytest.fixture
    def recorder(self) -> Any:  # overridden: a new, empty recorder of the backend
        raise NotImplementedError

    # -- empty ----------------------------------------------------------------------------

    def test_a_new_recorder_is_empty(self, recorder: Recorder) -> None:
        assert recorder.max_index() == 0
        assert recorder.select_entries(0, 10) == []
        assert recorder.select_entry(uuid.uuid4(), 1) is None
        assert recorder.select_stream_entries([uuid.uuid4()], 0) == []
        assert recorder.select_stream_entries([], 0) == []
        assert recorder.select_stream_ids(CASE_TOPIC) == []
        assert list(recorder.iter_indexes()) == []
        assert list(recorder.iter_rows_by_stream()) == []
        assert recorder.ledger_hashes(0, 10) == []
        assert recorder.load_tree_state() == EMPTY_TREE
        assert recorder.subtree(8, 0) is None
        assert recorder.checkpoint(1) is None
        assert recorder.latest_checkpoint() is None
        assert recorder.largest_checkpoint() is None
        assert recorder.checkpoints_after(0, 10) == []

    # -- append with index and receipt ---------------------------------------------------

    def test_append_gives_dense_indexes_in_order_with_the_makers_receipts(
        self, recorder: Recorder
    ) -> None:
        a, b = ids(2)
        maker = Maker()
        recorder.append_objects([stored(a, 1, CASE_TOPIC), stored(b, 1, CASE_TOPIC)], maker)
        recorder.append_objects([stored(a, 2)], maker)
        assert maker.asked == [(a, 1, 1), (b, 1, 2), (a, 2, 3)]
        assert recorder.max_index() == 3
        assert list(recorder.iter_indexes()) == [1, 2, 3]
        entry = recorder.select_entry(a, 2)
        assert entry is not None
        assert (entry.index, entry.stream_id, entry.seq) == (3, a, 2)
        assert entry.envelope == stored(a, 2).state
        assert entry.receipt == b"receipt 3"
        assert recorder.select_entry(b, 2) is None

    def test_reads_by_index(self, recorder: Recorder) -> None:
        a, b = ids(2)
        recorder.append_objects([stored(a, 1, CASE_TOPIC), stored(b, 1, CASE_TOPIC)], Maker())
        recorder.append_objects([stored(a, 2), stored(b, 2), stored(a, 3)], Maker())
        assert [e.index for e in recorder.select_entries(0, 10)] == [1, 2, 3, 4, 5]
        assert [(e.index, e.seq) for e in recorder.select_entries(1, 2)] == [(2, 1), (3, 2)]
        assert recorder.select_entries(5, 10) == []
        assert [(e.index, e.stream_id) for e in recorder.select_stream_entries([a], 1)] == [
            (3, a),
            (5, a),
        ]
        assert [e.index for e in recorder.select_stream_entries([a, b], 0)] == [1, 2, 3, 4, 5]
        assert recorder.ledger_hashes(3, 10) == [(4, event_hash(b, 2)), (5, event_hash(a, 3))]
        assert recorder.ledger_hashes(0, 1) == [(1, event_hash(a, 1))]

    def test_stream_ids_by_topic_in_index_order(self, recorder: Recorder) -> None:
        a, b, c = ids(3)
        recorder.append_objects([stored(c, 1, CASE_TOPIC)], Maker())
        recorder.append_objects([stored(a, 1, "registry"), stored(b, 1, CASE_TOPIC)], Maker())
        assert recorder.select_stream_ids(CASE_TOPIC) == [c, b]
        assert recorder.select_stream_ids("registry") == [a]

    def test_a_taken_stream_and_seq_stores_nothing_of_the_batch(self, recorder: Recorder) -> None:
        a, b = ids(2)
        recorder.append_objects([stored(a, 1)], Maker())
        with pytest.raises(IntegrityError):
            recorder.append_objects([stored(b, 1), stored(a, 1)], Maker())
        with pytest.raises(IntegrityError):
            recorder.append_objects([stored(b, 1), stored(b, 1)], Maker())
        assert recorder.max_index() == 1
        assert recorder.select_entry(b, 1) is None
        assert [row.stream_id for row in recorder.iter_rows_by_stream()] == [a]
        recorder.append_objects([stored(b, 1)], Maker())  # the index was not used up
        assert [e.index for e in recorder.select_entries(0, 10)] == [1, 2]

    def test_events_are_readable_as_eventsourcing_notifications(self, recorder: Recorder) -> None:
        a, b = ids(2)
        recorder.append_objects([stored(a, 1), stored(b, 1)], Maker())
        assert isinstance(recorder, ApplicationRecorder)
        assert [e.originator_version for e in recorder.select_events(a)] == [1]
        notifications = recorder.select_notifications(start=None, limit=10)
        assert [(n.originator_id, n.topic) for n in notifications] == [
            (a, STEP_TOPIC),
            (b, STEP_TOPIC),
        ]

    # -- rows of both tables --------------------------------------------------------------

    def test_rows_by_stream_then_seq(self, recorder: Recorder) -> None:
        a, b, c = ids(3)
        recorder.append_objects([stored(b, 1), stored(a, 1), stored(b, 2)], Maker())
        recorder.append_objects([stored(c, 1), stored(a, 2)], Maker())
        rows = list(recorder.iter_rows_by_stream(batch_size=2))
        assert [(r.stream_id, r.seq, r.index) for r in rows] == [
            (a, 1, 2),
            (a, 2, 5),
            (b, 1, 1),
            (b, 2, 3),
            (c, 1, 4),
        ]
        first = rows[0]
        assert first.topic == STEP_TOPIC
        assert first.state == stored(a, 1).state
        assert first.event_hash == event_hash(a, 1)
        assert first.receipt == b"receipt 2"
        in_range = recorder.iter_rows_by_stream(stream_range=(b, c))
        assert [(r.stream_id, r.seq) for r in in_range] == [(b, 1), (b, 2), (c, 1)]
        assert [(r.seq, r.index) for r in recorder.select_stream_rows(b)] == [(1, 1), (2, 3)]
        assert recorder.select_stream_rows(uuid.uuid4()) == []

    # -- tree state and subtrees ----------------------------------------------------------

    def test_tree_state_is_compare_and_set(self, recorder: Recorder) -> None:
        one, three = tree(1), tree(3)
        assert recorder.save_tree_state(EMPTY_TREE, one, {(8, 0): b"\x01" * 32})
        assert recorder.load_tree_state() == one
        assert not recorder.save_tree_state(EMPTY_TREE, three, {(8, 1): b"\x02" * 32})
        assert recorder.load_tree_state() == one
        assert recorder.subtree(8, 1) is None  # nothing written by a refused swap
        # The same size with another frontier or last hash is not what was expected.
        assert not recorder.save_tree_state(tree(1, b"other"), three, {})
        assert recorder.save_tree_state(one, three, {(8, 1): b"\x02" * 32})
        assert recorder.load_tree_state() == three

    def test_subtrees_keep_the_first_hash_until_the_tree_is_reset(self, recorder: Recorder) -> None:
        one, two = tree(1), tree(2)
        assert recorder.save_tree_state(EMPTY_TREE, one, {(8, 0): b"\x01" * 32})
        assert recorder.save_tree_state(one, two, {(8, 0): b"\x09" * 32, (9, 0): b"\x03" * 32})
        assert recorder.subtree(8, 0) == b"\x01" * 32
        assert recorder.subtree(9, 0) == b"\x03" * 32
        assert not recorder.reset_tree(one)
        assert recorder.subtree(8, 0) == b"\x01" * 32
        assert recorder.reset_tree(two)
        assert recorder.load_tree_state() == EMPTY_TREE
        assert recorder.subtree(8, 0) is None
        assert recorder.subtree(9, 0) is None

    # -- checkpoints -----------------------------------------------------------------------

    def test_a_checkpoint_size_keeps_its_first_note_and_its_latest_issue(
        self, recorder: Recorder
    ) -> None:
        assert recorder.save_checkpoint(5, "note 5", 100) == StoredCheckpoint(5, "note 5", 100)
        assert recorder.save_checkpoint(5, "other", 300) == StoredCheckpoint(5, "note 5", 300)
        assert recorder.save_checkpoint(5, "older", 200) == StoredCheckpoint(5, "note 5", 300)
        assert recorder.checkpoint(5) == StoredCheckpoint(5, "note 5", 300)
        assert recorder.checkpoint(4) is None

    def test_latest_largest_after_and_before(self, recorder: Recorder) -> None:
        recorder.save_checkpoint(3, "n3", 100)
        recorder.save_checkpoint(9, "n9", 200)
        recorder.save_checkpoint(6, "n6", 300)
        assert recorder.latest_checkpoint() == StoredCheckpoint(6, "n6", 300)
        assert recorder.largest_checkpoint() == StoredCheckpoint(9, "n9", 200)
        recorder.save_checkpoint(7, "n7", 300)  # same issue time: the larger is the latest
        assert recorder.latest_checkpoint() == StoredCheckpoint(7, "n7", 300)
        assert [c.size for c in recorder.checkpoints_after(3, 2)] == [6, 7]
        assert [c.size for c in recorder.checkpoints_after(0, 10)] == [3, 6, 7, 9]
        assert recorder.checkpoints_after(9, 10) == []
        assert [c.size for c in recorder.checkpoints_before(9, 2)] == [7, 6]
        assert [c.size for c in recorder.checkpoints_before(100, 10)] == [9, 7, 6, 3]
        assert recorder.checkpoints_before(3, 10) == []

    def test_replace_checkpoint_is_compare_and_set(self, recorder: Recorder) -> None:
        recorder.save_checkpoint(5, "note", 100)
        assert recorder.replace_checkpoint(5, "note", "note + cosignature")
        assert recorder.checkpoint(5) == StoredCheckpoint(5, "note + cosignature", 100)
        assert not recorder.replace_checkpoint(5, "note", "lost update")
        assert not recorder.replace_checkpoint(6, "", "no such size")
        assert recorder.checkpoint(5) == StoredCheckpoint(5, "note + cosignature", 100)
        assert recorder.checkpoint(6) is None
