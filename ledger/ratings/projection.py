"""Ratings as the read models' rows: the ``case_ratings`` projection.

:class:`LedgerRatings` is the :class:`~ledger.read_models.CaseRatingRows` a node's follower
uses: a case's days (received, first closed), its rating and a 差评's rectification stages
(:func:`~ledger.ratings.stats.case_ratings`, read from the case's own entries), counted on the
calendars the registry holds as the deadline legs'
:class:`~ledger.supervision.projection.LedgerLegs` brought it up.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from ledger.persistence import LedgerEntry
from ledger.ratings.stats import case_ratings, rating_rows_of
from ledger.read_models import RatingRows
from ledger.supervision.projection import LedgerLegs

__all__ = ["LedgerRatings"]


class LedgerRatings:
    """The ratings of a ledger's cases; the registry is the legs engine's, so a calendar
    publication recounts both projections the same way."""

    def __init__(self, legs: LedgerLegs):
        self.legs = legs

    def prepare(self, entries: Sequence[LedgerEntry]) -> list[tuple[dt.date, dt.date]]:
        return self.legs.prepare(entries)

    def __call__(self, case_id: uuid.UUID) -> RatingRows:
        registry = self.legs.current_registry()
        return rating_rows_of(case_ratings(self.legs.app, case_id, registry.calendars))
