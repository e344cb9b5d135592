"""SQLite recorder: eventsourcing's application recorder plus the dense ledger index.

Each stored event gets a row in ``<name>_ledger`` (ledger index, stream, seq, event hash,
receipt) written in the same transaction. SQLite serializes writers, and the index is read
after this transaction's first write, so ``MAX(ledger_index) + 1`` is dense and in commit order.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from eventsourcing.persistence import OperationalError, ProgrammingError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from ledger.persistence import LedgerEntry, LedgerRow, ReceiptMaker
from ledger.transparency import (
    EMPTY_TREE,
    StoredCheckpoint,
    TreeState,
    pack_frontier,
    unpack_frontier,
)


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        prefix = events_table_name.removesuffix("_events")
        self.ledger_table_name = prefix + "_ledger"
        self.tree_table_name = prefix + "_tree"
        self.subtrees_table_name = prefix + "_subtrees"
        self.checkpoints_table_name = prefix + "_checkpoints"
        super().__init__(datastore, events_table_name)

    def create_table(self) -> None:
        # Processes of one node start while others write. eventsourcing's transaction begins
        # deferred: the schema statements read first, and SQLite refuses the later write at
        # once ("database is locked", no busy wait) when another process committed meanwhile.
        # An immediate transaction takes the write lock first, waiting its busy timeout.
        with self.datastore.get_connection(commit=True) as connection:
            cursor = connection.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                self._create_table(cursor)
                connection.commit()
            except BaseException as failure:
                with contextlib.suppress(sqlite3.Error):
                    connection.rollback()
                if isinstance(failure, sqlite3.OperationalError):
                    raise OperationalError(failure) from failure
                raise

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.ledger_table_name} ("
            "ledger_index INTEGER PRIMARY KEY, "
            "originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL, "
            "event_hash BLOB NOT NULL UNIQUE, "
            "receipt BLOB NOT NULL, "
            "UNIQUE (originator_id, originator_version))",
            # The Merkle tree (ledger/transparency.py): one state row, seeded empty;
            # last_hash is the object hash of its last leaf, checked against the rows.
            f"CREATE TABLE IF NOT EXISTS {self.tree_table_name} ("
            "id INTEGER PRIMARY KEY CHECK (id = 1), "
            "size INTEGER NOT NULL, "
            "frontier BLOB NOT NULL, "
            "last_hash BLOB NOT NULL)",
            f"INSERT OR IGNORE INTO {self.tree_table_name} (id, size, frontier, last_hash) "
            "VALUES (1, 0, x'', x'')",
            f"CREATE TABLE IF NOT EXISTS {self.subtrees_table_name} ("
            "level INTEGER NOT NULL, "
            "idx INTEGER NOT NULL, "
            "hash BLOB NOT NULL, "
            "PRIMARY KEY (level, idx)) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {self.checkpoints_table_name} ("
            "size INTEGER PRIMARY KEY, "
            "note TEXT NOT NULL, "
            "issued_at INTEGER NOT NULL)",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        maker: ReceiptMaker | None = kwargs.get("receipt_maker")
        if maker is None:
            raise ProgrammingError("every ledger write needs a receipt_maker")
        c.execute(f"SELECT COALESCE(MAX(ledger_index), 0) FROM {self.ledger_table_name}")
        head = int(c.fetchone()[0])
        rows = []
        for index, stored in enumerate(stored_events, head + 1):
            stream_id = uuid.UUID(str(stored.originator_id))
            event_hash, receipt = maker.receipt_for(stream_id, stored.originator_version, index)
            rows.append((index, stream_id.hex, stored.originator_version, event_hash, receipt))
        c.executemany(f"INSERT INTO {self.ledger_table_name} VALUES (?, ?, ?, ?, ?)", rows)
        return notification_ids

    # -- LedgerStore -----------------------------------------------------------------------

    def append_objects(self, stored_events: Sequence[StoredEvent], maker: ReceiptMaker) -> None:
        # One transaction through eventsourcing's insert (``_insert_events`` adds the index
        # rows); it commits before returning.
        self.insert_events(stored_events, receipt_maker=maker)

    def _entries(self, where: str, params: Sequence[Any], tail: str = "") -> list[LedgerEntry]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT l.ledger_index, l.originator_id, l.originator_version, e.state, l.receipt "
                f"FROM {self.ledger_table_name} l JOIN {self.events_table_name} e "
                "ON e.originator_id = l.originator_id "
                "AND e.originator_version = l.originator_version "
                f"WHERE {where} {tail}",
                params,
            )
            return [
                LedgerEntry(row[0], uuid.UUID(row[1]), row[2], row[3], row[4])
                for row in c.fetchall()
            ]

    def select_entry(self, stream_id: uuid.UUID, seq: int) -> LedgerEntry | None:
        found = self._entries(
            "l.originator_id = ? AND l.originator_version = ?", (stream_id.hex, seq)
        )
        return found[0] if found else None

    def confirm_durable(self) -> None:
        """Nothing to wait for: a commit is durable once it returned (no replication)."""

    def select_entries(self, after_index: int, limit: int) -> list[LedgerEntry]:
        return self._entries(
            "l.ledger_index > ?", (after_index,), f"ORDER BY l.ledger_index LIMIT {int(limit)}"
        )

    def select_stream_entries(
        self, stream_ids: Sequence[uuid.UUID], after_index: int
    ) -> list[LedgerEntry]:
        marks = ", ".join("?" for _ in stream_ids) or "NULL"
        return self._entries(
            f"l.originator_id IN ({marks}) AND l.ledger_index > ?",
            (*(s.hex for s in stream_ids), after_index),
            "ORDER BY l.ledger_index",
        )

    def select_stream_ids(self, topic: str) -> list[uuid.UUID]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT e.originator_id FROM {self.events_table_name} e "
                f"JOIN {self.ledger_table_name} l ON e.originator_id = l.originator_id "
                "AND e.originator_version = l.originator_version "
                "WHERE e.topic = ? ORDER BY l.ledger_index",
                (topic,),
            )
            return [uuid.UUID(row[0]) for row in c.fetchall()]

    def max_index(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT COALESCE(MAX(ledger_index), 0) FROM {self.ledger_table_name}")
            return int(c.fetchone()[0])

    def _rows_query(self, where: str = "", *, one_stream: bool = False) -> str:
        # Both directions of the join: an event without an index row, and an index row
        # whose event is gone, are both findings.
        events, ledger = self.events_table_name, self.ledger_table_name
        if one_stream:
            # Each side filtered by the stream before the join, so it is read through its
            # (originator_id, originator_version) key: a filter on COALESCE over the join
            # scanned both whole tables (seconds a case page on 1,000,000 events).
            events = f"(SELECT * FROM {events} WHERE originator_id = ?)"
            ledger = f"(SELECT * FROM {ledger} WHERE originator_id = ?)"
        return (
            "SELECT COALESCE(e.originator_id, l.originator_id) AS sid, "
            "COALESCE(e.originator_version, l.originator_version) AS seq, "
            "e.topic, e.state, l.ledger_index, l.event_hash, l.receipt "
            f"FROM {events} e FULL OUTER JOIN {ledger} l "
            "ON e.originator_id = l.originator_id AND e.originator_version = l.originator_version "
            f"{where} ORDER BY sid, seq"
        )

    @staticmethod
    def _row(row: Any) -> LedgerRow:
        return LedgerRow(_uuid(row[0]), row[1], row[2], row[3], row[4], row[5], row[6])

    def select_stream_rows(self, stream_id: uuid.UUID) -> list[LedgerRow]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._rows_query(one_stream=True), (stream_id.hex, stream_id.hex))
            return [self._row(row) for row in c.fetchall()]

    def iter_rows_by_stream(
        self, batch_size: int = 1000, *, stream_range: tuple[uuid.UUID, uuid.UUID] | None = None
    ) -> Iterator[LedgerRow]:
        where: str = ""
        params: tuple[str, ...] = ()
        if stream_range is not None:
            sid = "COALESCE(e.originator_id, l.originator_id)"
            where = f"WHERE {sid} >= ? AND {sid} <= ?"
            params = (stream_range[0].hex, stream_range[1].hex)
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._rows_query(where), params)
            while rows := c.sqlite_cursor.fetchmany(batch_size):
                yield from (self._row(row) for row in rows)

    def iter_indexes(self, batch_size: int = 10000) -> Iterator[int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT ledger_index FROM {self.ledger_table_name} ORDER BY ledger_index")
            while rows := c.sqlite_cursor.fetchmany(batch_size):
                yield from (int(row[0]) for row in rows)

    # -- TreeStore -------------------------------------------------------------------------

    def ledger_hashes(self, after_index: int, limit: int) -> list[tuple[int, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT ledger_index, event_hash FROM {self.ledger_table_name} "
                "WHERE ledger_index > ? ORDER BY ledger_index LIMIT ?",
                (after_index, limit),
            )
            return [(int(row[0]), bytes(row[1])) for row in c.fetchall()]

    def load_tree_state(self) -> TreeState:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT size, frontier, last_hash FROM {self.tree_table_name} WHERE id = 1")
            row = c.fetchone()
        if row is None:
            return EMPTY_TREE
        return TreeState(unpack_frontier(int(row[0]), bytes(row[1])), bytes(row[2]))

    def _swap_tree(self, c: SQLiteCursor, expected: TreeState, state: TreeState) -> bool:
        """Compare-and-set of the whole state row (size, frontier and last hash)."""
        c.execute(
            f"UPDATE {self.tree_table_name} SET size = ?, frontier = ?, last_hash = ? "
            "WHERE id = 1 AND size = ? AND frontier = ? AND last_hash = ?",
            (
                state.size,
                pack_frontier(state),
                state.last_hash,
                expected.size,
                pack_frontier(expected),
                expected.last_hash,
            ),
        )
        return bool(c.sqlite_cursor.rowcount == 1)

    def save_tree_state(
        self, expected: TreeState, state: TreeState, subtrees: Mapping[tuple[int, int], bytes]
    ) -> bool:
        with self.datastore.transaction(commit=True) as c:
            if not self._swap_tree(c, expected, state):
                return False
            c.executemany(
                f"INSERT OR IGNORE INTO {self.subtrees_table_name} VALUES (?, ?, ?)",
                [(level, idx, node) for (level, idx), node in subtrees.items()],
            )
            return True

    def reset_tree(self, expected: TreeState) -> bool:
        """Forget the derived tree (state and subtree cache) if it is still ``expected``."""
        with self.datastore.transaction(commit=True) as c:
            if not self._swap_tree(c, expected, EMPTY_TREE):
                return False
            c.execute(f"DELETE FROM {self.subtrees_table_name}")
            return True

    def subtree(self, level: int, idx: int) -> bytes | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT hash FROM {self.subtrees_table_name} WHERE level = ? AND idx = ?",
                (level, idx),
            )
            row = c.fetchone()
        return None if row is None else bytes(row[0])

    def _checkpoint_where(
        self, c: SQLiteCursor, tail: str, params: tuple[Any, ...]
    ) -> StoredCheckpoint | None:
        c.execute(f"SELECT size, note, issued_at FROM {self.checkpoints_table_name} {tail}", params)
        row = c.fetchone()
        return None if row is None else StoredCheckpoint(int(row[0]), row[1], int(row[2]))

    def save_checkpoint(self, size: int, note: str, issued_at: int) -> StoredCheckpoint:
        with self.datastore.transaction(commit=True) as c:
            # Re-issuing a size keeps the first note (and its cosignatures) but counts as the
            # most recent issue, so "latest" is what the node said last.
            c.execute(
                f"INSERT INTO {self.checkpoints_table_name} VALUES (?, ?, ?) "
                "ON CONFLICT (size) DO UPDATE SET issued_at = max(issued_at, excluded.issued_at)",
                (size, note, issued_at),
            )
            stored = self._checkpoint_where(c, "WHERE size = ?", (size,))
            assert stored is not None  # just inserted, or there already
            return stored

    def replace_checkpoint(self, size: int, old_note: str, new_note: str) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"UPDATE {self.checkpoints_table_name} SET note = ? WHERE size = ? AND note = ?",
                (new_note, size, old_note),
            )
            return bool(c.sqlite_cursor.rowcount == 1)

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        with self.datastore.transaction(commit=False) as c:
            return self._checkpoint_where(c, "WHERE size = ?", (size,))

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.datastore.transaction(commit=False) as c:
            return self._checkpoint_where(c, "ORDER BY issued_at DESC, size DESC LIMIT 1", ())

    def largest_checkpoint(self) -> StoredCheckpoint | None:
        with self.datastore.transaction(commit=False) as c:
            return self._checkpoint_where(c, "ORDER BY size DESC LIMIT 1", ())

    def checkpoints_after(self, after_size: int, limit: int) -> list[StoredCheckpoint]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT size, note, issued_at FROM {self.checkpoints_table_name} "
                "WHERE size > ? ORDER BY size LIMIT ?",
                (after_size, limit),
            )
            return [StoredCheckpoint(int(r[0]), r[1], int(r[2])) for r in c.fetchall()]

    def checkpoints_before(self, before_size: int, limit: int) -> list[StoredCheckpoint]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT size, note, issued_at FROM {self.checkpoints_table_name} "
                "WHERE size < ? ORDER BY size DESC LIMIT ?",
                (before_size, limit),
            )
            return [StoredCheckpoint(int(r[0]), r[1], int(r[2])) for r in c.fetchall()]
