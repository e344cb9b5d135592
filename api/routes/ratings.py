"""Ratings (好差评) and rectification: the applicant's code route, per-body figures, the
follow-up call's contact read and the monthly bulletin.

Officer-recorded ratings (window, 12345 hotline) and every rectification step are signed
steps, posted to ``/cases/{id}/events`` like any other.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from adapters.bootstrap import NodeServices
from adapters.supervision import bulletin_for, caught_up, ratings_given_to
from api.bulletin import bulletin_csv, bulletin_html
from api.deps import Caller, JsonBody, Services, refuse_supervisor
from api.docs import only_the_node
from api.errors import ApiProblem
from api.schemas import (
    AppendedPublic,
    BodyRatingsPublic,
    ContactPublic,
    RatingCreate,
    RectificationPublic,
    problem_responses,
)
from api.scope import own_body, visible_bodies
from ledger.calendars import CalendarBook, china_date
from ledger.ratings.service import check_follow_up_reader
from ledger.ratings.stats import (
    body_ratings,
    calendar_name,
    month_bounds,
    published_calendars,
)
from ledger.read_models import RATINGS, RatedCase

router = APIRouter(tags=["ratings"])


@router.post(
    "/cases/{case_id}/ratings",
    response_model=AppendedPublic,
    status_code=201,
    summary="rate a case with the receipt slip's one-time code (no token: the code is the key)",
    responses=problem_responses(403, 404, 413, 415, 422, 429),
)
def rate_case(
    case_id: uuid.UUID, _: JsonBody, rating: RatingCreate, node: Services
) -> AppendedPublic:
    appended = node.ratings.rate_with_code(
        case_id,
        code=rating.code,
        level=rating.level,
        channel=rating.channel,
        comment=rating.comment,
    )
    return AppendedPublic.of(appended)


def _as_of(text: str | None, node: NodeServices) -> date:
    if text is None:
        return china_date(node.clock())
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiProblem(
            422, f"as_of must be an ISO date, not {text!r}", reason="malformed", field="as_of"
        ) from None


@router.get(
    "/bodies/{body_id}/ratings",
    response_model=BodyRatingsPublic,
    summary="a body's ratings and its rectifications (open, late, closed) on a date",
    responses=problem_responses(401, 403, 422),
)
async def ratings_of_body(
    body_id: Annotated[str, Path(max_length=64)],
    node: Services,
    caller: Caller,
    as_of: Annotated[str | None, Query(max_length=10, description="ISO date, China")] = None,
) -> BodyRatingsPublic:
    own_body(node, caller, body_id)  # no personal data here: a supervisor of its scope reads it
    day = _as_of(as_of, node)

    def read() -> tuple[int, CalendarBook, list[RatedCase]]:
        reflects = caught_up(node, RATINGS)
        return reflects, published_calendars(node.ledger), ratings_given_to(node, body_id, day)

    reflects, calendars, rated = await run_in_threadpool(read)
    found = body_ratings(rated, day)
    return BodyRatingsPublic(
        body=body_id,
        as_of=day.isoformat(),
        reflects=reflects,
        calendar=calendar_name(calendars, node.ledger.home_region),
        ratings=found[0].total if found else 0,
        distribution=found[0].distribution if found else {},
        rectifications_open=found[0].rectifications_open if found else 0,
        rectifications_late=found[0].rectifications_late if found else 0,
        rectifications_closed=found[0].rectifications_closed if found else 0,
        open_rectifications=[
            RectificationPublic(**RectificationPublic.fields_of(r, day))
            for r in rated
            if r.open_on(day)
        ],
    )


@router.get(
    "/cases/{case_id}/rectification/contact",
    response_model=ContactPublic,
    summary="the applicant's name and phone for the follow-up call (回访); the read is logged",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def follow_up_contact(
    case_id: uuid.UUID,
    node: Services,
    caller: Caller,
    purpose: Annotated[
        str, Query(min_length=1, max_length=200, description="why (recorded); required")
    ],
) -> ContactPublic:
    refuse_supervisor(caller)  # the applicant's name and phone: personal data
    case = node.cases.case(caller, case_id)
    check_follow_up_reader(caller.kind, caller.subject, case.flow)
    if not purpose.strip():  # personal data is read only by one who says why
        raise ApiProblem(
            422, "say why you read the contact data", reason="malformed", field="purpose"
        )
    data = node.cases.read_applicant(caller, case, f"差评整改回访: {purpose}")
    return ContactPublic(case_id=str(case_id), name=data.get("name", ""), phone=data.get("phone"))


@router.get(
    "/bulletins/{month}",
    summary="the monthly bulletin (定期通报) by body and item: JSON, CSV or a printable page",
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
            },
            "description": "the bulletin",
        },
        **problem_responses(401, 403, 422),
    },
)
async def bulletin(
    month: Annotated[str, Path(max_length=7, description="YYYY-MM")],
    node: Services,
    caller: Caller,
    format: Annotated[Literal["json", "csv", "html"], Query()] = "json",
) -> Response:
    bodies = visible_bodies(node, caller, None)  # a supervisor: the rows of its scope
    try:
        month_bounds(month)
    except ValueError as error:
        raise ApiProblem(422, str(error), reason="malformed", field="month") from None
    made = await run_in_threadpool(bulletin_for, node, month)
    if bodies is not None:
        made = replace(made, rows=[row for row in made.rows if row["body"] in bodies])
    if format == "csv":
        return PlainTextResponse(bulletin_csv(made), media_type="text/csv")
    if format == "html":
        # A page like /docs: the browser may reach nothing but the node.
        return only_the_node(HTMLResponse(bulletin_html(made, ledger_name=node.ledger.ledger_name)))
    return Response(content=made.to_json(), media_type="application/json")
