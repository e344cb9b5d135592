"""Ratings as the read models' rectifications: the ``case_rectifications`` projection's rows.

:class:`LedgerRectifications` is the :class:`~ledger.read_models.CaseRectifications` a node's
follower uses: a case's 差评 and its rectification stages (:func:`~ledger.ratings.stats.
case_ratings`, read from the case's own entries), counted on the calendars the registry holds
as the deadline legs' :class:`~ledger.supervision.projection.LedgerLegs` brought it up.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from ledger.persistence import LedgerEntry
from ledger.ratings.stats import CaseRatings, case_ratings
from ledger.read_models import Rectification
from ledger.supervision.projection import LedgerLegs

__all__ = ["LedgerRectifications", "rectification_of"]


class LedgerRectifications:
    """The rectifications of a ledger's cases; the registry is the legs engine's, so a
    calendar publication recounts both projections the same way."""

    def __init__(self, legs: LedgerLegs):
        self.legs = legs

    def prepare(self, entries: Sequence[LedgerEntry]) -> list[tuple[dt.date, dt.date]]:
        return self.legs.prepare(entries)

    def __call__(self, case_id: uuid.UUID) -> Rectification | None:
        registry = self.legs.current_registry()
        return rectification_of(case_ratings(self.legs.app, case_id, registry.calendars))


def rectification_of(ratings: CaseRatings) -> Rectification | None:
    """A case's rectification as stored, from its ratings (None: no 差评)."""
    if not ratings.poor or ratings.rated is None or ratings.level is None:
        return None
    return Rectification(
        ratings.case_id,
        ratings.item,
        ratings.rated_body or ratings.home_body,
        ratings.level,
        ratings.rated,
        ratings.rectification_closed,
        tuple(ratings.stages),
    )
