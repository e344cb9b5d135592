"""The read-only connection port: readers that may read a standby instead of the primary.

A node may be given a second database URL, ``TONGBAN_READ_DATABASE_URL``: a hot standby of
its PostgreSQL primary (streaming replication), or any copy that only ever lags. Readers that
tolerate some staleness read there, so the audit, proofs, read models and pages take no
connection from the primary that appends. Each reader states what it tolerates in
:data:`READERS`; :meth:`ReadLedgers.ledger` hands out the standby's ledger only when it
satisfies both:

- **lag**: the standby's replay lag (``now() - pg_last_xact_replay_timestamp()``, 0 when it has
  replayed everything it received) is at most the reader's ``max_lag_seconds``;
- **read-your-writes**: the standby holds at least ``min_index``, the ledger index the caller
  last saw in a receipt (a page right after an officer's own step passes that step's index,
  HTTP ``Tongban-Min-Index``): a standby that has not reached it is not read.

Otherwise, and whenever the standby cannot be reached, the primary's ledger is returned: a
reader never sees less than it asked for and never fails because the standby did. Nothing is
written through a standby's ledger (it is opened read-only; PostgreSQL refuses writes there).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.metrics import READS
from ledger.application import LedgerApplication
from ledger.errors import reason_of

__all__ = ["READERS", "ReadLedgers", "Staleness", "StandbyState", "standby_state"]

log = logging.getLogger("tongban.reads")


@dataclass(frozen=True)
class Staleness:
    """What one reader tolerates of a standby."""

    max_lag_seconds: float
    why: str


#: Every reader of the port and the staleness it tolerates (docs/operations.md, Read replicas).
READERS: dict[str, Staleness] = {
    # The audit states the tree size it verified; a lagging copy is audited up to its size.
    "audit": Staleness(3600.0, "reports the size it verified; rerun to cover newer objects"),
    # A proof names its tree size; callers ask for a size (min_index) the standby must hold.
    "proofs": Staleness(3600.0, "a proof is for a named tree size, passed as min_index"),
    # Listings and other read models: a case appended seconds ago may be missing.
    "read_models": Staleness(5.0, "listings may miss steps of the last few seconds"),
    # Pages and case reads: the officer's own step always shows (min_index), others' may lag.
    "pages": Staleness(2.0, "the caller's own steps show (min_index); others' within 2 s"),
}


@dataclass(frozen=True)
class StandbyState:
    """What the standby said when last asked."""

    max_index: int
    lag_seconds: float
    in_recovery: bool


_STATE_SQL = (
    "SELECT pg_is_in_recovery(), "
    "CASE WHEN NOT pg_is_in_recovery() "
    "OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


def standby_state(ledger: LedgerApplication) -> StandbyState:
    """Ask the database behind ``ledger`` how far it is (one connection from its pool)."""
    recorder: Any = ledger.recorder
    index = ledger.store.max_index()
    datastore = getattr(recorder, "datastore", None)
    if datastore is None:  # SQLite or memory: a file copy has no replay to lag behind
        return StandbyState(index, 0.0, False)
    with datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(_STATE_SQL)
        row = curs.fetchone()
    assert row is not None
    values = list(row.values()) if isinstance(row, dict) else list(row)
    return StandbyState(index, float(values[1]), bool(values[0]))


class ReadLedgers:
    """The primary's ledger and, when configured, a standby's; see the module docstring.

    ``open_standby`` is called at the first read that could use the standby (so a node whose
    standby is down still starts), again at most every ``retry_seconds`` after it failed.
    The standby's state is asked at most every ``state_seconds`` (a bounded extra query per
    request; 0: at every read).
    """

    def __init__(
        self,
        primary: LedgerApplication,
        open_standby: Callable[[], LedgerApplication] | None = None,
        *,
        state_seconds: float = 0.2,
        retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.primary = primary
        self._open_standby = open_standby
        self._standby: LedgerApplication | None = None
        self._state: StandbyState | None = None
        self._state_at = float("-inf")
        self._failed_at = float("-inf")
        self.state_seconds = state_seconds
        self.retry_seconds = retry_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self.served = {"standby": 0, "primary": 0}  # reads by where they went (for /metrics)

    @property
    def configured(self) -> bool:
        return self._open_standby is not None

    def ledger(self, reader: str, *, min_index: int = 0) -> LedgerApplication:
        """The ledger ``reader`` reads: the standby when it satisfies the reader (module
        docstring), else the primary. ``reader`` must be a key of :data:`READERS`."""
        tolerance = READERS[reader]
        chosen = self.primary
        found = self.state()
        if (
            found is not None
            and self._standby is not None
            and found.max_index >= min_index
            and found.lag_seconds <= tolerance.max_lag_seconds
        ):
            chosen = self._standby
        source = "standby" if chosen is not self.primary else "primary"
        with self._lock:
            self.served[source] += 1
        READS.labels(reader, source).inc()
        return chosen

    def state(self) -> StandbyState | None:
        """The standby's state, asked again once ``state_seconds`` passed; None when there is
        no standby or it cannot be reached now."""
        if self._open_standby is None:
            return None
        now = self.clock()
        with self._lock:
            if self._state is not None and now - self._state_at < self.state_seconds:
                return self._state
            if now - self._failed_at < self.retry_seconds:
                return None  # it failed a moment ago: no read waits on it again so soon
        try:
            standby = self._standby or self._open_standby()
            found = standby_state(standby)
        except Exception as error:  # a standby down never fails a read
            reason = reason_of(error)
            log.warning("the read standby cannot be read now (%s); reading the primary", reason)
            with self._lock:
                self._state = None
                self._failed_at = now
            return None
        with self._lock:
            self._standby = standby
            self._state = found
            self._state_at = now
            self._failed_at = float("-inf")
        return found

    def close(self) -> None:
        if self._standby is not None:
            self._standby.close()
            self._standby = None
