"""The calendar engine as the read models' legs: a case's stored rows of ``case_deadlines``.

:class:`LedgerLegs` is the :class:`~ledger.read_models.CaseLegs` a node's
:class:`~ledger.read_models.LedgerFollower` uses: per batch of ledger entries it brings the
registry (the signed catalog versions and published calendars) up to at least that batch and
says which calendar years the batch (re)published; per case it reads the case's own entries
(exact bytes and receipts, one index range read, never the whole ledger) and gives the engine's legs
(:func:`~ledger.supervision.cases.legs_of_entries`) as dated rows (docs/read-models.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from ledger.application import LedgerApplication
from ledger.calendars import CalendarBook
from ledger.errors import LedgerError
from ledger.keys import KeyRegistry, parse_key_record, registry_stream_id
from ledger.persistence import LedgerEntry
from ledger.read_models import Leg as Row
from ledger.reports import reading_registry
from ledger.supervision.cases import CaseLegs, legs_of_entries
from ledger.supervision.legs import Leg
from ledger.supervision.time_limits import ServiceStandard

__all__ = ["LedgerLegs", "rows_of"]

CALENDAR_PUBLISHED = "calendar_published"


def _reach(leg: Leg) -> dt.date:
    """The last date any stored value of the leg was counted through: its deadlines, its
    pauses, its closing or pausing date (a calendar change after it changes nothing stored)."""
    dates = [leg.started, leg.deadline]
    dates += [d for d in (leg.legal_deadline, leg.closed, leg.paused_since) if d is not None]
    dates += [through for _, through in leg.pauses]
    return max(dates)


def rows_of(case: CaseLegs, books: CalendarBook) -> tuple[Row, ...]:
    """A case's legs as ``case_deadlines`` rows. A name taken again (a second ``acceptance``
    after a supplement round, a reopened ``decision``) is stored as ``name#2``, ``name#3``…
    A leg paused since before its deadline has no stored deadline (NULL): its clock stands
    still, so it is neither overdue nor due soon until it resumes (as
    :func:`~ledger.supervision.legs.judge` has it). One paused on its deadline day or after
    keeps it: the pause excludes only the days after the pausing step's, so no working day is
    left and it is overdue from the next day, paused or not, as ``judge`` says."""
    rows: list[Row] = []
    seen: dict[str, int] = {}
    calendar = books.for_place(case.item.split("/")[0], case.jurisdiction)
    for leg in case.legs:
        seen[leg.name] = seen.get(leg.name, 0) + 1
        name = leg.name if seen[leg.name] == 1 else f"{leg.name}#{seen[leg.name]}"
        rows.append(
            Row(
                name=name,
                started=leg.started,
                deadline=None if leg.stands_still else leg.deadline,
                working_days_allowed=leg.working_days_allowed,
                working_days_paused=leg.working_days_paused,
                closed=leg.closed is not None,
                body=case.body_of(leg),
                provisional=leg.provisional,
                reach=_reach(leg),
                closed_on=leg.closed,
                on_time=None if leg.closed is None else leg.closed <= leg.deadline,
                handling_days=leg.handling_days(calendar),
            )
        )
    return tuple(rows)


class LedgerLegs:
    """The deadline legs of a ledger's cases, for the ``case_deadlines`` projection.

    A node that writes (it has a node key) refreshes its own registry per batch (one indexed
    read of the registry streams); a read-only reader (an auditor's snapshot) uses the registry
    rebuilt as the audit does, rebuilt again only when a batch brings registry records it was
    not built with.
    """

    def __init__(self, app: LedgerApplication, standard: ServiceStandard | None = None):
        self.app = app
        self.standard = standard or ServiceStandard()
        self._streams = frozenset(registry_stream_id(r) for r in app.trusted_roots)
        self._audited: KeyRegistry | None = None
        self._audited_head = 0
        self.registry: KeyRegistry | None = None  # as :meth:`prepare` brought it up

    def _registry(self, entries: Sequence[LedgerEntry]) -> KeyRegistry:
        if self.app.node_signer is not None:
            self.app.refresh_registry()
            return self.app.registry
        newer = any(e.stream_id in self._streams and e.index > self._audited_head for e in entries)
        if self._audited is None or newer:
            self._audited_head = self.app.store.max_index()
            self._audited = reading_registry(self.app)
        return self._audited

    def current_registry(self) -> KeyRegistry:
        """The registry :meth:`prepare` brought up (read now if no batch was prepared yet)."""
        return self.registry or self._registry(())

    def prepare(self, entries: Sequence[LedgerEntry]) -> list[tuple[dt.date, dt.date]]:
        """Bring the registry up to at least ``entries`` (a batch); the spans (first and last
        day of a year) whose calendar a record among them published or replaced."""
        self.registry = self._registry(entries)
        spans = []
        for entry in entries:
            if entry.stream_id not in self._streams:
                continue
            try:
                record = parse_key_record(entry.envelope)
            except LedgerError:  # a bad record changes no calendar (the audit reports it)
                continue
            year = record.body.get("year")
            if record.type == CALENDAR_PUBLISHED and isinstance(year, int) and 1 <= year <= 9999:
                spans.append((dt.date(year, 1, 1), dt.date(year, 12, 31)))
        return spans

    def __call__(self, case_id: uuid.UUID) -> Sequence[Row]:
        """The case's rows, from its own entries as they stand now (at least as new as the
        batch :meth:`prepare` was given)."""
        registry = self.current_registry()
        case = legs_of_entries(
            case_id,
            self.app.stream_entries(case_id),
            registry.catalogs,
            registry.calendars,
            self.standard,
        )
        return () if case is None else rows_of(case, registry.calendars)
