"""Supervision over a node's read models: which bodies a supervisor's scope covers, each body's
working days, the rows a scheduler watches, and one scan of them into the alert feed
(docs/supervision.md §7).

Legs come from the read models (``readmodel_case_dated``, kind ``leg``: the rows the calendar
engine's legs function wrote), never from replaying cases; so are ratings and rectifications
(``readmodel_ratings``), replayed only on a node opened without read models.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ledger.calendars import WorkingCalendar, china_date
from ledger.ratings.stats import (
    BULLETIN_FORMAT,
    Bulletin,
    all_rated_cases,
    bulletin_of,
    bulletin_of_read_models,
    counting_index,
    month_bounds,
    published_calendars,
)
from ledger.read_models import DEADLINES, LEG_KIND, RATINGS, SUMMARIES, CaseLeg, RatedCase
from ledger.supervision.watch import DUE_SOON_HORIZON, Alert, Watched, alerts_due, scope_covers

if TYPE_CHECKING:
    from adapters.bootstrap import NodeServices
    from adapters.readmodels import SqlReadModelStore

SCAN_PAGE = 1000  # rows per read of the dated rows while scanning


def body_divisions(node: NodeServices) -> dict[str, str]:
    """Every registered body of this node's region and its GB/T 2260 division (the region's
    code for a body registered without one)."""
    node.ledger.refresh_registry_if_stale()
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


def iter_open_legs(
    store: SqlReadModelStore,
    *,
    until: dt.date | None,
    bodies: Sequence[str] | None = None,
    page_size: int = SCAN_PAGE,
) -> Iterator[tuple[CaseLeg, str]]:
    """Open legs (of ``bodies`` only when given) with a deadline up to ``until`` (None: any),
    earliest first, each with its case's item, read ``page_size`` at a time: a caller that
    stops early reads no further page."""
    after_row: tuple[dt.date, uuid.UUID, str] | None = None
    while True:
        page = store.dated_rows(
            LEG_KIND, until=until, bodies=bodies, after_row=after_row, limit=page_size
        )
        yield from page
        last = page[-1][0] if page else None
        if len(page) < page_size or last is None or last.leg.deadline is None:
            return
        after_row = (last.leg.deadline, last.case_id, last.leg.name)


def open_legs(store: SqlReadModelStore, *, until: dt.date | None) -> list[Watched]:
    """Every open leg with a deadline up to ``until`` (None: any), as the scheduler watches."""
    return [
        Watched(
            "leg",
            case_leg.case_id.hex,
            case_leg.leg.name,
            case_leg.leg.body,
            item,
            case_leg.leg.deadline,
            case_leg.leg.provisional,
        )
        for case_leg, item in iter_open_legs(store, until=until)
        if case_leg.leg.deadline is not None
    ]


def caught_up(node: NodeServices, projection: str) -> int:
    """Bring the read models up to the ledger (bounded, as a listing does); the position of
    ``projection`` (0 on a node without read models)."""
    if node.follower is None or node.read_models is None:
        return 0
    node.follower.catch_up(budget=max(node.settings.read_model_wait_seconds, 1.0))
    return node.read_models.position(projection)


def open_rectifications(
    node: NodeServices, as_of: dt.date, bodies: Sequence[str] | None = None
) -> list[RatedCase]:
    """Rectifications open at ``as_of`` (of ``bodies`` only when given), from the read models
    as they stand (the caller catches them up); replayed on a node without read models."""
    if node.read_models is not None:
        return node.read_models.open_rectifications(as_of, bodies=bodies)
    return [
        r
        for r in all_rated_cases(node.ledger)
        if r.open_on(as_of) and (bodies is None or r.body in bodies)
    ]


def ratings_given_to(node: NodeServices, body: str, as_of: dt.date) -> list[RatedCase]:
    """Every rating of ``body`` given by ``as_of``, from the read models as they stand (the
    caller catches them up); replayed on a node without read models."""
    if node.read_models is not None:
        return node.read_models.ratings_of(body, as_of)
    return [r for r in all_rated_cases(node.ledger) if r.body == body and r.rated <= as_of]


def open_rectification_stages(node: NodeServices, as_of: dt.date) -> list[Watched]:
    """The open stage of every rectification open at ``as_of`` (核实, 整改, 回访, 办结), with
    its deadline."""
    return [
        Watched("rectification", r.case_id.hex, stage.name, r.body, r.item, stage.deadline)
        for r in open_rectifications(node, as_of)
        for stage in r.stages
        if stage.ended is None
    ]


def bulletin_for(node: NodeServices, month: str) -> Bulletin:
    """The bulletin of ``month`` (``YYYY-MM``; ValueError if malformed).

    The month under way is counted from the read models, brought up to the ledger first
    (as a listing is): they stand where the ledger stands, which is where it will stand at the
    month's end as far as anything received so far goes. A finished month counts each leg as
    the ledger stood at its end, which the stored rows (legs as they stand now) cannot give:
    it is made from the ledger once per calendar and catalog it counted on, and kept. A node
    without read models makes either from the ledger on every call."""
    _, last = month_bounds(month)
    store = node.read_models
    if store is None:
        return bulletin_of(node.ledger, month)
    if last >= china_date(node.clock()):
        return _bulletin_under_way(node, store, month)
    # Steps received after ``last`` do not change it (receipt times only grow); the registry
    # it counts on is read before it is made, so a record appended meanwhile makes it again.
    made_on = f"format {BULLETIN_FORMAT}, counting records to index {counting_index(node.ledger)}"
    kept = store.kept_bulletin(month, made_on)
    if kept is not None:
        return Bulletin.from_json(kept)
    made = bulletin_of(node.ledger, month)
    store.keep_bulletin(month, made_on, made.to_json())
    return made


def _bulletin_under_way(node: NodeServices, store: SqlReadModelStore, month: str) -> Bulletin:
    if node.follower is not None:
        node.follower.catch_up(budget=max(node.settings.read_model_wait_seconds, 1.0))
    reflects = min(store.positions([SUMMARIES, DEADLINES, RATINGS]).values())
    made = bulletin_of_read_models(
        store, month, published_calendars(node.ledger), node.ledger.home_region
    )
    head = node.ledger.store.max_index()
    note = f"the month under way, counted from the read models at ledger index {reflects}"
    if reflects < head:
        note += f" (the ledger is at {head}: they are still catching up)"
    return replace(made, notes=[*made.notes, note])


def previous_month(day: dt.date) -> str:
    """``YYYY-MM`` of the month before ``day``'s."""
    return (day.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")


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
    watched += open_rectification_stages(node, as_of)
    found = alerts_due(watched, as_of, calendars(node))
    return node.alert_store().record(found, now=now)
