"""A legs function for tests: the deadline legs a test planned for each case, in the calendar
engine's place (``NodeServices(legs=...)``, ``api_node(legs=...)``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from ledger.persistence import LedgerEntry
from ledger.read_models import Leg


class PlannedLegs:
    """The legs a test planned for a case, none for the others."""

    def __init__(self) -> None:
        self.planned: dict[uuid.UUID, list[Leg]] = {}

    def prepare(self, entries: Sequence[LedgerEntry]) -> Sequence[tuple[date, date]]:
        return ()  # no calendar record changes a planned leg

    def __call__(self, case_id: uuid.UUID) -> Sequence[Leg]:
        return self.planned.get(case_id, [])
