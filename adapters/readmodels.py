"""The read-model store (``ledger.read_models.ReadModelStore``) on SQLite or PostgreSQL.

Tables (all derived from the ledger, dropped and rebuilt at will):

- ``readmodel_tracking``: one row per projection, the ledger index it has processed (moved by
  compare-and-set in the transaction that writes the projection's rows);
- ``readmodel_cases``: a case summary per case, keyed by case id, ordered by ``opened_index``
  (the ledger index of its first step: a key that stays put as cases are added);
- ``readmodel_case_parties``: one row per (party, case), with the case's state and item copied,
  so a body's page is a range read of an index;
- ``readmodel_case_counts``: matching cases per (party, state, item), ``''`` standing for
  "any": a listing's total is one row read, whatever the ledger's size;
- ``readmodel_ratings``: a rated case's rating and a 差评's rectification (``case_ratings``);
- ``readmodel_bulletins``: the monthly bulletin of a finished month, as made from the ledger
  on a registry (``made_on``), so a bulletin is replayed once, not per request;
- ``readmodel_case_dated``: generic per-case dated rows (``kind``: ``leg`` for the deadline
  legs), indexed by (kind, closed, deadline) and (kind, body, closed, deadline), so "overdue as
  of D" is a range read of stored deadline dates; ``reach`` (the last date a row was counted
  through) finds the cases a newly published calendar year changes. A table of an older
  version (without ``reach``) is dropped and its projection rebuilt from index 0 on opening.

Dates are ISO text (``YYYY-MM-DD``, ordered as text on both databases). An SQLite node keeps
these tables in ``readmodels.sqlite3`` in its data directory; a PostgreSQL one in its schema.
"""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder

from adapters.readmodel_awaiting import AwaitedCases
from adapters.readmodel_bulletins import KeptBulletins
from adapters.readmodel_ratings import RatingTables
from adapters.readmodel_rows import (
    CASE_DAYS_TABLE,
    DATED_CLOSED_INDEX,
    DATED_COLUMNS,
    DATED_SCHEMA,
    LEG_COLUMNS,
    SCHEMA,
    DatedTally,
    leg_of,
    summary_of_row,
)
from adapters.sqlstore import SCHEMA_LOCK_SQL, Connect, SqlStore, connector_for, sqlite_connector
from ledger.case_listing import CaseQuery, CaseSummary
from ledger.errors import UnknownCase
from ledger.read_models import (
    DEADLINES,
    RATINGS,
    SUMMARIES,
    CaseLeg,
    Leg,
    ProjectedCase,
)

READ_MODEL_FILE = "readmodels.sqlite3"
NO_LIMIT = 2**62
ANY = ""  # a count row's "any party / state / item"


class ReadModelStoreError(Exception):
    pass


_CASE_COLUMNS = "c.case_id, c.state, c.item, c.channel, c.home_body, c.intake_body, c.steps"


def _count_keys(parties: Iterable[str], state: str, item: str) -> set[tuple[str, str, str]]:
    """Every count row a case adds one to: each of its parties or any, its state or any, its
    item or any."""
    return {(p, s, i) for p in (*parties, ANY) for s in (state, ANY) for i in (item, ANY)}


class SqlReadModelStore(SqlStore, KeptBulletins, RatingTables, AwaitedCases, TrackingRecorder):
    """:class:`~ledger.read_models.ReadModelStore` on SQLite or PostgreSQL (``SqlStore``)."""

    schema = SCHEMA + DATED_SCHEMA
    error = ReadModelStoreError

    def __init__(self, connect: Connect, placeholder: str):
        SqlStore.__init__(self, connect, placeholder)
        self._upgrade_dated()
        self._upgrade_case_days()

    def _upgrade_dated(self) -> None:
        """Derived data has no migration: a dated-rows table of an older shape is dropped and
        its projection set back to index 0, so the follower rebuilds it."""
        with self._tx() as cur:
            if self._p == "%s":
                cur.execute(SCHEMA_LOCK_SQL)
            cur.execute("SELECT * FROM readmodel_case_dated LIMIT 0")
            if len(cur.description) != DATED_COLUMNS:
                cur.execute("DROP TABLE readmodel_case_dated")
                cur.execute(
                    self._sql("UPDATE readmodel_tracking SET position = 0 WHERE projection = ?"),
                    (DEADLINES,),
                )
                for statement in DATED_SCHEMA:
                    cur.execute(statement)
            cur.execute(DATED_CLOSED_INDEX)

    # -- tracking (eventsourcing's TrackingRecorder, notification id = ledger index) --------

    def position(self, projection: str) -> int:
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT position FROM readmodel_tracking WHERE projection = ?"),
                (projection,),
            )
            row = cur.fetchone()
        return 0 if row is None else int(row[0])

    def positions(self, projections: Sequence[str]) -> dict[str, int]:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "SELECT projection, position FROM readmodel_tracking "
                    f"WHERE projection IN ({self._in(projections)})"
                ),
                list(projections),
            )
            found = {str(row[0]): int(row[1]) for row in cur.fetchall()}
        return {name: found.get(name, 0) for name in projections}

    def max_tracking_id(self, application_name: str) -> int | None:
        return self.position(application_name) or None

    def insert_tracking(self, tracking: Tracking) -> None:
        with self._tx() as cur:
            self._move(cur, None, tracking)

    def _move(self, cur: Any, expected: int | None, tracking: Tracking) -> bool:
        # The first statement of the transaction is this write: SQLite takes its write lock
        # here (waiting its busy timeout), PostgreSQL locks the row, so two writers of one
        # batch serialize and the second finds the position moved.
        where = "" if expected is None else " AND position = ?"
        params: tuple[Any, ...] = (tracking.notification_id, tracking.application_name)
        cur.execute(
            self._sql(f"UPDATE readmodel_tracking SET position = ? WHERE projection = ?{where}"),
            params if expected is None else (*params, expected),
        )
        if cur.rowcount == 1:
            return True
        if expected is None or expected == 0:
            cur.execute(
                self._sql("INSERT INTO readmodel_tracking VALUES (?, ?) ON CONFLICT DO NOTHING"),
                (tracking.application_name, tracking.notification_id),
            )
            return bool(cur.rowcount == 1)
        return False

    def reset(self, projection: str) -> None:
        with self._tx() as cur:
            cur.execute(
                self._sql("UPDATE readmodel_tracking SET position = 0 WHERE projection = ?"),
                (projection,),
            )
            if projection == SUMMARIES:
                for table in ("readmodel_cases", "readmodel_case_parties", "readmodel_case_counts"):
                    cur.execute(f"DELETE FROM {table}")
            elif projection == DEADLINES:
                cur.execute("DELETE FROM readmodel_case_dated")
            elif projection == RATINGS:
                cur.execute("DELETE FROM readmodel_ratings")
                cur.execute(f"DELETE FROM {CASE_DAYS_TABLE}")

    def _in(self, values: Sequence[str]) -> str:
        return ", ".join(self._p for _ in values) or "NULL"

    # -- case summaries --------------------------------------------------------------------

    def save_summaries(
        self, expected: int, tracking: Tracking, cases: Sequence[ProjectedCase]
    ) -> bool:
        with self._tx() as cur:
            if not self._move(cur, expected, tracking):
                return False
            if cases:
                self._write_summaries(cur, cases)
            return True

    def _write_summaries(self, cur: Any, cases: Sequence[ProjectedCase]) -> None:
        ids = [c.summary.case_id.hex for c in cases]
        marks = self._in(ids)
        cur.execute(
            f"SELECT case_id, opened_index, state, item FROM readmodel_cases "
            f"WHERE case_id IN ({marks})",
            ids,
        )
        old = {row[0]: (int(row[1]), row[2], row[3]) for row in cur.fetchall()}
        cur.execute(
            f"SELECT case_id, party FROM readmodel_case_parties WHERE case_id IN ({marks})", ids
        )
        old_parties: dict[str, list[str]] = {}
        for case_id, party in cur.fetchall():
            old_parties.setdefault(case_id, []).append(party)
        counts: Counter[tuple[str, str, str]] = Counter()
        for case_id, (_, state, item) in old.items():
            counts.subtract(_count_keys(old_parties.get(case_id, ()), state, item))
        rows, party_rows = [], []
        for projected in cases:
            s, key = projected.summary, projected.summary.case_id.hex
            opened = old[key][0] if key in old else projected.opened_index
            if opened is None:  # ledger order guarantees a case's first step came first
                raise ReadModelStoreError(f"case {s.case_id}: no opening index")
            rows.append(
                (key, opened, s.state, s.item, s.channel, s.home_body, s.intake_body, s.steps)
            )
            party_rows += [(p, key, opened, s.state, s.item) for p in sorted(s.parties)]
            counts.update(_count_keys(s.parties, s.state, s.item))
        cur.executemany(
            self._sql(
                "INSERT INTO readmodel_cases VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (case_id) DO UPDATE SET state = excluded.state, "
                "item = excluded.item, channel = excluded.channel, "
                "home_body = excluded.home_body, intake_body = excluded.intake_body, "
                "steps = excluded.steps"
            ),
            rows,
        )
        cur.execute(f"DELETE FROM readmodel_case_parties WHERE case_id IN ({marks})", ids)
        cur.executemany(
            self._sql("INSERT INTO readmodel_case_parties VALUES (?, ?, ?, ?, ?)"), party_rows
        )
        changed = sorted((key, n) for key, n in counts.items() if n)
        cur.executemany(
            self._sql(
                "INSERT INTO readmodel_case_counts VALUES (?, ?, ?, ?) "
                "ON CONFLICT (party, state, item) DO UPDATE "
                "SET n = readmodel_case_counts.n + excluded.n"
            ),
            [(*key, n) for key, n in changed],
        )

    def _opened_index(self, cur: Any, case_id: uuid.UUID) -> int:
        cur.execute(
            self._sql("SELECT opened_index FROM readmodel_cases WHERE case_id = ?"),
            (case_id.hex,),
        )
        row = cur.fetchone()
        if row is None:
            raise UnknownCase(f"no case {case_id} in this listing", field="after")
        return int(row[0])

    def list_summaries(self, query: CaseQuery) -> tuple[list[CaseSummary], int]:
        where: list[str] = []
        params: list[Any] = []
        with self._tx() as cur:
            # Filters on the parties table when a body is named (its copies of state and item
            # keep the page one index range), else on the cases table.
            table = "c"
            source = "readmodel_cases c"
            if query.body is not None:
                table = "p"
                source = "readmodel_case_parties p JOIN readmodel_cases c ON c.case_id = p.case_id"
                where.append("p.party = ?")
                params.append(query.body)
            for column, value in (("state", query.state), ("item", query.item)):
                if value is not None:
                    where.append(f"{table}.{column} = ?")
                    params.append(value)
            if query.after is not None:
                where.append(f"{table}.opened_index > ?")
                params.append(self._opened_index(cur, query.after))
            limit = NO_LIMIT if query.limit is None else query.limit
            cur.execute(
                self._sql(
                    f"SELECT {_CASE_COLUMNS} FROM {source} "
                    f"{'WHERE ' + ' AND '.join(where) if where else ''} "
                    f"ORDER BY {table}.opened_index LIMIT ? OFFSET ?"
                ),
                (*params, limit, query.offset),
            )
            page = cur.fetchall()
            ids = [row[0] for row in page]
            cur.execute(
                f"SELECT case_id, party FROM readmodel_case_parties WHERE case_id IN "
                f"({self._in(ids)})",
                ids,
            )
            parties: dict[str, set[str]] = {}
            for case_id, party in cur.fetchall():
                parties.setdefault(case_id, set()).add(party)
            cur.execute(
                self._sql(
                    "SELECT n FROM readmodel_case_counts WHERE party = ? AND state = ? AND item = ?"
                ),
                (query.body or ANY, query.state or ANY, query.item or ANY),
            )
            found = cur.fetchone()
        summaries = [summary_of_row(row, frozenset(parties.get(row[0], ()))) for row in page]
        return summaries, 0 if found is None else int(found[0])

    # -- dated rows (deadline legs) ----------------------------------------------------------

    def save_legs(
        self,
        expected: int,
        tracking: Tracking,
        kind: str,
        legs: Mapping[uuid.UUID, Sequence[Leg]],
    ) -> bool:
        with self._tx() as cur:
            if not self._move(cur, expected, tracking):
                return False
            ids = [case_id.hex for case_id in legs]
            if not ids:
                return True
            cur.execute(
                self._sql(
                    f"DELETE FROM readmodel_case_dated WHERE kind = ? AND case_id IN "
                    f"({', '.join('?' for _ in ids)})"
                ),
                (kind, *ids),
            )
            cur.executemany(
                self._sql(
                    "INSERT INTO readmodel_case_dated VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                [
                    (
                        kind,
                        case_id.hex,
                        leg.name,
                        leg.body,
                        leg.started.isoformat(),
                        None if leg.deadline is None else leg.deadline.isoformat(),
                        leg.working_days_allowed,
                        leg.working_days_paused,
                        int(leg.closed),
                        int(leg.provisional),
                        (leg.reach or leg.started).isoformat(),
                        None if leg.closed_on is None else leg.closed_on.isoformat(),
                        None if leg.on_time is None else int(leg.on_time),
                        leg.handling_days,
                    )
                    for case_id, case_legs in legs.items()
                    for leg in case_legs
                ],
            )
            return True

    def deadlines_between(
        self,
        kind: str,
        *,
        after: date | None,
        until: date,
        body: str | None = None,
        limit: int = 100,
    ) -> list[CaseLeg]:
        where = ["kind = ?", "closed = 0", "deadline <= ?"]
        params: list[Any] = [kind, until.isoformat()]
        if body is not None:
            where.insert(1, "body = ?")
            params.insert(1, body)
        if after is not None:
            where.append("deadline > ?")
            params.append(after.isoformat())
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {LEG_COLUMNS} FROM readmodel_case_dated d "
                    f"WHERE {' AND '.join(where)} "
                    "ORDER BY deadline, case_id, name LIMIT ?"
                ),
                (*params, limit),
            )
            rows = cur.fetchall()
        return [leg_of(row) for row in rows]

    # -- supervision queries (docs/supervision.md §7): reads only, the rows stay as written --

    def dated_rows(
        self,
        kind: str,
        *,
        after: date | None = None,
        until: date | None = None,
        bodies: Sequence[str] | None = None,
        item: str | None = None,
        party: str | None = None,
        open_only: bool = True,
        after_row: tuple[date, uuid.UUID, str] | None = None,
        limit: int = 100,
    ) -> list[tuple[CaseLeg, str]]:
        """``kind`` rows with the item of their case (``''`` when the case summary is not
        there yet), earliest deadline first (rows without one last): open ones only unless
        ``open_only`` is False; deadline in ``(after, until]`` when given; of ``bodies`` only
        (an empty list: none); of ``item``; of the cases ``party`` is on; after the row
        ``after_row`` = (deadline, case, name) in that order (a page's last row: the next page)."""
        if bodies is not None and not bodies:
            return []
        where = ["d.kind = ?"]
        params: list[Any] = [kind]
        if open_only:
            where.append("d.closed = 0")
        if until is not None:
            where.append("d.deadline <= ?")
            params.append(until.isoformat())
        if after is not None:
            where.append("d.deadline > ?")
            params.append(after.isoformat())
        if bodies is not None:
            where.append(f"d.body IN ({self._in(bodies)})")
            params += list(bodies)
        if item is not None:
            where.append("c.item = ?")
            params.append(item)
        if after_row is not None:
            day, case_id, name = after_row
            where.append(
                "(d.deadline IS NULL OR d.deadline > ? OR (d.deadline = ? AND "
                "(d.case_id > ? OR (d.case_id = ? AND d.name > ?))))"
            )
            params += [day.isoformat(), day.isoformat(), case_id.hex, case_id.hex, name]
        if party is not None:
            where.append(
                "d.case_id IN (SELECT p.case_id FROM readmodel_case_parties p WHERE p.party = ?)"
            )
            params.append(party)
        # Bounded by deadline, no row lacks one: ordered by the index alone (the NULLs-last
        # term made SQLite sort every open leg of the body first, 260 ms on 1,000,000 events).
        order = "d.deadline, d.case_id, d.name"
        if until is None and after is None:
            order = "d.deadline IS NULL, " + order
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {LEG_COLUMNS}, COALESCE(c.item, '') "
                    "FROM readmodel_case_dated d LEFT JOIN readmodel_cases c "
                    f"ON c.case_id = d.case_id WHERE {' AND '.join(where)} "
                    f"ORDER BY {order} LIMIT ?"
                ),
                (*params, limit),
            )
            rows = cur.fetchall()
        return [(leg_of(row), row[13]) for row in rows]

    def dated_tallies(
        self, kind: str, *, as_of: date, by: str, bodies: Sequence[str] | None = None
    ) -> dict[str, DatedTally]:
        """Per body (``by="body"``) or per item (``"item"``): the :class:`DatedTally` of the
        ``kind`` rows (of ``bodies`` only when given), overdue judged at ``as_of``."""
        if by not in ("body", "item"):
            raise ValueError("by is body or item")
        if bodies is not None and not bodies:
            return {}
        key = "d.body" if by == "body" else "COALESCE(c.item, '')"
        where, params = ["d.kind = ?"], [kind]
        if bodies is not None:
            where.append(f"d.body IN ({self._in(bodies)})")
            params += list(bodies)
        rows_from = (
            "FROM readmodel_case_dated d LEFT JOIN readmodel_cases c ON c.case_id = d.case_id "
            f"WHERE {' AND '.join(where)}"
        )
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {key}, SUM(1 - d.closed), "
                    "SUM(CASE WHEN d.closed = 0 AND d.deadline < ? THEN 1 ELSE 0 END), "
                    "SUM(d.closed), SUM(CASE WHEN d.on_time = 1 THEN 1 ELSE 0 END) "
                    f"{rows_from} GROUP BY {key}"
                ),
                [as_of.isoformat(), *params],
            )
            counts = cur.fetchall()
            # The median needs the values; only closed decision legs carry them.
            cur.execute(
                self._sql(
                    f"SELECT {key}, d.handling_days {rows_from} AND d.handling_days IS NOT NULL"
                ),
                params,
            )
            days: dict[str, list[int]] = {}
            for group, value in cur.fetchall():
                days.setdefault(group, []).append(int(value))
        return {
            row[0]: DatedTally(
                int(row[1]),
                int(row[2]),
                int(row[3]),
                int(row[4]),
                float(statistics.median(days[row[0]])) if row[0] in days else None,
            )
            for row in counts
        }

    def cases_dated_within(self, kind: str, first: date, last: date) -> list[uuid.UUID]:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "SELECT DISTINCT case_id FROM readmodel_case_dated "
                    "WHERE kind = ? AND started <= ? AND reach >= ? ORDER BY case_id"
                ),
                (kind, last.isoformat(), first.isoformat()),
            )
            return [uuid.UUID(row[0]) for row in cur.fetchall()]


def open_read_models(
    database_url: str, data_dir: Path, *, schema: str | None = None
) -> SqlReadModelStore:
    """The read-model store beside the ledger: ``readmodels.sqlite3`` in the data directory,
    or the node's PostgreSQL schema."""
    return SqlReadModelStore(*connector_for(database_url, data_dir, READ_MODEL_FILE, schema=schema))


def memory_read_models(path: Path) -> SqlReadModelStore:
    """A scratch store in ``path`` (a reader of a read-only snapshot builds one of its own)."""
    return SqlReadModelStore(sqlite_connector(path), "?")
