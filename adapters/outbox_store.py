"""The outbox's one position: the ledger index published up to, beside the node's ledger.

The ledger index *is* the outbox (every accepted object has one, dense and in commit order), so
the append path writes nothing for it; the relay keeps only how far it has published. One row
per published stream in ``tongban_outbox_position``, on the node's PostgreSQL schema or in
``outbox.sqlite3`` in the data directory. Each move is one compare-and-set statement, its own
transaction: a relay that lost the race (a second one started by mistake) sees it and reloads.
Driver errors become :class:`OutboxStoreError`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from adapters.sqlstore import SqlStore, connector_for

OUTBOX_DB_FILE = "outbox.sqlite3"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tongban_outbox_position ("
    "stream TEXT PRIMARY KEY, published_up_to BIGINT NOT NULL, updated_at TEXT NOT NULL)",
)


class OutboxStoreError(Exception):
    """The outbox position could not be read or written (driver error, translated here)."""


class OutboxPositionStore(SqlStore):
    schema = _SCHEMA
    error = OutboxStoreError

    def published_up_to(self, stream: str) -> int:
        """The highest ledger index of which every message is in ``stream`` (0: none)."""
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT published_up_to FROM tongban_outbox_position WHERE stream = ?"),
                (stream,),
            )
            row = cur.fetchone()
        return 0 if row is None else int(row[0])

    def advance(self, stream: str, expected: int, new: int) -> bool:
        """Move the position from ``expected`` to ``new``; False if it was not ``expected``."""
        now = datetime.now(UTC).isoformat()
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE tongban_outbox_position SET published_up_to = ?, updated_at = ? "
                    "WHERE stream = ? AND published_up_to = ?"
                ),
                (new, now, stream, expected),
            )
            if cur.rowcount == 1:
                return True
            if expected != 0:
                return False
            cur.execute(
                self._sql(
                    "INSERT INTO tongban_outbox_position (stream, published_up_to, updated_at) "
                    "VALUES (?, ?, ?) ON CONFLICT (stream) DO NOTHING"
                ),
                (stream, new, now),
            )
            return bool(cur.rowcount == 1)

    def rewind(self, stream: str, to: int) -> int:
        """Set the position back to ``to`` (a replay from ``to + 1``); the previous position."""
        previous = self.published_up_to(stream)
        now = datetime.now(UTC).isoformat()
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO tongban_outbox_position (stream, published_up_to, updated_at) "
                    "VALUES (?, ?, ?) ON CONFLICT (stream) DO UPDATE SET "
                    "published_up_to = excluded.published_up_to, updated_at = excluded.updated_at"
                ),
                (stream, to, now),
            )
        return previous


def open_outbox_store(
    database_url: str, data_dir: Path, *, schema: str | None = None
) -> OutboxPositionStore:
    """The position store of the node configured by ``database_url`` / ``data_dir``."""
    return OutboxPositionStore(
        *connector_for(database_url, data_dir, OUTBOX_DB_FILE, schema=schema)
    )
