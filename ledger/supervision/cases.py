"""Supervising a ledger: every case's legs, judged at an "as of" instant, and per-body and
per-item figures (``tongban supervise``; docs/supervision.md §5).

Reads signed facts only: the stored steps and their receipt times, the catalog version each
case pinned, the calendars the region's root published. A case whose pinned version the node
does not know is still supervised, with the service standard's limits.
"""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.application import LedgerApplication
from ledger.calendars import CalendarBook, china_date
from ledger.catalog import CatalogItem
from ledger.envelope import Envelope, parse_event
from ledger.errors import LedgerError
from ledger.keys import CatalogVersions
from ledger.persistence import LedgerEntry
from ledger.receipts import parse_receipt
from ledger.reports import StoredCase, reading_registry, stored_cases
from ledger.supervision.legs import Leg, StepFact, case_legs, judge, state_after
from ledger.supervision.time_limits import ServiceStandard, limits_for
from ledger.workflow import CaseState, advance, check_body

__all__ = [
    "CaseLegs",
    "FigureRow",
    "figures",
    "legs_of_entries",
    "supervise_ledger",
    "supervise_stored",
]

_WINDOW_LEGS = frozenset({"check", "mail"})


@dataclass(frozen=True)
class CaseLegs:
    """One case's legs (as a read model stores them) and who owes each."""

    case_id: str
    item: str
    state: str
    intake_body: str
    home_body: str
    jurisdiction: str
    legs: tuple[Leg, ...]

    def body_of(self, leg: Leg) -> str:
        """The body that owes the leg: the window its ``check`` and ``mail``, else home."""
        return self.intake_body if leg.name in _WINDOW_LEGS else self.home_body

    def judged(self, as_of: dt.date, books: CalendarBook) -> dict[str, Any]:
        """The JSON shape of ``tongban supervise cases``: each leg with status and flag."""
        calendar = books.for_place(self.item.split("/")[0], self.jurisdiction)
        legs = []
        for leg in self.legs:
            status, beyond = judge(leg, as_of, calendar)
            legs.append(
                {
                    **leg.to_dict(),
                    "body": self.body_of(leg),
                    "status": status,
                    "beyond_legal_limit": beyond,
                }
            )
        return {
            "case_id": self.case_id,
            "item": self.item,
            "state": self.state,
            "home_body": self.home_body,
            "jurisdiction": self.jurisdiction,
            "legs": legs,
        }


def _item(catalogs: CatalogVersions, version: str, key: str) -> CatalogItem | None:
    catalog = catalogs.get(version)
    return next((i for i in catalog.items if i.item_key == key), None) if catalog else None


def supervise_stored(
    cases: Iterable[StoredCase],
    catalogs: CatalogVersions,
    books: CalendarBook,
    standard: ServiceStandard,
    until: dt.date | None = None,
) -> list[CaseLegs]:
    """The legs of every stored case (pure over its inputs). With ``until`` (an "as of" date
    in the past), only the steps received by the end of that China date count: the ledger as
    it stood then; cases opened later are left out."""
    result = []
    for case in cases:
        flow = case.flow
        item = _item(catalogs, flow.catalog_version, flow.item)
        facts = [
            StepFact(envelope.seq, step, received_at, envelope.body)
            for envelope, step, received_at in case.steps
            if until is None or china_date(received_at) <= until
        ]
        if not facts:
            continue
        legs = case_legs(
            facts,
            channel=flow.channel,
            coordination=flow.coordination,
            limits=limits_for(item, flow.coordination, standard),
            calendar=books.for_place(flow.item.split("/")[0], flow.jurisdiction),
        )
        result.append(
            CaseLegs(
                str(case.case_id),
                flow.item,
                state_after(facts, channel=flow.channel, coordination=flow.coordination),
                flow.intake_body,
                flow.home_body,
                flow.jurisdiction,
                tuple(legs),
            )
        )
    return result


def legs_of_entries(
    case_id: uuid.UUID,
    entries: Sequence[LedgerEntry],
    catalogs: CatalogVersions,
    books: CalendarBook,
    standard: ServiceStandard | None = None,
) -> CaseLegs | None:
    """One case's legs from its entries (exact signed bytes and receipts, in seq order, as
    ``LedgerApplication.entries_after`` gives them), as a projection following the ledger
    index holds them; None when they open no case."""
    steps: list[tuple[Envelope, str, int]] = []
    flow = CaseState()
    for entry in entries:
        envelope = parse_event(entry.envelope)
        try:
            step = check_body(envelope.type, envelope.body)
        except LedgerError:
            step = envelope.type  # a step the rules refuse changes no leg
        steps.append((envelope, step, parse_receipt(entry.receipt).time))
        flow = advance(flow, envelope)
    if not flow.item:
        return None
    stored = StoredCase(case_id, tuple(steps), flow)
    (legs,) = supervise_stored([stored], catalogs, books, standard or ServiceStandard())
    return legs


def supervise_ledger(
    app: LedgerApplication,
    standard: ServiceStandard | None = None,
    until: dt.date | None = None,
) -> tuple[list[CaseLegs], CalendarBook]:
    """Every case of a ledger with its legs, and the calendars they were counted with
    (``until``: see :func:`supervise_stored`)."""
    registry = reading_registry(app)
    cases = supervise_stored(
        stored_cases(app),
        registry.catalogs,
        registry.calendars,
        standard or ServiceStandard(),
        until,
    )
    return cases, registry.calendars


@dataclass(frozen=True)
class FigureRow:
    """Per body or per item: how its legs went (docs/supervision.md §5)."""

    key: str
    legs_closed: int
    closed_on_time: int
    median_handling_days: float | None  # working days, decision legs closed
    overdue_now: int  # open legs overdue at "as of"
    open_legs: int

    @property
    def on_time_rate(self) -> float | None:
        return self.closed_on_time / self.legs_closed if self.legs_closed else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "legs_closed": self.legs_closed,
            "closed_on_time": self.closed_on_time,
            "on_time_rate": self.on_time_rate,
            "median_handling_days": self.median_handling_days,
            "overdue_now": self.overdue_now,
            "open_legs": self.open_legs,
        }


def figures(
    cases: Iterable[CaseLegs], as_of: dt.date, books: CalendarBook, *, by: str
) -> list[FigureRow]:
    """Per ``by`` (``body``: the body owing each leg; ``item``): on-time rate of closed legs,
    median working days of closed decision legs (pauses excluded), legs overdue now."""
    tallies: dict[str, dict[str, Any]] = {}
    for case in cases:
        calendar = books.for_place(case.item.split("/")[0], case.jurisdiction)
        for leg in case.legs:
            key = case.body_of(leg) if by == "body" else case.item
            tally = tallies.setdefault(key, {"closed": 0, "on_time": 0, "days": [], "over": 0})
            tally.setdefault("open", 0)
            status, _ = judge(leg, as_of, calendar)
            if leg.closed is not None:
                tally["closed"] += 1
                tally["on_time"] += status == "closed_on_time"
                days = leg.handling_days(calendar)
                if days is not None:
                    tally["days"].append(days)
            else:
                tally["open"] += 1
                tally["over"] += status == "overdue"
    return [
        FigureRow(
            key,
            t["closed"],
            t["on_time"],
            float(statistics.median(t["days"])) if t["days"] else None,
            t["over"],
            t["open"],
        )
        for key, t in sorted(tallies.items())
    ]


def as_of_date(moment: int) -> dt.date:
    """The China date of an "as of" instant (microseconds)."""
    return china_date(moment)
