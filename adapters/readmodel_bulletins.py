"""Kept bulletins: the monthly bulletin (定期通报) of a finished month, made from the ledger once
per registry and kept beside the read models (``readmodel_bulletins``;
``adapters.supervision.bulletin_for`` decides when one is kept and when it is made again).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any


class KeptBulletins:
    """The read-model store's kept bulletins (a mixin of ``SqlReadModelStore``: its
    transaction and placeholders)."""

    def _tx(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _sql(self, statement: str) -> str:
        raise NotImplementedError

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
