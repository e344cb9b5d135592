"""The monthly bulletin (定期通报) beside the read models (``adapters.supervision.bulletin_for``
decides which is used):

- kept bulletins: a finished month's, made from the ledger once per calendar and catalog it
  counted on (``readmodel_bulletins``);
- the rows the bulletin of the month under way counts (``ledger.ratings.stats.
  bulletin_of_read_models``): cases, ratings and legs of the month, and the rows' keys.
"""

from __future__ import annotations

from datetime import date

from adapters.readmodel_rows import (
    CASE_DAYS_TABLE,
    DAYS_AND_RATING_COLUMNS,
    StoreParts,
    case_days_of,
    rated_case_of,
)
from ledger.read_models import CaseDays, MonthLeg, RatedCase


class KeptBulletins(StoreParts):
    """The read-model store's bulletins (a mixin of ``SqlReadModelStore``)."""

    def kept_bulletin(self, month: str, made_on: str) -> str | None:
        """The bulletin of ``month`` kept when made on ``made_on`` (None: none, or another)."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "SELECT document FROM readmodel_bulletins WHERE month = ? AND made_on = ?"
                ),
                (month, made_on),
            )
            row = cur.fetchone()
        return None if row is None else str(row[0])

    def keep_bulletin(self, month: str, made_on: str, document: str) -> None:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO readmodel_bulletins VALUES (?, ?, ?) ON CONFLICT (month) "
                    "DO UPDATE SET made_on = excluded.made_on, document = excluded.document"
                ),
                (month, made_on, document),
            )

    def month_cases(self, first: date, last: date) -> list[tuple[CaseDays, RatedCase | None]]:
        start, end = first.isoformat(), last.isoformat()
        joined = (
            f"SELECT {DAYS_AND_RATING_COLUMNS} FROM {CASE_DAYS_TABLE} k "
            "LEFT JOIN readmodel_ratings r ON r.case_id = k.case_id WHERE "
        )
        # Each an index range: received in the month, closed in it, rated in it, a 差评's
        # rectification open on its first day or since (its stages may end in it).
        wheres = (
            ("k.received BETWEEN ? AND ?", (start, end)),
            ("k.closed BETWEEN ? AND ?", (start, end)),
            ("r.rated BETWEEN ? AND ?", (start, end)),
            ("r.poor = 1 AND r.closed_on IS NULL AND r.rated <= ?", (end,)),
            ("r.poor = 1 AND r.closed_on >= ? AND r.rated <= ?", (start, end)),
        )
        found: dict[str, tuple[CaseDays, RatedCase | None]] = {}
        with self._tx() as cur:
            for where, params in wheres:
                cur.execute(self._sql(joined + where), params)
                for row in cur.fetchall():
                    if row[0] not in found:
                        rating = None if row[5] is None else rated_case_of(row[5:])
                        found[row[0]] = (case_days_of(row), rating)
        return [found[case_id] for case_id in sorted(found)]

    def month_legs(self, kind: str, first: date, last: date) -> list[MonthLeg]:
        columns = (
            "SELECT d.body, COALESCE(c.item, ''), d.deadline, d.closed, d.closed_on, d.on_time, "
            "d.handling_days, d.provisional FROM readmodel_case_dated d "
            "LEFT JOIN readmodel_cases c ON c.case_id = d.case_id WHERE d.kind = ? AND "
        )
        day = date.fromisoformat
        legs = []
        with self._tx() as cur:
            for where, params in (
                ("d.closed = 0", ()),
                ("d.closed_on BETWEEN ? AND ?", (first.isoformat(), last.isoformat())),
            ):
                cur.execute(self._sql(columns + where), (kind, *params))
                legs += [
                    MonthLeg(
                        row[0],
                        row[1],
                        None if row[2] is None else day(row[2]),
                        bool(row[3]),
                        None if row[4] is None else day(row[4]),
                        None if row[5] is None else bool(row[5]),
                        row[6],
                        bool(row[7]),
                    )
                    for row in cur.fetchall()
                ]
        return legs
