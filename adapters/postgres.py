"""PostgreSQL recorder: eventsourcing's application recorder plus the dense ledger index.

The ledger's writes go through one server-side function, ``<prefix>_append`` (created with the
tables): it takes eventsourcing's EXCLUSIVE lock on the events table, checks that the newest
ledger index is the one the caller signed its receipts after, and inserts the events and their
index rows. So ``MAX(ledger_index) + 1`` is dense and in commit order across processes (and the
notification ids follow the same order), a batch of objects costs one statement, one round trip
and one commit, and a rolled-back transaction takes no index; a deleted event leaves a gap the
audit reports. The connection is in autocommit: the statement is its own transaction, and the
server answers it only after the commit (its WAL flush), so a return means durable.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import OperationalError, ProgrammingError, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
)
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Composed, Identifier

from adapters.postgres_ha import COMMIT_WAIT_SECONDS, CommitNotConfirmed, confirmed_writes
from adapters.sqlstore import SCHEMA_SESSION_LOCK_SQL
from ledger.persistence import LedgerEntry, LedgerRow, ReceiptMaker
from ledger.transparency import (
    EMPTY_TREE,
    StoredCheckpoint,
    TreeState,
    pack_frontier,
    unpack_frontier,
)

# eventsourcing retries this ten times on a lost connection, each try waiting up to the pool
# timeout: with the database down, a request hung for most of a minute. We try once: the API
# answers 503 with Retry-After, the client re-posts, and the pool's pre-ping
# (adapters/bootstrap.py) hands out only live connections once the database is back.
_select_events_once = inspect.unwrap(PostgresAggregateRecorder.select_events)


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    select_events = _select_events_once

    def create_table(self) -> None:
        # eventsourcing creates its types and tables unlocked; node processes starting
        # together on a fresh schema then collide in the catalog. One session lock, on a
        # connection of its own (the pool may hold just one), serializes them.
        pool = self.datastore.pool
        conninfo = pool.conninfo if isinstance(pool.conninfo, str) else pool.conninfo()
        kwargs = pool.kwargs() if callable(pool.kwargs) else (pool.kwargs or {})
        with psycopg.connect(conninfo, **kwargs, autocommit=True) as conn:
            conn.execute(SCHEMA_SESSION_LOCK_SQL)
            super().create_table()  # the lock ends with its connection

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        prefix = events_table_name.removesuffix("_events")
        self.ledger_table_name = prefix + "_ledger"
        self.ledger_table = self._table(self.ledger_table_name)
        self.tree_table = self._table(prefix + "_tree")
        self.subtrees_table = self._table(prefix + "_subtrees")
        self.checkpoints_table = self._table(prefix + "_checkpoints")
        self.events_table = self._table(self.events_table_name)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} ("
                "ledger_index bigint PRIMARY KEY, "
                "originator_id uuid NOT NULL, "
                "originator_version bigint NOT NULL, "
                "event_hash bytea NOT NULL UNIQUE, "
                "receipt bytea NOT NULL, "
                "UNIQUE (originator_id, originator_version))"
            ).format(self.ledger_table)
        )
        # The Merkle tree (ledger/transparency.py): one state row, seeded empty; last_hash
        # is the object hash of its last leaf, checked against the rows.
        self.sql_create_statements.extend(
            [
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0} ("
                    "id smallint PRIMARY KEY CHECK (id = 1), "
                    "size bigint NOT NULL, "
                    "frontier bytea NOT NULL, "
                    "last_hash bytea NOT NULL)"
                ).format(self.tree_table),
                SQL(
                    "INSERT INTO {0} (id, size, frontier, last_hash) "
                    "VALUES (1, 0, ''::bytea, ''::bytea) ON CONFLICT DO NOTHING"
                ).format(self.tree_table),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0} ("
                    "level smallint NOT NULL, "
                    "idx bigint NOT NULL, "
                    "hash bytea NOT NULL, "
                    "PRIMARY KEY (level, idx))"
                ).format(self.subtrees_table),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0} ("
                    "size bigint PRIMARY KEY, "
                    "note text NOT NULL, "
                    "issued_at bigint NOT NULL)"
                ).format(self.checkpoints_table),
            ]
        )
        self.max_index_statement = SQL(
            "SELECT COALESCE(MAX(ledger_index), 0) AS n FROM {0}"
        ).format(self.ledger_table)
        append_function = self._table(prefix + "_append")
        # Objects in array order; nothing is written unless the newest index is ``expected``
        # (``written`` false and ``head`` the newest index then: the caller re-signs and
        # retries). No NOTIFY: nothing here listens, and it serializes every commit in the
        # cluster on one lock.
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {fn}(expected bigint, ids uuid[], versions bigint[], "
                "topics text[], states bytea[], hashes bytea[], receipts bytea[], "
                "OUT written boolean, OUT head bigint) LANGUAGE plpgsql "
                # With the tables' owner's rights: a node role that may only SELECT the ledger
                # tables appends through this function alone (docs/operations.md, roles).
                "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ "
                "BEGIN "
                "SET LOCAL lock_timeout = '{timeout}s'; "
                "LOCK TABLE {events} IN EXCLUSIVE MODE; "
                "SELECT COALESCE(MAX(ledger_index), 0) INTO head FROM {ledger}; "
                "IF head <> expected THEN written := false; RETURN; END IF; "
                "INSERT INTO {events} (originator_id, originator_version, topic, state) "
                "SELECT i, v, t, s FROM unnest(ids, versions, topics, states) "
                "WITH ORDINALITY AS o(i, v, t, s, n) ORDER BY n; "
                "INSERT INTO {ledger} "
                "(ledger_index, originator_id, originator_version, event_hash, receipt) "
                "SELECT expected + n, i, v, h, r FROM unnest(ids, versions, hashes, receipts) "
                "WITH ORDINALITY AS o(i, v, h, r, n); "
                "written := true; head := expected + cardinality(ids); "
                "END $$"
            ).format(
                fn=append_function,
                timeout=SQL(str(int(self.datastore.lock_timeout))),
                events=self.events_table,
                ledger=self.ledger_table,
            )
        )
        self.append_statement = SQL(
            "SELECT written, head FROM {0}(%b::bigint, %b::uuid[], %b::bigint[], %b::text[], "
            "%b::bytea[], %b::bytea[], %b::bytea[])"
        ).format(append_function)
        self._head_hint: int | None = None  # the newest index this recorder knows of
        self.commit_wait_seconds = COMMIT_WAIT_SECONDS  # adapters/postgres_ha.py

    def _table(self, name: str) -> Composed:
        return Composed([Identifier(self.datastore.schema), SQL("."), Identifier(name)])

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # eventsourcing's insert would store events without their ledger index and receipt.
        raise ProgrammingError("ledger writes go through append_objects")

    # -- LedgerStore -----------------------------------------------------------------------

    def append_objects(self, stored_events: Sequence[StoredEvent], maker: ReceiptMaker) -> None:
        # Tried once, like select_events above: with the database gone the callers get 503 at
        # once and re-post the same bytes, which is safe (a batch that did commit makes the
        # re-post find its own stored bytes: a replay).
        ids = [uuid.UUID(str(e.originator_id)) for e in stored_events]
        versions = [e.originator_version for e in stored_events]
        topics = [e.topic for e in stored_events]
        states = [e.state for e in stored_events]
        with (
            self._unconfirmed_refused(),
            self.datastore.get_connection() as conn,
            conn.cursor() as curs,
            confirmed_writes(conn, self.commit_wait_seconds),
        ):
            expected = self._head_hint
            if expected is None:
                curs.execute(self.max_index_statement, prepare=True)
                expected = int(self._one(curs)["n"])
            while True:
                signed = [
                    maker.receipt_for(stream_id, version, expected + n)
                    for n, (stream_id, version) in enumerate(zip(ids, versions, strict=True), 1)
                ]
                curs.execute(
                    self.append_statement,
                    (
                        expected,
                        ids,
                        versions,
                        topics,
                        states,
                        [event_hash for event_hash, _ in signed],
                        [receipt for _, receipt in signed],
                    ),
                    prepare=True,
                )
                found = self._one(curs)
                self._head_hint = int(found["head"])
                if found["written"]:
                    # Committed here, but a cancelled wait for the synchronous standby says
                    # so only in a WARNING: confirmed_writes refuses it on leaving the block,
                    # so no receipt for what a failover may lose.
                    return
                expected = self._head_hint  # another writer took those indexes: re-sign

    def confirm_durable(self) -> None:
        # A write whose commit waits for the synchronous standby up to a later WAL position
        # than any earlier commit: once it returns unwarned, they are replicated too. (A no-op
        # update of the tree's state row, which the node's role updates anyway.)
        touch = SQL("UPDATE {0} SET size = size WHERE id = 1").format(self.tree_table)
        with (
            self._unconfirmed_refused(),
            self.datastore.get_connection() as conn,
            confirmed_writes(conn, self.commit_wait_seconds),
        ):
            conn.execute(touch)

    @contextmanager
    def _unconfirmed_refused(self) -> Iterator[None]:
        """A commit not confirmed (adapters/postgres_ha.py) as eventsourcing's
        ``OperationalError``, the error the ledger's callers expect of a database in doubt."""
        try:
            yield
        except CommitNotConfirmed as doubt:
            raise OperationalError(str(doubt)) from doubt

    @contextmanager
    def _write_transaction(self) -> Iterator[Cursor[DictRow]]:
        """``datastore.transaction(commit=True)`` under the rule every write follows: its
        commit bounded and watched (the tree's state and checkpoints wait for the synchronous
        standby like appends do)."""
        with (
            self._unconfirmed_refused(),
            self.datastore.get_connection() as conn,
            confirmed_writes(conn, self.commit_wait_seconds),
            conn.transaction(),
        ):
            yield conn.cursor()

    @staticmethod
    def _one(curs: Cursor[DictRow]) -> DictRow:
        row = curs.fetchone()
        assert row is not None
        return row

    def _entries(self, where: str, params: Sequence[Any], tail: str = "") -> list[LedgerEntry]:
        query = SQL(
            "SELECT l.ledger_index, l.originator_id, l.originator_version, e.state, l.receipt "
            "FROM {0} l JOIN {1} e ON e.originator_id = l.originator_id "
            "AND e.originator_version = l.originator_version WHERE "
        ).format(self.ledger_table, self.events_table) + SQL(where + " " + tail)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, params)
            return [
                LedgerEntry(
                    row["ledger_index"],
                    row["originator_id"],
                    row["originator_version"],
                    bytes(row["state"]),
                    bytes(row["receipt"]),
                )
                for row in curs.fetchall()
            ]

    def select_entry(self, stream_id: uuid.UUID, seq: int) -> LedgerEntry | None:
        found = self._entries(
            "l.originator_id = %s AND l.originator_version = %s", (stream_id, seq)
        )
        return found[0] if found else None

    def select_entries(self, after_index: int, limit: int) -> list[LedgerEntry]:
        return self._entries(
            "l.ledger_index > %s", (after_index,), f"ORDER BY l.ledger_index LIMIT {int(limit)}"
        )

    def select_stream_entries(
        self, stream_ids: Sequence[uuid.UUID], after_index: int
    ) -> list[LedgerEntry]:
        return self._entries(
            "l.originator_id = ANY(%s) AND l.ledger_index > %s",
            (list(stream_ids), after_index),
            "ORDER BY l.ledger_index",
        )

    def select_stream_ids(self, topic: str) -> list[uuid.UUID]:
        query = SQL(
            "SELECT e.originator_id FROM {0} e JOIN {1} l ON e.originator_id = l.originator_id "
            "AND e.originator_version = l.originator_version WHERE e.topic = %s "
            "ORDER BY l.ledger_index"
        ).format(self.events_table, self.ledger_table)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, (topic,))
            return [row["originator_id"] for row in curs.fetchall()]

    def max_index(self) -> int:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.max_index_statement)
            row = curs.fetchone()
            assert row is not None
            return int(row["n"])

    def _rows_query(self, where: str = "", *, one_stream: bool = False) -> Composed:
        # Both directions of the join: an event without an index row, and an index row
        # whose event is gone, are both findings.
        events: Composable = self.events_table
        ledger: Composable = self.ledger_table
        if one_stream:
            # Each side filtered by the stream before the join (read through its key); a
            # filter on COALESCE over the join cannot be pushed into either table.
            events = SQL("(SELECT * FROM {0} WHERE originator_id = %s)").format(events)
            ledger = SQL("(SELECT * FROM {0} WHERE originator_id = %s)").format(ledger)
        return SQL(
            "SELECT COALESCE(e.originator_id, l.originator_id) AS sid, "
            "COALESCE(e.originator_version, l.originator_version) AS seq, "
            "e.topic, e.state, l.ledger_index, l.event_hash, l.receipt "
            "FROM {0} e FULL OUTER JOIN {1} l ON e.originator_id = l.originator_id "
            "AND e.originator_version = l.originator_version "
        ).format(events, ledger) + SQL(where + " ORDER BY sid, seq")

    @staticmethod
    def _row(row: Any) -> LedgerRow:
        def _bytes(value: Any) -> bytes | None:
            return None if value is None else bytes(value)

        return LedgerRow(
            row["sid"],
            row["seq"],
            row["topic"],
            _bytes(row["state"]),
            row["ledger_index"],
            _bytes(row["event_hash"]),
            _bytes(row["receipt"]),
        )

    def select_stream_rows(self, stream_id: uuid.UUID) -> list[LedgerRow]:
        query = self._rows_query(one_stream=True)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, (stream_id, stream_id))
            return [self._row(row) for row in curs.fetchall()]

    def iter_rows_by_stream(
        self, batch_size: int = 1000, *, stream_range: tuple[uuid.UUID, uuid.UUID] | None = None
    ) -> Iterator[LedgerRow]:
        where: str = ""
        params: tuple[uuid.UUID, ...] = ()
        if stream_range is not None:
            sid = "COALESCE(e.originator_id, l.originator_id)"
            where = f"WHERE {sid} >= %s AND {sid} <= %s"
            params = stream_range
        # A server-side cursor keeps memory flat however large the ledger is.
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(name="tongban_audit_rows") as curs,
        ):
            curs.itersize = batch_size
            curs.execute(self._rows_query(where), params)
            yield from (self._row(row) for row in curs)

    def iter_indexes(self, batch_size: int = 10000) -> Iterator[int]:
        query = SQL("SELECT ledger_index FROM {0} ORDER BY ledger_index").format(self.ledger_table)
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(name="tongban_audit_indexes") as curs,
        ):
            curs.itersize = batch_size
            curs.execute(query)
            yield from (int(row["ledger_index"]) for row in curs)

    # -- TreeStore -------------------------------------------------------------------------

    def ledger_hashes(self, after_index: int, limit: int) -> list[tuple[int, bytes]]:
        query = SQL(
            "SELECT ledger_index, event_hash FROM {0} WHERE ledger_index > %s "
            "ORDER BY ledger_index LIMIT %s"
        ).format(self.ledger_table)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, (after_index, limit))
            return [(int(row["ledger_index"]), bytes(row["event_hash"])) for row in curs.fetchall()]

    def load_tree_state(self) -> TreeState:
        query = SQL("SELECT size, frontier, last_hash FROM {0} WHERE id = 1").format(
            self.tree_table
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query)
            row = curs.fetchone()
        if row is None:
            return EMPTY_TREE
        frontier = unpack_frontier(int(row["size"]), bytes(row["frontier"]))
        return TreeState(frontier, bytes(row["last_hash"]))

    def _swap_tree(self, curs: Cursor[DictRow], expected: TreeState, state: TreeState) -> bool:
        """Compare-and-set of the whole state row (size, frontier and last hash). Under READ
        COMMITTED a concurrent UPDATE waits, then re-checks the condition: a real CAS."""
        update = SQL(
            "UPDATE {0} SET size = %s, frontier = %s, last_hash = %s "
            "WHERE id = 1 AND size = %s AND frontier = %s AND last_hash = %s"
        ).format(self.tree_table)
        curs.execute(
            update,
            (
                state.size,
                pack_frontier(state),
                state.last_hash,
                expected.size,
                pack_frontier(expected),
                expected.last_hash,
            ),
        )
        return bool(curs.rowcount == 1)

    def save_tree_state(
        self, expected: TreeState, state: TreeState, subtrees: Mapping[tuple[int, int], bytes]
    ) -> bool:
        insert = SQL("INSERT INTO {0} VALUES (%s, %s, %s) ON CONFLICT DO NOTHING").format(
            self.subtrees_table
        )
        with self._write_transaction() as curs:
            if not self._swap_tree(curs, expected, state):
                return False
            if subtrees:
                curs.executemany(
                    insert, [(level, idx, node) for (level, idx), node in subtrees.items()]
                )
            return True

    def reset_tree(self, expected: TreeState) -> bool:
        """Forget the derived tree (state and subtree cache) if it is still ``expected``."""
        with self._write_transaction() as curs:
            if not self._swap_tree(curs, expected, EMPTY_TREE):
                return False
            curs.execute(SQL("DELETE FROM {0}").format(self.subtrees_table))
            return True

    def subtree(self, level: int, idx: int) -> bytes | None:
        query = SQL("SELECT hash FROM {0} WHERE level = %s AND idx = %s").format(
            self.subtrees_table
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, (level, idx), prepare=True)
            row = curs.fetchone()
        return None if row is None else bytes(row["hash"])

    def _checkpoint_where(
        self, curs: Cursor[DictRow], tail: str, params: tuple[Any, ...]
    ) -> StoredCheckpoint | None:
        query = SQL("SELECT size, note, issued_at FROM {0} ").format(self.checkpoints_table)
        curs.execute(query + SQL(tail), params)
        row = curs.fetchone()
        if row is None:
            return None
        return StoredCheckpoint(int(row["size"]), str(row["note"]), int(row["issued_at"]))

    def save_checkpoint(self, size: int, note: str, issued_at: int) -> StoredCheckpoint:
        # Re-issuing a size keeps the first note (and its cosignatures) but counts as the
        # most recent issue, so "latest" is what the node said last.
        insert = SQL(
            "INSERT INTO {0} AS c VALUES (%s, %s, %s) ON CONFLICT (size) DO UPDATE "
            "SET issued_at = GREATEST(c.issued_at, EXCLUDED.issued_at)"
        ).format(self.checkpoints_table)
        with self._write_transaction() as curs:
            curs.execute(insert, (size, note, issued_at))
            stored = self._checkpoint_where(curs, "WHERE size = %s", (size,))
            assert stored is not None  # just inserted, or there already
            return stored

    def replace_checkpoint(self, size: int, old_note: str, new_note: str) -> bool:
        update = SQL("UPDATE {0} SET note = %s WHERE size = %s AND note = %s").format(
            self.checkpoints_table
        )
        with self._write_transaction() as curs:
            curs.execute(update, (new_note, size, old_note))
            return bool(curs.rowcount == 1)

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return self._checkpoint_where(curs, "WHERE size = %s", (size,))

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return self._checkpoint_where(curs, "ORDER BY issued_at DESC, size DESC LIMIT 1", ())

    def largest_checkpoint(self) -> StoredCheckpoint | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return self._checkpoint_where(curs, "ORDER BY size DESC LIMIT 1", ())

    def checkpoints_after(self, after_size: int, limit: int) -> list[StoredCheckpoint]:
        return self._checkpoints_query("WHERE size > %s ORDER BY size LIMIT %s", after_size, limit)

    def checkpoints_before(self, before_size: int, limit: int) -> list[StoredCheckpoint]:
        return self._checkpoints_query(
            "WHERE size < %s ORDER BY size DESC LIMIT %s", before_size, limit
        )

    def _checkpoints_query(self, where: str, size: int, limit: int) -> list[StoredCheckpoint]:
        query = SQL("SELECT size, note, issued_at FROM {0} " + where).format(self.checkpoints_table)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, (size, limit))
            return [
                StoredCheckpoint(int(r["size"]), str(r["note"]), int(r["issued_at"]))
                for r in curs.fetchall()
            ]
