"""The witness's state and evidence, on SQLite or PostgreSQL (``ledger.witness.WitnessStore``).

Two tables, apart from the ledger's: ``tongban_witness_state`` (one row per witnessed log:
the size, root and note last cosigned) and ``tongban_witness_evidence`` (kept documents, by
id). SQLite keeps them in ``witness.sqlite3`` in the data directory.

The compare-and-set is one statement, so the database makes it atomic across threads and
processes: ``UPDATE ... WHERE origin = ? AND size = <old>`` (PostgreSQL re-checks the
condition after waiting for a concurrent writer's row lock; SQLite serializes writers), and
for a log never cosigned, ``INSERT ... ON CONFLICT DO NOTHING``. Driver errors become
:class:`WitnessStoreError`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from adapters.sqlstore import Connect, SqlStore, postgres_connector, sqlite_connector
from ledger.witness import Cosigned, evidence_id

WITNESS_DB_FILE = "witness.sqlite3"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tongban_witness_state ("
    "origin TEXT PRIMARY KEY, size BIGINT NOT NULL, root TEXT NOT NULL, note TEXT NOT NULL, "
    "updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tongban_witness_evidence ("
    "evidence_id TEXT PRIMARY KEY, origin TEXT NOT NULL, kind TEXT NOT NULL, "
    "document TEXT NOT NULL, kept_at TEXT NOT NULL)",
)


class WitnessStoreError(Exception):
    """The witness database failed (driver error, translated once here)."""


@dataclass(frozen=True)
class EvidenceSummary:
    evidence_id: str
    origin: str
    kind: str
    kept_at: str


class _SqlWitnessStore(SqlStore):
    """The witness's state and evidence (SQLite or PostgreSQL)."""

    schema = _SCHEMA
    error = WitnessStoreError

    def __init__(
        self,
        connect: Connect,
        placeholder: str,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._now = now
        super().__init__(connect, placeholder)

    # -- WitnessStore ------------------------------------------------------------------------

    def latest(self, origin: str) -> Cosigned | None:
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT size, root, note FROM tongban_witness_state WHERE origin = ?"),
                (origin,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return Cosigned(int(row[0]), base64.b64decode(row[1]), row[2])

    def compare_and_set(
        self, origin: str, old_size: int, new_size: int, root: bytes, note: str
    ) -> bool:
        values = (new_size, base64.b64encode(root).decode(), note, self._now().isoformat())
        with self._tx() as cur:
            if old_size == 0:
                cur.execute(
                    self._sql(
                        "INSERT INTO tongban_witness_state (size, root, note, updated_at, origin) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO NOTHING"
                    ),
                    (*values, origin),
                )
                if cur.rowcount == 1:
                    return True
            cur.execute(
                self._sql(
                    "UPDATE tongban_witness_state SET size = ?, root = ?, note = ?, "
                    "updated_at = ? WHERE origin = ? AND size = ?"
                ),
                (*values, origin, old_size),
            )
            return bool(cur.rowcount == 1)

    def keep_evidence(self, origin: str, kind: str, document: Mapping[str, Any]) -> str:
        found = evidence_id(document)
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO tongban_witness_evidence VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (evidence_id) DO NOTHING"
                ),
                (
                    found,
                    origin,
                    kind,
                    json.dumps(document, ensure_ascii=False, sort_keys=True),
                    self._now().isoformat(),
                ),
            )
        return found

    # -- reading evidence --------------------------------------------------------------------

    def evidence_list(self) -> list[EvidenceSummary]:
        """Every kept document's id, log, kind and time, oldest first."""
        with self._tx() as cur:
            cur.execute(
                "SELECT evidence_id, origin, kind, kept_at FROM tongban_witness_evidence "
                "ORDER BY kept_at, evidence_id"
            )
            return [EvidenceSummary(*row) for row in cur.fetchall()]

    def evidence(self, evidence_id: str) -> dict[str, Any] | None:
        """One kept document, as it was kept."""
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT document FROM tongban_witness_evidence WHERE evidence_id = ?"),
                (evidence_id,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        document: dict[str, Any] = json.loads(row[0])
        return document


class SQLiteWitnessStore(_SqlWitnessStore):
    """``witness.sqlite3``: a connection per call, so server threads never share one."""

    def __init__(self, path: Path, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.path = path
        super().__init__(sqlite_connector(path), "?", now=now)


class PostgresWitnessStore(_SqlWitnessStore):
    """The ``tongban_witness_*`` tables in the node's PostgreSQL database (and schema)."""

    def __init__(
        self,
        database_url: str,
        *,
        schema: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        super().__init__(postgres_connector(database_url, schema), "%s", now=now)


WitnessStoreBackend = SQLiteWitnessStore | PostgresWitnessStore


def open_witness_store(
    database_url: str, data_dir: Path, *, schema: str | None = None
) -> WitnessStoreBackend:
    """The witness store beside the ledger: SQLite file in the data dir, or PostgreSQL."""
    if urlparse(database_url).scheme in {"postgresql", "postgres"}:
        return PostgresWitnessStore(database_url, schema=schema)
    return SQLiteWitnessStore(data_dir / WITNESS_DB_FILE)
