"""``/supervision`` and a body's own legs and alerts: deadlines as of a date, figures, open
rectifications and the alert feed, read from the read models (docs/supervision.md §7).

A ``supervisor`` token (scoped to divisions) reads these and nothing with personal data; a
body reads the legs and alerts of its own cases; the auditor and the administrator read all.
``due_soon`` and ``overdue`` are computed per request from the stored deadline and ``as_of``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from adapters.bootstrap import NodeServices
from adapters.supervision import calendars, caught_up, open_rectifications
from api.deps import Caller, Services
from api.errors import ApiProblem
from api.schemas import RectificationPublic, problem_responses
from api.scope import own_body, visible_bodies
from ledger.calendars import WorkingCalendar
from ledger.read_models import DEADLINES, LEG_KIND, RATINGS, CaseLeg
from ledger.supervision.watch import (
    DUE_SOON_HORIZON,
    ScopeError,
    parse_as_of,
    status_at,
)

router = APIRouter(tags=["supervision"], responses=problem_responses(401, 403, 422))

MAX_SEQ = 2**63 - 1
AsOf = Annotated[
    str | None,
    Query(
        max_length=40,
        description="an ISO date (China's) or an instant with its offset; default now",
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000)]


class LegPublic(BaseModel):
    """A stored deadline leg, judged at ``as_of`` (the status is never stored)."""

    case_id: str
    item: str
    name: str = Field(description="the leg: check, mail, acceptance, decision, delivery")
    body: str = Field(description="the body the leg waits on")
    started: str = Field(description="ISO date, China time")
    deadline: str | None = Field(
        description="the last working day allowed; null: paused (the clock stands still)"
    )
    working_days_allowed: int
    working_days_paused: int
    provisional: bool = Field(description="counted on weekends only (a year unpublished)")
    closed: bool
    status: str = Field(
        description="overdue, due_soon, provisional, on_time, closed or no_deadline, at as_of"
    )


class LegsPublic(BaseModel):
    as_of: str = Field(description="the China date the statuses are judged at")
    reflects: int = Field(description="the ledger index the read models had reached")
    legs: list[LegPublic]


class FigurePublic(BaseModel):
    key: str = Field(description="the body, or the item")
    open_legs: int
    overdue_now: int
    due_soon_now: int
    legs_closed: int
    closed_on_time: int
    on_time_rate: float | None = Field(
        description="closed legs closed by their deadline, of all closed (null: none closed)"
    )
    median_handling_days: float | None = Field(
        description="working days of the closed decision legs, pauses excluded (null: none)"
    )


class FiguresPublic(BaseModel):
    as_of: str
    by: str
    reflects: int
    rows: list[FigurePublic]


class OpenRectificationPublic(RectificationPublic):
    body: str = Field(description="the rated body")


class RectificationsPublic(BaseModel):
    as_of: str
    reflects: int = Field(description="the ledger index the read models reflect (0: replayed)")
    rectifications: list[OpenRectificationPublic]


class AlertPublic(BaseModel):
    """One alert of the feed: no personal data (a case id, a leg or stage, a body, dates)."""

    seq: int = Field(description="the feed's cursor: ask for alerts after the last one read")
    source: str = Field(description="leg (a case's deadline leg) or rectification (a stage)")
    case_id: str
    name: str
    body: str
    item: str
    status: str = Field(description="due_soon or overdue")
    deadline: str = Field(description="ISO date, China time")
    as_of: str = Field(description="the scan's China date that found it")
    recorded_at: str


class AlertPage(BaseModel):
    alerts: list[AlertPublic]
    next_after: int = Field(description="pass as after= to continue (the last seq read)")


def _as_of(text: str | None, node: NodeServices) -> date:
    try:
        return parse_as_of(text, datetime.fromtimestamp(node.clock() / 1_000_000, UTC))
    except ScopeError as error:
        raise ApiProblem(422, str(error), reason="malformed", field=error.field) from None


def _public(case_leg: CaseLeg, item: str, as_of: date, calendar: WorkingCalendar) -> LegPublic:
    leg = case_leg.leg
    # Built from the stored leg's own typed fields: nothing to validate (a page judges many).
    return LegPublic.model_construct(
        case_id=str(case_leg.case_id),
        item=item,
        name=leg.name,
        body=leg.body,
        started=leg.started.isoformat(),
        deadline=None if leg.deadline is None else leg.deadline.isoformat(),
        working_days_allowed=leg.working_days_allowed,
        working_days_paused=leg.working_days_paused,
        provisional=leg.provisional,
        closed=leg.closed,
        status=status_at(
            leg.deadline,
            closed=leg.closed,
            provisional=leg.provisional,
            as_of=as_of,
            calendar=calendar,
        ),
    )


def judged_legs(
    node: NodeServices,
    rows: Sequence[tuple[CaseLeg, str]],
    as_of: date,
    status: str | None,
    limit: int | None = None,
) -> list[LegPublic]:
    """Stored legs judged at ``as_of`` on their body's working days (of ``status`` only when
    given), at most ``limit``: every supervision route's and page's legs."""
    calendar_of = calendars(node)
    judged = [_public(leg, item, as_of, calendar_of(leg.leg.body)) for leg, item in rows]
    return [leg for leg in judged if status is None or leg.status == status][:limit]


@router.get(
    "/supervision/legs",
    response_model=LegsPublic,
    summary="open legs overdue or due soon as of a date, by body and item (supervisors)",
)
def supervised_legs(
    node: Services,
    caller: Caller,
    status: Annotated[Literal["overdue", "due_soon"], Query()] = "overdue",
    body: Annotated[str | None, Query(max_length=64)] = None,
    item: Annotated[str | None, Query(max_length=64)] = None,
    as_of: AsOf = None,
    limit: Limit = 100,
) -> LegsPublic:
    bodies = visible_bodies(node, caller, body)
    day = _as_of(as_of, node)
    reflects = caught_up(node, DEADLINES)
    rows: list[tuple[CaseLeg, str]] = []
    if node.read_models is not None:
        if status == "overdue":  # open, deadline before the day: a range read
            window = {"after": None, "until": date.fromordinal(day.toordinal() - 1)}
        else:  # open, deadline from the day on, within the horizon; judged by calendar below
            window = {
                "after": date.fromordinal(day.toordinal() - 1),
                "until": day + DUE_SOON_HORIZON,
            }
        rows = node.read_models.dated_rows(
            LEG_KIND,
            after=window["after"],
            until=window["until"],
            bodies=bodies,
            item=item,
            limit=limit if status == "overdue" else 10 * limit,
        )
    return LegsPublic(
        as_of=day.isoformat(), reflects=reflects, legs=judged_legs(node, rows, day, status, limit)
    )


@router.get(
    "/supervision/statistics",
    response_model=FiguresPublic,
    summary="per body or item: open legs, overdue and due soon now, legs closed, on-time rate "
    "and median handling days (supervisors)",
)
def supervised_figures(
    node: Services,
    caller: Caller,
    by: Annotated[Literal["body", "item"], Query()] = "body",
    as_of: AsOf = None,
) -> FiguresPublic:
    bodies = visible_bodies(node, caller, None)
    day = _as_of(as_of, node)
    reflects = caught_up(node, DEADLINES)
    rows: list[FigurePublic] = []
    if node.read_models is not None:
        tallies = node.read_models.dated_tallies(LEG_KIND, as_of=day, by=by, bodies=bodies)
        soon: dict[str, int] = {}
        window = node.read_models.dated_rows(
            LEG_KIND,
            after=date.fromordinal(day.toordinal() - 1),
            until=day + DUE_SOON_HORIZON,
            bodies=bodies,
            limit=MAX_SEQ,
        )
        for leg in judged_legs(node, window, day, "due_soon", len(window)):
            key = leg.body if by == "body" else leg.item
            soon[key] = soon.get(key, 0) + 1
        rows = [
            FigurePublic(
                key=key,
                open_legs=tally.open,
                overdue_now=tally.overdue,
                due_soon_now=soon.get(key, 0),
                legs_closed=tally.closed,
                closed_on_time=tally.closed_on_time,
                on_time_rate=tally.closed_on_time / tally.closed if tally.closed else None,
                median_handling_days=tally.median_handling_days,
            )
            for key, tally in sorted(tallies.items())
        ]
    return FiguresPublic(as_of=day.isoformat(), by=by, reflects=reflects, rows=rows)


@router.get(
    "/supervision/rectifications",
    response_model=RectificationsPublic,
    summary="open rectifications (差评整改) as of a date, with their stages (supervisors)",
)
def supervised_rectifications(
    node: Services,
    caller: Caller,
    body: Annotated[str | None, Query(max_length=64)] = None,
    as_of: AsOf = None,
) -> RectificationsPublic:
    bodies = visible_bodies(node, caller, body)
    day = _as_of(as_of, node)
    reflects = caught_up(node, RATINGS)
    found = open_rectifications(node, day, bodies)
    return RectificationsPublic(
        as_of=day.isoformat(),
        reflects=reflects,
        rectifications=[
            OpenRectificationPublic(body=r.body, **RectificationPublic.fields_of(r, day))
            for r in found
        ],
    )


def _page(node: NodeServices, after: int, bodies: list[str] | None, limit: int) -> AlertPage:
    alerts = node.alert_store().after(after, bodies=bodies, limit=limit)
    return AlertPage(
        alerts=[AlertPublic.model_validate(a.as_dict()) for a in alerts],
        next_after=alerts[-1].seq if alerts else after,
    )


After = Annotated[int, Query(ge=0, le=MAX_SEQ, description="the last seq already read")]


@router.get(
    "/supervision/alerts",
    response_model=AlertPage,
    summary="the alert feed (due soon, overdue) after a cursor, for supervisors",
)
def supervised_alerts(
    node: Services,
    caller: Caller,
    after: After = 0,
    body: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
) -> AlertPage:
    return _page(node, after, visible_bodies(node, caller, body), limit)


BodyId = Annotated[str, Path(max_length=64)]


@router.get(
    "/bodies/{body_id}/legs",
    response_model=LegsPublic,
    summary="the deadline legs of a body's own cases, judged as of a date",
)
def body_legs(
    body_id: BodyId,
    node: Services,
    caller: Caller,
    status: Annotated[
        Literal["overdue", "due_soon", "provisional", "on_time", "closed", "no_deadline"] | None,
        Query(),
    ] = None,
    as_of: AsOf = None,
    limit: Limit = 100,
) -> LegsPublic:
    own_body(node, caller, body_id)
    day = _as_of(as_of, node)
    reflects = caught_up(node, DEADLINES)
    rows: list[tuple[CaseLeg, str]] = []
    if node.read_models is not None:
        rows = node.read_models.dated_rows(
            LEG_KIND, party=body_id, open_only=False, limit=MAX_SEQ if status else limit
        )
    return LegsPublic(
        as_of=day.isoformat(), reflects=reflects, legs=judged_legs(node, rows, day, status, limit)
    )


@router.get(
    "/bodies/{body_id}/alerts",
    response_model=AlertPage,
    summary="a body's alert feed (due soon, overdue) after a cursor",
)
def body_alerts(
    body_id: BodyId, node: Services, caller: Caller, after: After = 0, limit: Limit = 100
) -> AlertPage:
    own_body(node, caller, body_id)
    return _page(node, after, [body_id], limit)
