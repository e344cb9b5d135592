"""The platform's store: applied report messages and the applied-up-to index, one transaction.

``tongban_platform_reports`` holds each applied message by ``(ledger, idx)``: applying an index
twice inserts nothing (``ON CONFLICT DO NOTHING``), so redeliveries and replays are harmless.
``tongban_platform_position`` holds, per ledger, the highest index up to which every index is
applied; it moves in the same transaction as the insert that closes the gap. Dead letters are
noted in ``tongban_platform_dead_letters``. SQLite (``platform.sqlite3`` in the store
directory) or PostgreSQL; driver errors become :class:`PlatformStoreError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.sqlstore import SqlStore, connector_for

PLATFORM_DB_FILE = "platform.sqlite3"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tongban_platform_reports ("
    "ledger TEXT NOT NULL, idx BIGINT NOT NULL, kind TEXT NOT NULL, stream TEXT NOT NULL, "
    "seq BIGINT NOT NULL, receipt_time BIGINT NOT NULL, message TEXT NOT NULL, "
    "applied_at TEXT NOT NULL, PRIMARY KEY (ledger, idx))",
    "CREATE TABLE IF NOT EXISTS tongban_platform_position ("
    "ledger TEXT PRIMARY KEY, applied_up_to BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tongban_platform_dead_letters ("
    "ledger TEXT NOT NULL, idx BIGINT NOT NULL, stream_seq BIGINT NOT NULL, "
    "deliveries BIGINT NOT NULL, noted_at TEXT NOT NULL, PRIMARY KEY (ledger, idx))",
)


class PlatformStoreError(Exception):
    """The platform's database failed (driver error, translated here)."""


class PlatformStore(SqlStore):
    schema = _SCHEMA
    error = PlatformStoreError

    def apply(
        self, ledger: str, index: int, kind: str, stream: str, seq: int, receipt_time: int,
        message: bytes,
    ) -> bool:  # fmt: skip
        """Store one verified message and move the position over it; False if it was there."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO tongban_platform_reports (ledger, idx, kind, stream, seq, "
                    "receipt_time, message, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (ledger, idx) DO NOTHING"
                ),
                (ledger, index, kind, stream, seq, receipt_time, message.decode(),
                 datetime.now(UTC).isoformat()),
            )  # fmt: skip
            inserted = bool(cur.rowcount == 1)
            if inserted:
                self._close_gap(cur, ledger)
            return inserted

    def _close_gap(self, cur: Any, ledger: str) -> None:
        cur.execute(
            self._sql("SELECT applied_up_to FROM tongban_platform_position WHERE ledger = ?"),
            (ledger,),
        )
        row = cur.fetchone()
        position = 0 if row is None else int(row[0])
        moved = position
        while True:
            cur.execute(
                self._sql(
                    "SELECT idx FROM tongban_platform_reports WHERE ledger = ? AND idx > ? "
                    "ORDER BY idx LIMIT 1000"
                ),
                (ledger, moved),
            )
            found = [int(r[0]) for r in cur.fetchall()]
            run = 0
            for index in found:
                if index != moved + 1:
                    break
                moved, run = index, run + 1
            if run < 1000:
                break
        if moved == position:
            return
        cur.execute(
            self._sql(
                "INSERT INTO tongban_platform_position (ledger, applied_up_to) VALUES (?, ?) "
                "ON CONFLICT (ledger) DO UPDATE SET applied_up_to = excluded.applied_up_to"
            ),
            (ledger, moved),
        )

    def applied_up_to(self, ledger: str) -> int:
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT applied_up_to FROM tongban_platform_position WHERE ledger = ?"),
                (ledger,),
            )
            row = cur.fetchone()
        return 0 if row is None else int(row[0])

    def ledgers(self) -> list[str]:
        """The ledgers this store has applied or given up messages of."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "SELECT ledger FROM tongban_platform_position UNION "
                    "SELECT ledger FROM tongban_platform_reports UNION "
                    "SELECT ledger FROM tongban_platform_dead_letters ORDER BY 1"
                )
            )
            return [str(row[0]) for row in cur.fetchall()]

    def has(self, ledger: str, index: int) -> bool:
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT 1 FROM tongban_platform_reports WHERE ledger = ? AND idx = ?"),
                (ledger, index),
            )
            return cur.fetchone() is not None

    def count(self, ledger: str) -> int:
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT COUNT(*) FROM tongban_platform_reports WHERE ledger = ?"),
                (ledger,),
            )
            return int(cur.fetchone()[0])

    def messages(self, ledger: str, *, kind: str | None = None) -> Iterator[tuple[int, bytes]]:
        """``(index, message)`` of applied messages in index order (of one kind if given)."""
        query = "SELECT idx, message FROM tongban_platform_reports WHERE ledger = ?"
        params: tuple[Any, ...] = (ledger,)
        if kind is not None:
            query, params = query + " AND kind = ?", (ledger, kind)
        with self._tx() as cur:
            cur.execute(self._sql(query + " ORDER BY idx"), params)
            rows = cur.fetchall()
        for index, message in rows:
            yield int(index), str(message).encode()

    def note_dead_letter(self, ledger: str, index: int, stream_seq: int, deliveries: int) -> None:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO tongban_platform_dead_letters (ledger, idx, stream_seq, "
                    "deliveries, noted_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (ledger, idx) "
                    "DO NOTHING"
                ),
                (ledger, index, stream_seq, deliveries, datetime.now(UTC).isoformat()),
            )

    def dead_letters(self, ledger: str) -> list[int]:
        """Indexes given up on and not applied since (``platform-consumer replay-dead``)."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "SELECT d.idx FROM tongban_platform_dead_letters d WHERE d.ledger = ? "
                    "AND NOT EXISTS (SELECT 1 FROM tongban_platform_reports r "
                    "WHERE r.ledger = d.ledger AND r.idx = d.idx) ORDER BY d.idx"
                ),
                (ledger,),
            )
            return [int(r[0]) for r in cur.fetchall()]


def open_platform_store(
    database_url: str, store_dir: Path, *, schema: str | None = None
) -> PlatformStore:
    return PlatformStore(*connector_for(database_url, store_dir, PLATFORM_DB_FILE, schema=schema))
