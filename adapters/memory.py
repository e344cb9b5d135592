"""In-memory recorder: the ledger's storage ports without a database, for tests.

:class:`MemoryLedgerRecorder` is eventsourcing's POPO application recorder plus what the
SQLite and PostgreSQL recorders add: the dense ledger index with receipts
(:class:`ledger.persistence.LedgerStore`) and the Merkle tree's state, subtrees and checkpoints
(:class:`ledger.transparency.TreeStore`). It passes the same recorder contract
(``tests/integration/recorder_contract.py``). One lock serializes writers, as SQLite does, so
``max + 1`` is dense and in commit order. Nothing survives the process: a node never wires it.

Use it with ``LedgerApplication(memory_env(), ...)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from ledger.persistence import LedgerEntry, LedgerRow, ReceiptMaker
from ledger.transparency import EMPTY_TREE, StoredCheckpoint, TreeState, pack_frontier

__all__ = ["MemoryFactory", "MemoryLedgerRecorder", "memory_env"]


def memory_env() -> dict[str, str]:
    """The eventsourcing environment of an application stored in memory."""
    return {"PERSISTENCE_MODULE": f"{__name__}:{MemoryFactory.__name__}"}


@dataclass(frozen=True)
class _IndexRow:
    stream_id: uuid.UUID
    seq: int
    event_hash: bytes
    receipt: bytes


class MemoryLedgerRecorder(POPOApplicationRecorder):
    """Events, ledger rows, tree and checkpoints in dictionaries under one lock."""

    def __init__(self) -> None:
        super().__init__()
        self._index: dict[int, _IndexRow] = {}
        self._index_of: dict[tuple[uuid.UUID, int], int] = {}
        self._hashes: set[bytes] = set()
        self._tree = EMPTY_TREE
        self._subtrees: dict[tuple[int, int], bytes] = {}
        self._checkpoints: dict[int, StoredCheckpoint] = {}

    def _insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        maker: ReceiptMaker | None = kwargs.get("receipt_maker")
        if maker is None:
            raise ProgrammingError("every ledger write needs a receipt_maker")
        with self._database_lock:
            self._assert_uniqueness(stored_events, **kwargs)
            # Receipts first, checked like the SQL UNIQUE constraint: a refusal stores nothing.
            head = self._max_index()
            rows: list[tuple[int, _IndexRow]] = []
            hashes: set[bytes] = set()
            for index, stored in enumerate(stored_events, head + 1):
                stream_id = uuid.UUID(str(stored.originator_id))
                event_hash, receipt = maker.receipt_for(stream_id, stored.originator_version, index)
                if event_hash in self._hashes or event_hash in hashes:
                    raise IntegrityError(f"event hash of ledger index {index} is already stored")
                hashes.add(event_hash)
                rows.append(
                    (index, _IndexRow(stream_id, stored.originator_version, event_hash, receipt))
                )
            notification_ids = self._update_table(stored_events, **kwargs)
            for index, row in rows:
                self._index[index] = row
                self._index_of[(row.stream_id, row.seq)] = index
            self._hashes |= hashes
            return notification_ids

    # -- LedgerStore -----------------------------------------------------------------------

    def append_objects(self, stored_events: Sequence[StoredEvent], maker: ReceiptMaker) -> None:
        self.insert_events(stored_events, receipt_maker=maker)

    def _event(self, stream_id: uuid.UUID, seq: int) -> StoredEvent | None:
        found = self.select_events(stream_id, gt=seq - 1, lte=seq)
        return found[0] if found else None

    def _entry(self, index: int) -> LedgerEntry | None:
        row = self._index[index]
        event = self._event(row.stream_id, row.seq)
        if event is None:  # an index row without its event: not an entry (as the SQL join)
            return None
        return LedgerEntry(index, row.stream_id, row.seq, event.state, row.receipt)

    def _entries(self, indexes: Iterator[int] | Sequence[int]) -> list[LedgerEntry]:
        return [entry for index in indexes if (entry := self._entry(index)) is not None]

    def select_entry(self, stream_id: uuid.UUID, seq: int) -> LedgerEntry | None:
        with self._database_lock:
            index = self._index_of.get((stream_id, seq))
            return None if index is None else self._entry(index)

    def confirm_durable(self) -> None:
        """Nothing to wait for: a committed append is all there is."""

    def select_entries(self, after_index: int, limit: int) -> list[LedgerEntry]:
        with self._database_lock:
            found = self._entries(sorted(i for i in self._index if i > after_index))
            return found[:limit]

    def select_stream_entries(
        self, stream_ids: Sequence[uuid.UUID], after_index: int
    ) -> list[LedgerEntry]:
        wanted = set(stream_ids)
        with self._database_lock:
            return self._entries(
                sorted(
                    i
                    for i, row in self._index.items()
                    if i > after_index and row.stream_id in wanted
                )
            )

    def select_stream_ids(self, topic: str) -> list[uuid.UUID]:
        with self._database_lock:
            found = []
            for index in sorted(self._index):
                row = self._index[index]
                event = self._event(row.stream_id, row.seq)
                if event is not None and event.topic == topic:
                    found.append(row.stream_id)
            return found

    def _max_index(self) -> int:
        return max(self._index, default=0)

    def max_index(self) -> int:
        with self._database_lock:
            return self._max_index()

    def _rows(self) -> list[LedgerRow]:
        """Both directions of the join, as the SQL recorders read them, by stream then seq."""
        keys = set(self._index_of)
        for stream, versions in self._stored_events_index.items():
            keys.update((uuid.UUID(stream), seq) for seq in versions)
        rows = []
        for stream_id, seq in sorted(keys, key=lambda key: (key[0].hex, key[1])):
            event = self._event(stream_id, seq)
            index = self._index_of.get((stream_id, seq))
            row = None if index is None else self._index[index]
            rows.append(
                LedgerRow(
                    stream_id,
                    seq,
                    None if event is None else event.topic,
                    None if event is None else event.state,
                    index,
                    None if row is None else row.event_hash,
                    None if row is None else row.receipt,
                )
            )
        return rows

    def select_stream_rows(self, stream_id: uuid.UUID) -> list[LedgerRow]:
        with self._database_lock:
            return [row for row in self._rows() if row.stream_id == stream_id]

    def iter_rows_by_stream(
        self, batch_size: int = 1000, *, stream_range: tuple[uuid.UUID, uuid.UUID] | None = None
    ) -> Iterator[LedgerRow]:
        with self._database_lock:
            rows = self._rows()
        for row in rows:
            assert row.stream_id is not None
            if (
                stream_range is None
                or stream_range[0].hex <= row.stream_id.hex <= stream_range[1].hex
            ):
                yield row

    def iter_indexes(self, batch_size: int = 10000) -> Iterator[int]:
        with self._database_lock:
            indexes = sorted(self._index)
        yield from indexes

    # -- TreeStore -------------------------------------------------------------------------

    def ledger_hashes(self, after_index: int, limit: int) -> list[tuple[int, bytes]]:
        with self._database_lock:
            indexes = sorted(i for i in self._index if i > after_index)[:limit]
            return [(i, self._index[i].event_hash) for i in indexes]

    def load_tree_state(self) -> TreeState:
        with self._database_lock:
            return self._tree

    def _is_tree(self, expected: TreeState) -> bool:
        # Size, frontier and last hash alike, as the SQL compare-and-set.
        current = self._tree
        return (current.size, pack_frontier(current), current.last_hash) == (
            expected.size,
            pack_frontier(expected),
            expected.last_hash,
        )

    def save_tree_state(
        self, expected: TreeState, state: TreeState, subtrees: Mapping[tuple[int, int], bytes]
    ) -> bool:
        with self._database_lock:
            if not self._is_tree(expected):
                return False
            self._tree = state
            for key, node in subtrees.items():
                self._subtrees.setdefault(key, node)  # INSERT OR IGNORE
            return True

    def reset_tree(self, expected: TreeState) -> bool:
        with self._database_lock:
            if not self._is_tree(expected):
                return False
            self._tree = EMPTY_TREE
            self._subtrees.clear()
            return True

    def subtree(self, level: int, idx: int) -> bytes | None:
        with self._database_lock:
            return self._subtrees.get((level, idx))

    def save_checkpoint(self, size: int, note: str, issued_at: int) -> StoredCheckpoint:
        with self._database_lock:
            # Re-issuing a size keeps the first note but counts as the most recent issue.
            old = self._checkpoints.get(size)
            stored = (
                StoredCheckpoint(size, note, issued_at)
                if old is None
                else StoredCheckpoint(size, old.note, max(old.issued_at, issued_at))
            )
            self._checkpoints[size] = stored
            return stored

    def replace_checkpoint(self, size: int, old_note: str, new_note: str) -> bool:
        with self._database_lock:
            old = self._checkpoints.get(size)
            if old is None or old.note != old_note:
                return False
            self._checkpoints[size] = StoredCheckpoint(size, new_note, old.issued_at)
            return True

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        with self._database_lock:
            return self._checkpoints.get(size)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self._database_lock:
            return max(
                self._checkpoints.values(), key=lambda c: (c.issued_at, c.size), default=None
            )

    def largest_checkpoint(self) -> StoredCheckpoint | None:
        with self._database_lock:
            return max(self._checkpoints.values(), key=lambda c: c.size, default=None)

    def checkpoints_after(self, after_size: int, limit: int) -> list[StoredCheckpoint]:
        with self._database_lock:
            sizes = sorted(size for size in self._checkpoints if size > after_size)[:limit]
            return [self._checkpoints[size] for size in sizes]

    def checkpoints_before(self, before_size: int, limit: int) -> list[StoredCheckpoint]:
        with self._database_lock:
            sizes = sorted((s for s in self._checkpoints if s < before_size), reverse=True)
            return [self._checkpoints[size] for size in sizes[:limit]]


class MemoryFactory(POPOFactory):
    """eventsourcing's in-memory factory, with the ledger recorder as application recorder."""

    def application_recorder(self) -> ApplicationRecorder:
        return MemoryLedgerRecorder()
