"""The supervision alert feed (docs/supervision.md §7.3): alerts the scheduler recorded, on SQLite
or PostgreSQL, each once, numbered by a gapless cursor.

Table ``tongban_supervision_alerts``: one row per (source, case, name, status, deadline), so a
scan run twice (a cron job beside the server's scheduler, two workers) records nothing new.
``seq`` is the feed's cursor: ``tongban_supervision_alert_head`` holds the last one given, and
every recording transaction moves it first (SQLite takes its write lock there, PostgreSQL locks
the row), so recorders serialize and commit in ``seq`` order: a reader that has seen ``seq`` n
never later finds a row below n appear. A follower asks for the alerts ``after`` the last
``seq`` it read. Rows hold no personal data: a case id, a leg or stage name, a body, an item,
dates. SQLite: ``alerts.sqlite3`` in the data directory; PostgreSQL: the node's schema.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapters.sqlstore import SqlStore, connector_for
from ledger.supervision.watch import Alert

ALERT_FILE = "alerts.sqlite3"
MAX_SEQ = 2**63 - 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tongban_supervision_alert_head ("
    "name TEXT PRIMARY KEY, seq BIGINT NOT NULL)",
    "INSERT INTO tongban_supervision_alert_head VALUES ('alerts', 0) ON CONFLICT DO NOTHING",
    "CREATE TABLE IF NOT EXISTS tongban_supervision_alerts ("
    "seq BIGINT PRIMARY KEY, source TEXT NOT NULL, case_id TEXT NOT NULL, name TEXT NOT NULL, "
    "body TEXT NOT NULL, item TEXT NOT NULL, status TEXT NOT NULL, deadline TEXT NOT NULL, "
    "as_of TEXT NOT NULL, recorded_at TEXT NOT NULL, "
    "UNIQUE (source, case_id, name, status, deadline))",
    "CREATE INDEX IF NOT EXISTS tongban_supervision_alerts_body "
    "ON tongban_supervision_alerts (body, seq)",
)
_COLUMNS = "seq, source, case_id, name, body, item, status, deadline, as_of, recorded_at"


class AlertStoreError(Exception):
    pass


def _alert(row: Sequence[Any]) -> Alert:
    return Alert(
        source=row[1],
        case_id=row[2],
        name=row[3],
        body=row[4],
        item=row[5],
        status=row[6],
        deadline=dt.date.fromisoformat(row[7]),
        as_of=dt.date.fromisoformat(row[8]),
        seq=int(row[0]),
        recorded_at=row[9],
    )


class AlertStore(SqlStore):
    """Recorded alerts and the feed's cursor."""

    schema = _SCHEMA
    error = AlertStoreError

    def record(self, alerts: Sequence[Alert], *, now: dt.datetime) -> list[Alert]:
        """Record the alerts not recorded yet (by their key); the new ones, with their ``seq``."""
        with self._tx() as cur:
            # First statement: the lock that orders recorders (see the module's docstring).
            cur.execute("UPDATE tongban_supervision_alert_head SET seq = seq WHERE name = 'alerts'")
            cur.execute("SELECT seq FROM tongban_supervision_alert_head WHERE name = 'alerts'")
            (last,) = cur.fetchone()
            last = int(last)
            new: list[Alert] = []
            for alert in alerts:
                cur.execute(
                    self._sql(
                        "SELECT 1 FROM tongban_supervision_alerts WHERE source = ? AND "
                        "case_id = ? AND name = ? AND status = ? AND deadline = ?"
                    ),
                    alert.key,
                )
                if cur.fetchone() is not None:
                    continue
                last += 1
                made = Alert(
                    alert.source,
                    alert.case_id,
                    alert.name,
                    alert.body,
                    alert.item,
                    alert.status,
                    alert.deadline,
                    alert.as_of,
                    seq=last,
                    recorded_at=now.isoformat(),
                )
                cur.execute(
                    self._sql(
                        f"INSERT INTO tongban_supervision_alerts ({_COLUMNS}) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    ),
                    (
                        made.seq,
                        made.source,
                        made.case_id,
                        made.name,
                        made.body,
                        made.item,
                        made.status,
                        made.deadline.isoformat(),
                        made.as_of.isoformat(),
                        made.recorded_at,
                    ),
                )
                new.append(made)
            cur.execute(
                self._sql(
                    "UPDATE tongban_supervision_alert_head SET seq = ? WHERE name = 'alerts'"
                ),
                (last,),
            )
        return new

    def after(
        self, after: int, *, bodies: Sequence[str] | None = None, limit: int = 100
    ) -> list[Alert]:
        """Up to ``limit`` alerts with ``seq`` above ``after``, in ``seq`` order; only those of
        ``bodies`` when given (an empty list: none)."""
        where: list[str] = ["seq > ?"]
        params: list[Any] = [after]
        if bodies is not None:
            if not bodies:
                return []
            where.append(f"body IN ({', '.join('?' for _ in bodies)})")
            params += list(bodies)
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {_COLUMNS} FROM tongban_supervision_alerts "
                    f"WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
                ),
                (*params, limit),
            )
            return [_alert(row) for row in cur.fetchall()]

    def last_seq(self) -> int:
        with self._tx() as cur:
            cur.execute("SELECT seq FROM tongban_supervision_alert_head WHERE name = 'alerts'")
            row = cur.fetchone()
        return 0 if row is None else int(row[0])


def open_alert_store(database_url: str, data_dir: Path, *, schema: str | None = None) -> AlertStore:
    """The alert store beside the ledger: ``alerts.sqlite3`` in the data dir, or PostgreSQL."""
    connect, placeholder = connector_for(database_url, data_dir, ALERT_FILE, schema=schema)
    return AlertStore(connect, placeholder)
