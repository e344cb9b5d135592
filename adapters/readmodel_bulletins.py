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
    LEG_COLUMNS,
    StoreParts,
    case_days_of,
    leg_of,
    rated_case_of,
)
from ledger.read_models import LEG_KIND, CaseDays, CaseLeg, RatedCase


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

    def bulletin_keys(self, last: date) -> list[tuple[str, str]]:
        day = last.isoformat()
        with self._tx() as cur:
            cur.execute(
                self._sql(f"SELECT DISTINCT body, item FROM {CASE_DAYS_TABLE} WHERE received <= ?"),
                (day,),
            )
            keys = {(str(row[0]), str(row[1])) for row in cur.fetchall()}
            # The legs' bodies: a window owes its check and mail (counted under its own row).
            cur.execute(
                self._sql(
                    f"SELECT DISTINCT d.body, k.item FROM readmodel_case_dated d "
                    f"JOIN {CASE_DAYS_TABLE} k ON k.case_id = d.case_id "
                    "WHERE d.kind = ? AND d.started <= ?"
                ),
                (LEG_KIND, day),
            )
            keys.update((str(row[0]), str(row[1])) for row in cur.fetchall())
        return sorted(keys)

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

    def month_legs(self, kind: str, first: date, last: date) -> list[tuple[CaseLeg, str]]:
        columns = f"SELECT {LEG_COLUMNS}, COALESCE(c.item, '') FROM readmodel_case_dated d "
        columns += "LEFT JOIN readmodel_cases c ON c.case_id = d.case_id WHERE d.kind = ? AND "
        legs = []
        with self._tx() as cur:
            for where, params in (
                ("d.closed = 0", ()),
                ("d.closed_on BETWEEN ? AND ?", (first.isoformat(), last.isoformat())),
            ):
                cur.execute(self._sql(columns + where), (kind, *params))
                legs += [(leg_of(row), str(row[-1])) for row in cur.fetchall()]
        return legs
