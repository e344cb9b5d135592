"""Supervision over a node's read models: which bodies a supervisor's scope covers, each body's
working days, the rows a scheduler watches, and one scan of them into the alert feed
(docs/supervision.md §7).

Legs come from the read models (``readmodel_case_dated``, kind ``leg``: the rows the calendar
engine's legs function wrote), never from replaying cases. Rectification stages are read with
``ledger.ratings.stats.all_case_ratings``, as ``GET /bodies/{id}/ratings`` does: the read models
keep no rectification rows yet.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ledger.calendars import WorkingCalendar
from ledger.ratings.stats import all_case_ratings
from ledger.read_models import LEG_KIND
from ledger.supervision.watch import DUE_SOON_HORIZON, Alert, Watched, alerts_due, scope_covers

if TYPE_CHECKING:
    from adapters.bootstrap import NodeServices
    from adapters.readmodels import SqlReadModelStore

SCAN_PAGE = 1000  # rows per read of the dated rows while scanning


def body_divisions(node: NodeServices) -> dict[str, str]:
    """Every registered body of this node's region and its GB/T 2260 division (the region's
    code for a body registered without one)."""
    node.ledger.refresh_registry()
    region = node.settings.region
    return {
        body_id: str(info.org.get("division") or info.region)
        for body_id, info in node.ledger.registry.bodies.items()
        if info.region == region
    }


def bodies_in_scope(node: NodeServices, scope: Sequence[str]) -> list[str]:
    """The bodies of this region a supervisor's scope covers, sorted."""
    return sorted(
        b for b, division in body_divisions(node).items() if scope_covers(scope, division)
    )


def calendars(node: NodeServices) -> Callable[[str], WorkingCalendar]:
    """``body → its place's working days`` (the region's calendar and the local ones covering
    the body's division: docs/supervision.md §2.2)."""
    divisions = body_divisions(node)
    book = node.ledger.registry.calendars
    region = node.settings.region
    made: dict[str, WorkingCalendar] = {}

    def of(body: str) -> WorkingCalendar:
        place = divisions.get(body, "")
        if place not in made:
            made[place] = book.for_place(region, place)
        return made[place]

    return of


def open_legs(store: SqlReadModelStore, *, until: dt.date | None) -> list[Watched]:
    """Every open leg with a deadline up to ``until`` (None: any), read page by page."""
    rows: list[Watched] = []
    after_row: tuple[dt.date, uuid.UUID, str] | None = None
    while True:
        page = store.dated_rows(LEG_KIND, until=until, after_row=after_row, limit=SCAN_PAGE)
        for case_leg, item in page:
            leg = case_leg.leg
            if leg.deadline is not None:
                rows.append(
                    Watched(
                        "leg",
                        case_leg.case_id.hex,
                        leg.name,
                        leg.body,
                        item,
                        leg.deadline,
                        leg.provisional,
                    )
                )
        last = page[-1][0] if page else None
        if len(page) < SCAN_PAGE or last is None or last.leg.deadline is None:
            return rows
        after_row = (last.leg.deadline, last.case_id, last.leg.name)


def open_rectification_stages(node: NodeServices) -> list[Watched]:
    """The open stage of every rectification (核实, 整改, 回访, 办结), with its deadline."""
    rows = []
    for case in all_case_ratings(node.ledger):
        for stage in case.stages:
            if stage.ended is None:
                rows.append(
                    Watched(
                        "rectification",
                        case.case_id.hex,
                        stage.name,
                        case.rated_body or case.home_body,
                        case.item,
                        stage.deadline,
                    )
                )
    return rows


def scan_alerts(
    node: NodeServices, as_of: dt.date, *, now: dt.datetime, budget: float | None = None
) -> list[Alert]:
    """One scan: bring the read models up to the ledger (for at most ``budget`` seconds; None:
    to its head), find what is due soon or overdue at ``as_of`` and record what is new; the
    alerts recorded by this scan."""
    watched: list[Watched] = []
    if node.follower is not None and node.read_models is not None:
        node.follower.catch_up(budget=budget)
        watched += open_legs(node.read_models, until=as_of + DUE_SOON_HORIZON)
    watched += open_rectification_stages(node)
    found = alerts_due(watched, as_of, calendars(node))
    return node.alert_store().record(found, now=now)
