"""The window node's relay queue: every step it relayed, on SQLite or PostgreSQL.

One row per relayed step (``tongban_relays``, keyed by the step's hash): the exact signed
bytes, the relay receipt this node signed when the step reached it, the applicant ref a
``received`` step carries, and where the step stands at its home node:

- ``queued``: not yet delivered (the home node could not be reached); retried;
- ``held``: the home node refused this node's authentication (401: its ``peers.json`` does
  not name this node's key, or the clocks differ): not retried by the delivery loop, only by
  an operator's ``tongban relay deliver`` once the configuration is fixed;
- ``accepted``: the home node's receipt is kept (``home_receipt``);
- ``conflict``: the home node holds another step at that seq (``home_head_*``); the node
  never signs again, the clerk decides;
- ``refused``: the home node refused the step (``detail``: its reason);
- ``dropped``: an operator gave a queued or held step up (``tongban relay drop``).

``queued`` and ``held`` are *waiting*; the others are settled. A ``received`` step's applicant
stays in this node's vault while its step waits, and is erased once it is settled, whatever
the outcome (``adapters.relay``).

A row is written before the step is sent anywhere, so a step that reached this node is never
lost: the delivery loop (``adapters.relay``) sends what is queued until it is answered.
SQLite keeps the table in ``relay.sqlite3`` in the data directory.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from adapters.sqlstore import SqlStore, connector_for

RELAY_DB_FILE = "relay.sqlite3"
STATES = ("queued", "held", "accepted", "conflict", "refused", "dropped")
WAITING = ("queued", "held")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tongban_relays ("
    "event_hash TEXT PRIMARY KEY, home_ledger TEXT NOT NULL, case_id TEXT NOT NULL, "
    "seq BIGINT NOT NULL, body TEXT NOT NULL, step TEXT NOT NULL, envelope TEXT NOT NULL, "
    "relay_receipt TEXT NOT NULL, relayed_at BIGINT NOT NULL, applicant_ref TEXT, "
    "state TEXT NOT NULL, home_receipt TEXT, home_index BIGINT, home_head_seq BIGINT, "
    "home_head_hash TEXT, detail TEXT NOT NULL, attempts BIGINT NOT NULL, "
    "updated_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tongban_relays_state ON tongban_relays (state, relayed_at)",
    "CREATE INDEX IF NOT EXISTS tongban_relays_case ON tongban_relays (case_id, seq)",
    # The monitor's last checkpoint accepted from each home node (adapters.monitor).
    "CREATE TABLE IF NOT EXISTS tongban_peer_checkpoints ("
    "ledger TEXT PRIMARY KEY, size BIGINT NOT NULL, note TEXT NOT NULL, updated_at TEXT NOT NULL)",
    # The monitor's last run, as its report (JSON, the findings' evidence too): what
    # `tongban monitor status` and anyone reading this database see between runs.
    "CREATE TABLE IF NOT EXISTS tongban_monitor_runs ("
    "name TEXT PRIMARY KEY, checked_at TEXT NOT NULL, report TEXT NOT NULL)",
)
_COLUMNS = (
    "event_hash, home_ledger, case_id, seq, body, step, envelope, relay_receipt, relayed_at, "
    "applicant_ref, state, home_receipt, home_index, home_head_seq, home_head_hash, detail, "
    "attempts, updated_at"
)


class RelayStoreError(Exception):
    """The relay database failed (driver error, translated once here)."""


@dataclass(frozen=True)
class RelayedStep:
    """One row of the queue (see the module docstring for ``state``)."""

    event_hash: bytes
    home_ledger: str
    case_id: str
    seq: int
    body: str
    step: str
    envelope: bytes
    relay_receipt: bytes
    relayed_at: int
    applicant_ref: str | None
    state: str
    home_receipt: bytes | None
    home_index: int | None
    home_head_seq: int | None
    home_head_hash: bytes | None
    detail: str
    attempts: int
    updated_at: str


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def _unb64(value: str | None) -> bytes | None:
    return None if value is None else base64.b64decode(value)


def _row(row: tuple[object, ...]) -> RelayedStep:
    (ev, home, case, seq, body, step, env, rr, at, ref, state, hr, hi, hs, hh, det, att, upd) = row
    return RelayedStep(
        event_hash=bytes.fromhex(str(ev)),
        home_ledger=str(home),
        case_id=str(case),
        seq=int(str(seq)),
        body=str(body),
        step=str(step),
        envelope=base64.b64decode(str(env)),
        relay_receipt=base64.b64decode(str(rr)),
        relayed_at=int(str(at)),
        applicant_ref=None if ref is None else str(ref),
        state=str(state),
        home_receipt=_unb64(None if hr is None else str(hr)),
        home_index=None if hi is None else int(str(hi)),
        home_head_seq=None if hs is None else int(str(hs)),
        home_head_hash=None if hh is None else bytes.fromhex(str(hh)),
        detail=str(det),
        attempts=int(str(att)),
        updated_at=str(upd),
    )


class RelayStore(SqlStore):
    """The queue of relayed steps (SQLite or PostgreSQL)."""

    schema = _SCHEMA
    error = RelayStoreError

    def enqueue(
        self,
        *,
        event_hash: bytes,
        home_ledger: str,
        case_id: str,
        seq: int,
        body: str,
        step: str,
        envelope: bytes,
        relay_receipt: bytes,
        relayed_at: int,
        applicant_ref: str | None,
    ) -> RelayedStep:
        """Keep a step as ``queued``, durably; the row already kept for these very bytes
        (a repost) is returned unchanged, with its first relay receipt."""
        now = datetime.now(UTC).isoformat()
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    f"INSERT INTO tongban_relays ({_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', NULL, NULL, NULL, NULL, '', 0, ?) "
                    "ON CONFLICT (event_hash) DO NOTHING"
                ),
                (
                    event_hash.hex(),
                    home_ledger,
                    case_id,
                    seq,
                    body,
                    step,
                    _b64(envelope),
                    _b64(relay_receipt),
                    relayed_at,
                    applicant_ref,
                    now,
                ),
            )
        found = self.get(event_hash)
        assert found is not None
        return found

    def get(self, event_hash: bytes) -> RelayedStep | None:
        with self._tx() as cur:
            cur.execute(
                self._sql(f"SELECT {_COLUMNS} FROM tongban_relays WHERE event_hash = ?"),
                (event_hash.hex(),),
            )
            row = cur.fetchone()
        return _row(row) if row else None

    def steps(
        self, *, state: str | None = None, body: str | None = None, case_id: str | None = None
    ) -> list[RelayedStep]:
        """Rows in the order they reached this node, optionally of one state, body or case."""
        where, args = [], []
        for column, value in (("state", state), ("body", body), ("case_id", case_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {_COLUMNS} FROM tongban_relays{clause} "
                    "ORDER BY relayed_at, case_id, seq"
                ),
                tuple(args),
            )
            rows = cur.fetchall()
        return [_row(row) for row in rows]

    def home_of(self, case_id: str) -> str | None:
        """The home ledger of a case this node relayed a step of, or None."""
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT home_ledger FROM tongban_relays WHERE case_id = ? LIMIT 1"),
                (case_id,),
            )
            row = cur.fetchone()
        return str(row[0]) if row else None

    def settle(
        self,
        event_hash: bytes,
        state: str,
        *,
        detail: str = "",
        home_receipt: bytes | None = None,
        home_index: int | None = None,
        home_head: tuple[int, bytes] | None = None,
    ) -> bool:
        """Record the home node's answer; only a ``queued`` row changes (an answer that
        comes twice, from two delivery loops, is written once): True for the one that did."""
        assert state in STATES
        now = datetime.now(UTC).isoformat()
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE tongban_relays SET state = ?, detail = ?, home_receipt = ?, "
                    "home_index = ?, home_head_seq = ?, home_head_hash = ?, "
                    "attempts = attempts + 1, updated_at = ? "
                    "WHERE event_hash = ? AND state = 'queued'"
                ),
                (
                    state,
                    detail,
                    _b64(home_receipt),
                    home_index,
                    home_head[0] if home_head else None,
                    home_head[1].hex() if home_head else None,
                    now,
                    event_hash.hex(),
                ),
            )
            changed: bool = cur.rowcount == 1
        return changed

    def held_checkpoint(self, ledger: str) -> str | None:
        """The monitor's last checkpoint accepted from the home node of ``ledger``."""
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT note FROM tongban_peer_checkpoints WHERE ledger = ?"), (ledger,)
            )
            row = cur.fetchone()
        return str(row[0]) if row else None

    def hold_checkpoint(self, ledger: str, size: int, note: str) -> None:
        now = datetime.now(UTC).isoformat()
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO tongban_peer_checkpoints VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (ledger) DO UPDATE SET size = excluded.size, "
                    "note = excluded.note, updated_at = excluded.updated_at"
                ),
                (ledger, size, note, now),
            )

    def hold(self, event_hash: bytes, detail: str) -> bool:
        """A delivery the home node refused to authenticate: the step waits for an operator
        (``held``), not for the next loop. True when the row was queued."""
        return self._move(event_hash, ("queued",), "held", detail, attempt=True)

    def release_held(self) -> int:
        """Every ``held`` row back to ``queued`` (an operator's delivery); how many."""
        now = datetime.now(UTC).isoformat()
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE tongban_relays SET state = 'queued', updated_at = ? "
                    "WHERE state = 'held'"
                ),
                (now,),
            )
            count: int = cur.rowcount
        return count

    def drop(self, event_hash: bytes, detail: str) -> bool:
        """An operator gives a waiting step up (``dropped``); True when it was waiting."""
        return self._move(event_hash, WAITING, "dropped", detail, attempt=False)

    def note(self, event_hash: bytes, detail: str) -> None:
        """Why a queued step waits (not an attempt: e.g. behind an earlier step)."""
        self._move(event_hash, ("queued",), "queued", detail, attempt=False)

    def _move(
        self, event_hash: bytes, sources: tuple[str, ...], state: str, detail: str, *, attempt: bool
    ) -> bool:
        now = datetime.now(UTC).isoformat()
        marks = ", ".join("?" for _ in sources)
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    f"UPDATE tongban_relays SET state = ?, detail = ?, "
                    f"attempts = attempts + {1 if attempt else 0}, updated_at = ? "
                    f"WHERE event_hash = ? AND state IN ({marks})"
                ),
                (state, detail[:1000], now, event_hash.hex(), *sources),
            )
            changed: bool = cur.rowcount == 1
        return changed

    def record_monitor_run(self, checked_at: str, report: str) -> None:
        """Keep the monitor's last run (``report``: JSON), replacing the one before."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO tongban_monitor_runs VALUES ('last', ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET checked_at = excluded.checked_at, "
                    "report = excluded.report"
                ),
                (checked_at, report),
            )

    def last_monitor_run(self) -> tuple[str, str] | None:
        """``(checked_at, report JSON)`` of the monitor's last run, or None before the first."""
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT checked_at, report FROM tongban_monitor_runs WHERE name = 'last'")
            )
            row = cur.fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def attempted(self, event_hash: bytes, detail: str) -> None:
        """A delivery that got no answer: the step stays queued."""
        now = datetime.now(UTC).isoformat()
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE tongban_relays SET attempts = attempts + 1, detail = ?, "
                    "updated_at = ? WHERE event_hash = ? AND state = 'queued'"
                ),
                (detail[:500], now, event_hash.hex()),
            )


def open_relay_store(database_url: str, data_dir: Path, *, schema: str | None = None) -> RelayStore:
    connect, placeholder = connector_for(database_url, data_dir, RELAY_DB_FILE, schema=schema)
    return RelayStore(connect, placeholder)
