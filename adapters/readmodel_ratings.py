"""The read-model store's ratings (好差评) and rectifications (差评整改), and every case's days:
the rows of the ``case_ratings`` projection (``readmodel_ratings``, ``readmodel_case_days``;
docs/read-models.md). A mixin of ``SqlReadModelStore``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import date

from eventsourcing.persistence import Tracking

from adapters.readmodel_rows import (
    CASE_DAYS_SCHEMA,
    CASE_DAYS_TABLE,
    RATED_COLUMNS,
    StoreParts,
    rated_case_of,
)
from adapters.sqlstore import SCHEMA_LOCK_SQL
from ledger.read_models import RATINGS, RatedCase, RatingRows


class RatingTables(StoreParts):
    """Ratings and case days (a mixin: ``_move`` is ``SqlReadModelStore``'s)."""

    def _move(self, cur: object, expected: int | None, tracking: Tracking) -> bool:
        raise NotImplementedError

    def _upgrade_case_days(self) -> None:
        """Every case's days came with ``readmodel_case_days``: a node that followed its
        ratings before has them only for cases changed since, so ``case_ratings`` is followed
        again from index 0 (its rows rewritten) when the table is made."""
        with self._tx() as cur:
            if self._p == "%s":
                cur.execute(SCHEMA_LOCK_SQL)
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", (CASE_DAYS_TABLE,))
            else:
                cur.execute(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                    (CASE_DAYS_TABLE,),
                )
            existed = bool(cur.fetchone()[0])
            for statement in CASE_DAYS_SCHEMA:
                cur.execute(statement)
            if not existed:
                cur.execute(
                    self._sql("UPDATE readmodel_tracking SET position = 0 WHERE projection = ?"),
                    (RATINGS,),
                )
                cur.execute("DELETE FROM readmodel_ratings")

    def save_ratings(
        self,
        expected: int,
        tracking: Tracking,
        ratings: Mapping[uuid.UUID, RatingRows],
    ) -> bool:
        with self._tx() as cur:
            if not self._move(cur, expected, tracking):
                return False
            ids = [case_id.hex for case_id in ratings]
            if not ids:
                return True
            cur.execute(f"DELETE FROM readmodel_ratings WHERE case_id IN ({self._in(ids)})", ids)
            cur.execute(f"DELETE FROM {CASE_DAYS_TABLE} WHERE case_id IN ({self._in(ids)})", ids)
            days = [rows.days for rows in ratings.values() if rows.days is not None]
            if days:
                cur.executemany(
                    self._sql(f"INSERT INTO {CASE_DAYS_TABLE} VALUES (?, ?, ?, ?, ?)"),
                    [
                        (
                            d.case_id.hex,
                            d.item,
                            d.body,
                            d.received.isoformat(),
                            None if d.closed is None else d.closed.isoformat(),
                        )
                        for d in days
                    ],
                )
            rated = [rows.rating for rows in ratings.values() if rows.rating is not None]
            if rated:
                cur.executemany(
                    self._sql("INSERT INTO readmodel_ratings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    [
                        (
                            r.case_id.hex,
                            r.item,
                            r.body,
                            r.level,
                            int(r.poor),
                            r.rated.isoformat(),
                            None if r.closed_on is None else r.closed_on.isoformat(),
                            r.reach.isoformat(),
                            json.dumps([s.as_dict() for s in r.stages], sort_keys=True),
                        )
                        for r in rated
                    ],
                )
            return True

    def ratings_of(self, body: str, as_of: date) -> list[RatedCase]:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {RATED_COLUMNS} FROM readmodel_ratings "
                    "WHERE body = ? AND rated <= ? ORDER BY rated, case_id"
                ),
                (body, as_of.isoformat()),
            )
            return [rated_case_of(row) for row in cur.fetchall()]

    def open_rectifications(
        self, as_of: date, *, bodies: Sequence[str] | None = None
    ) -> list[RatedCase]:
        if bodies is not None and not bodies:
            return []
        day = as_of.isoformat()
        where = ["poor = 1", "rated <= ?", "(closed_on IS NULL OR closed_on > ?)"]
        params = [day, day]
        if bodies is not None:
            where.append(f"body IN ({self._in(bodies)})")
            params += list(bodies)
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {RATED_COLUMNS} FROM readmodel_ratings "
                    f"WHERE {' AND '.join(where)} ORDER BY rated, case_id"
                ),
                params,
            )
            return [rated_case_of(row) for row in cur.fetchall()]

    def ratings_within(self, first: date, last: date) -> list[uuid.UUID]:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "SELECT case_id FROM readmodel_ratings "
                    "WHERE rated <= ? AND reach >= ? ORDER BY case_id"
                ),
                (last.isoformat(), first.isoformat()),
            )
            return [uuid.UUID(row[0]) for row in cur.fetchall()]
