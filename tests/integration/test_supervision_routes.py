"""The supervision routes and the alert feed on a served node (docs/supervision.md §7).

The node's deadlines projection is given a legs function that answers hand-chosen legs per case
(``NodeServices(legs=...)``, in the calendar engine's place), and the region's root publishes
2025's calendar, so every "as of" below is worked out by hand across National
Day 2025 (weekday holidays 10-01 … 10-08, make-up Sunday 09-28 and Saturday 10-11).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.calendar_seed import seed_year
from adapters.supervision import previous_month, scan_alerts
from api.app import create_app
from api.cli import main
from ledger.admin import RegistryClerk
from ledger.application import now_micros
from ledger.calendars import CalendarYear, china_date
from ledger.personal import find_personal_data
from ledger.read_models import Leg
from tests.support.api_node import APPLICANT, ApiNode, api_node
from tests.support.planned_legs import PlannedLegs

D = dt.date.fromisoformat
NOW = dt.datetime(2025, 10, 9, 2, 0, tzinfo=dt.UTC)
ALERT_FIELDS = {
    "seq",
    "source",
    "case_id",
    "name",
    "body",
    "item",
    "status",
    "deadline",
    "as_of",
    "recorded_at",
}


def _leg(name: str, body: str, deadline: str, *, closed: bool = False) -> Leg:
    return Leg(name, D("2025-09-22"), D(deadline), 10, 0, closed, body)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiNode, dict[str, str]]]:
    legs = PlannedLegs()
    with api_node(tmp_path_factory.mktemp("supervision"), legs=legs) as node:
        clerk = RegistryClerk(node.services.ledger, "510000")
        clerk.append(node.world.root, "calendar_published", seed_year("510000", 2025).to_body())
        a, b = node.proxy_case(), node.proxy_case()
        legs.planned[a] = [
            _leg("acceptance", "510104-RS", "2025-09-26", closed=True),
            _leg("decision", "510104-RS", "2025-10-09"),
        ]
        legs.planned[b] = [
            _leg("acceptance", "510000-ZWFW", "2025-09-30"),
            _leg("decision", "510104-RS", "2025-10-17"),
        ]
        assert node.services.follower is not None
        node.services.follower.rebuild()
        yield node, {"a": str(a), "b": str(b)}


def _legs(node: ApiNode, principal: str, path: str = "/supervision/legs", **params: Any) -> Any:
    answer = node.get(path, principal, **params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _names(document: Any, cases: dict[str, str]) -> list[tuple[str, str, str]]:
    letter = {v: k for k, v in cases.items()}
    return [(letter[leg["case_id"]], leg["name"], leg["status"]) for leg in document["legs"]]


def test_overdue_and_due_soon_are_judged_at_the_as_of_asked(
    served: tuple[ApiNode, dict[str, str]],
) -> None:
    node, cases = served
    overdue = _legs(node, "admin", status="overdue", as_of="2025-10-09")
    assert overdue["as_of"] == "2025-10-09" and overdue["reflects"] > 0
    assert _names(overdue, cases) == [("b", "acceptance", "overdue")]
    # The next day A's decision (last day 10-09) is overdue too: nothing was rewritten.
    later = _legs(node, "admin", status="overdue", as_of="2025-10-10")
    assert _names(later, cases) == [("b", "acceptance", "overdue"), ("a", "decision", "overdue")]
    # As of Mon 09-29: B's acceptance has 1 working day left (09-30), A's decision 2 (09-30,
    # then 10-09 after the holidays); B's decision (10-17) has 8.
    soon = _legs(node, "admin", status="due_soon", as_of="2025-09-29")
    assert _names(soon, cases) == [("b", "acceptance", "due_soon"), ("a", "decision", "due_soon")]
    # As of Fri 10-10, B's decision: make-up Sat 10-11, 10-13 … 10-17: 6 left, not due soon;
    # as of Wed 10-15: 10-16, 10-17: due soon. An instant counts by its China date.
    assert _legs(node, "admin", status="due_soon", as_of="2025-10-10")["legs"] == []
    instant = _legs(node, "admin", status="due_soon", as_of="2025-10-14T16:30:00Z")
    assert instant["as_of"] == "2025-10-15"
    assert _names(instant, cases) == [("b", "decision", "due_soon")]


def test_a_bad_as_of_is_a_clear_422(served: tuple[ApiNode, dict[str, str]]) -> None:
    node, _ = served
    for path in ("/supervision/legs", "/supervision/statistics", "/bodies/510104-RS/legs"):
        for text, why in (("2025-13-01", "not an ISO date"), ("2025-10-10T09:00", "no offset")):
            answer = node.get(path, "admin", as_of=text)
            problem = answer.json()
            assert (answer.status_code, problem["reason"], problem["field"]) == (
                422,
                "malformed",
                "as_of",
            ), path
            assert why in problem["detail"]


def test_a_supervisor_sees_only_its_scope(served: tuple[ApiNode, dict[str, str]]) -> None:
    node, cases = served  # the supervisor's scope, 510100, covers 510104-RS, not 510000-ZWFW
    mine = _legs(node, "supervisor", status="overdue", as_of="2025-10-10")
    assert _names(mine, cases) == [("a", "decision", "overdue")]
    outside = node.get("/supervision/legs", "supervisor", body="510000-ZWFW")
    assert (outside.status_code, outside.json()["field"]) == (403, "body")
    assert "outside this supervisor's scope (510100)" in outside.json()["detail"]
    theirs = node.get("/bodies/510000-ZWFW/legs", "supervisor")
    assert (theirs.status_code, theirs.json()["field"]) == (403, "body_id")
    figures = _legs(node, "supervisor", "/supervision/statistics", as_of="2025-10-10")
    assert [row["key"] for row in figures["rows"]] == ["510104-RS"]


def test_a_supervisor_never_reads_personal_data(served: tuple[ApiNode, dict[str, str]]) -> None:
    node, cases = served
    for path, params in (
        (f"/cases/{cases['a']}", {"personal": "true", "purpose": "督查"}),
        (f"/cases/{cases['a']}", {}),
        (f"/cases/{cases['a']}/access", {}),
        (f"/cases/{cases['a']}/rectification/contact", {"purpose": "督查"}),
        ("/cases", {}),
        ("/licenses/anything", {}),
    ):
        answer = node.get(path, "supervisor", **params)
        problem = answer.json()
        assert (answer.status_code, problem["reason"]) == (403, "forbidden"), path
        assert "never personal data" in problem["detail"]
        assert APPLICANT["name"] not in answer.text


def test_statistics_per_body_and_per_item(served: tuple[ApiNode, dict[str, str]]) -> None:
    node, _ = served
    by_body = _legs(node, "admin", "/supervision/statistics", by="body", as_of="2025-09-29")
    assert by_body["rows"] == [
        {
            "key": "510000-ZWFW",
            "open_legs": 1,
            "overdue_now": 0,
            "due_soon_now": 1,
            "legs_closed": 0,
            "closed_on_time": 0,
            "on_time_rate": None,
            "median_handling_days": None,
        },
        {
            "key": "510104-RS",
            "open_legs": 2,
            "overdue_now": 0,
            "due_soon_now": 1,
            "legs_closed": 1,
            "closed_on_time": 0,  # planned without its closing facts
            "on_time_rate": 0.0,
            "median_handling_days": None,
        },
    ]
    by_item = _legs(node, "auditor", "/supervision/statistics", by="item", as_of="2025-10-10")
    assert by_item["rows"] == [
        {
            "key": "510000/2/23",
            "open_legs": 3,
            "overdue_now": 2,
            "due_soon_now": 0,
            "legs_closed": 1,
            "closed_on_time": 0,
            "on_time_rate": 0.0,
            "median_handling_days": None,
        }
    ]


def test_a_body_reads_the_legs_of_its_own_cases(served: tuple[ApiNode, dict[str, str]]) -> None:
    node, cases = served
    own = _legs(node, "home", "/bodies/510104-RS/legs", as_of="2025-10-10")
    assert sorted(_names(own, cases)) == [
        ("a", "acceptance", "closed"),
        ("a", "decision", "overdue"),
        ("b", "acceptance", "overdue"),
        ("b", "decision", "on_time"),
    ]
    only = _legs(node, "home", "/bodies/510104-RS/legs", as_of="2025-10-10", status="overdue")
    assert sorted(_names(only, cases)) == [
        ("a", "decision", "overdue"),
        ("b", "acceptance", "overdue"),
    ]
    refused = node.get("/bodies/510104-RS/legs", "outsider")
    assert (refused.status_code, refused.json()["field"]) == (403, "body_id")


def _feed(node: ApiNode, principal: str, path: str, **params: Any) -> Any:
    answer = node.get(path, principal, **params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_alerts_are_recorded_once_and_followed_by_cursor(
    served: tuple[ApiNode, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node, cases = served
    services = node.services
    first = scan_alerts(services, D("2025-10-09"), now=NOW)
    assert [(a.seq, a.name, a.status, a.body) for a in first] == [
        (1, "acceptance", "overdue", "510000-ZWFW"),
        (2, "decision", "due_soon", "510104-RS"),
    ]
    assert scan_alerts(services, D("2025-10-09"), now=NOW) == []  # idempotent
    later = scan_alerts(services, D("2025-10-10"), now=NOW)
    assert [(a.seq, a.case_id, a.name, a.status) for a in later] == [
        (3, uuid.UUID(cases["a"]).hex, "decision", "overdue")
    ]
    page = _feed(node, "admin", "/supervision/alerts", limit=2)
    assert [a["seq"] for a in page["alerts"]] == [1, 2] and page["next_after"] == 2
    rest = _feed(node, "admin", "/supervision/alerts", after=page["next_after"])
    assert [a["seq"] for a in rest["alerts"]] == [3] and rest["next_after"] == 3
    end = _feed(node, "admin", "/supervision/alerts", after=3)
    assert end == {"alerts": [], "next_after": 3}
    # The supervisor of 510100 and the body itself follow 510104-RS's alerts only.
    for principal, path in (
        ("supervisor", "/supervision/alerts"),
        ("home", "/bodies/510104-RS/alerts"),
    ):
        theirs = _feed(node, principal, path)
        assert [(a["seq"], a["status"]) for a in theirs["alerts"]] == [
            (2, "due_soon"),
            (3, "overdue"),
        ]
    for alert in page["alerts"] + rest["alerts"]:
        assert set(alert) == ALERT_FIELDS
        assert find_personal_data(json.dumps(alert, ensure_ascii=False)) is None
    # The CLI reads the same feed, and a cron run records nothing a scan recorded already.
    monkeypatch.setenv("TONGBAN_DATABASE_URL", "")
    data_dir = ["--data-dir", str(node.data_dir)]
    assert main(["supervise", "alerts", "run", "--once", "--as-of", "2025-10-10", *data_dir]) == 0
    assert "recorded 0 new alerts" in capsys.readouterr().out
    assert main(["supervise", "alerts", "list", "--json", "--after", "1", *data_dir]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [a["seq"] for a in listed["alerts"]] == [2, 3] and listed["next_after"] == 3
    assert main(["supervise", "alerts", "run", "--once", "--as-of", "10/10", *data_dir]) == 64
    assert "--as-of '10/10' is not an ISO date" in capsys.readouterr().err


def test_a_poor_rating_opens_a_rectification_with_alerts(tmp_path: Path) -> None:
    with api_node(tmp_path) as node:  # its own node: its scans must not touch the shared feed
        _rectification_alerts(node)


def _rated_case(node: ApiNode, level: str) -> uuid.UUID:
    """An online case of 510104-RS delivered and rated ``level`` at the window, today."""
    case_id, raw = node.received("510104-RS", item="510000/1/5", channel="online")
    assert node.post("/cases", "home", raw).status_code == 201
    for step, content in (
        ("form_checked", {"result": "pass", "reasons": [], "identity_verified": True}),
        ("accepted", {"note": ""}),
        ("decided", {"result": "approved", "reasons": [], "basis": "失业保险条例"}),
        ("delivered", {"method": "online", "results": []}),
        ("rated", {"level": level, "channel": "window"}),
    ):
        answer = node.step(case_id, "510104-RS", step, content)
        assert answer.status_code == 201, answer.text
    return case_id


def _rectification_alerts(node: ApiNode) -> None:
    case_id = _rated_case(node, "dissatisfied")
    today = china_date(now_micros())
    opened = _legs(node, "supervisor", "/supervision/rectifications", as_of=today.isoformat())
    (found,) = [r for r in opened["rectifications"] if r["case_id"] == str(case_id)]
    assert (found["body"], found["level"], found["late"]) == ("510104-RS", "dissatisfied", False)
    verify = found["stages"][0]
    assert (verify["name"], verify["ended"]) == ("verify", None)
    deadline = D(verify["deadline"])
    recorded = scan_alerts(node.services, deadline + dt.timedelta(days=1), now=NOW)
    ours = [a for a in recorded if a.source == "rectification"]
    assert [(a.case_id, a.name, a.status, a.deadline) for a in ours] == [
        (case_id.hex, "verify", "overdue", deadline)
    ]
    assert scan_alerts(node.services, deadline + dt.timedelta(days=1), now=NOW) == []


def test_the_feed_needs_a_token_and_a_sane_cursor(served: tuple[ApiNode, dict[str, str]]) -> None:
    node, _ = served
    assert node.get("/supervision/alerts", "none").status_code == 401
    for after in ("-1", "x", str(2**63)):
        answer = node.get("/supervision/alerts", "admin", after=after)
        assert (answer.status_code, answer.json()["field"]) == (422, "after")


def test_the_cli_issues_a_scoped_supervisor_token(
    served: tuple[ApiNode, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    node, _ = served
    data_dir = ["--data-dir", str(node.data_dir)]
    made = ["token", "create", "--supervisor", "510104,510000", *data_dir]
    assert main(made) == 0
    issued = json.loads(capsys.readouterr().out)
    assert (issued["kind"], issued["subject"]) == ("supervisor", "510000,510104")
    headers = {"Authorization": f"Bearer {issued['token']}"}
    answer = node.client.get(
        "/supervision/statistics", params={"as_of": "2025-10-10"}, headers=headers
    )
    assert [row["key"] for row in answer.json()["rows"]] == ["510000-ZWFW", "510104-RS"]
    for scope, why in (("320100", "outside region 510000"), ("51", "6-digit")):
        assert main(["token", "create", "--supervisor", scope, *data_dir]) == 64
        error = capsys.readouterr().err
        assert error.startswith("tongban: --supervisor: ") and why in error


def test_the_calendar_engines_legs_through_the_routes_and_the_scheduler(tmp_path: Path) -> None:
    """The real legs (``LedgerLegs``, wired into every node): a proxy case arrives at its home
    body, whose acceptance leg is judged on the stored deadline, alerted once overdue, and
    leaves the overdue list when the body accepts. No calendar is published for the year the
    test runs in, so the deadline is counted on weekends only: ``provisional`` until passed."""
    with api_node(tmp_path) as node:
        case_id = node.proxy_case()
        answer = node.step(case_id, "510104-RS", "arrived", {"note": "材料齐全"})
        assert answer.status_code == 201, answer.text
        own = _legs(node, "home", "/bodies/510104-RS/legs")
        legs = {leg["name"]: leg for leg in own["legs"] if leg["case_id"] == str(case_id)}
        assert set(legs) == {"check", "mail", "acceptance"}
        assert (legs["check"]["body"], legs["check"]["closed"]) == ("320105-ZWFW", True)
        acceptance = legs["acceptance"]
        assert (acceptance["body"], acceptance["closed"], acceptance["provisional"]) == (
            "510104-RS",
            False,
            True,
        )
        deadline = D(acceptance["deadline"])
        started = D(acceptance["started"])
        # Weekends only: the deadline is the Nth Monday–Friday after the start day.
        day, counted = started, 0
        while counted < acceptance["working_days_allowed"]:
            day += dt.timedelta(days=1)
            counted += day.weekday() < 5
        assert deadline == day
        on_the_day = _legs(node, "home", "/bodies/510104-RS/legs", as_of=deadline.isoformat())
        assert {leg["status"] for leg in on_the_day["legs"] if leg["name"] == "acceptance"} == {
            "provisional"
        }
        after = (deadline + dt.timedelta(days=1)).isoformat()
        overdue = _legs(node, "supervisor", status="overdue", as_of=after)
        assert [(leg["case_id"], leg["name"]) for leg in overdue["legs"]] == [
            (str(case_id), "acceptance")
        ]
        recorded = scan_alerts(node.services, deadline + dt.timedelta(days=1), now=NOW)
        assert [(a.case_id, a.name, a.status) for a in recorded] == [
            (case_id.hex, "acceptance", "overdue")
        ]
        accepted = node.step(case_id, "510104-RS", "accepted", {"note": ""})
        assert accepted.status_code == 201, accepted.text
        assert _legs(node, "supervisor", status="overdue", as_of=after)["legs"] == []
        decision = [
            leg
            for leg in _legs(node, "home", "/bodies/510104-RS/legs", as_of=after)["legs"]
            if leg["name"] == "decision"
        ]
        assert [leg["closed"] for leg in decision] == [False]
        assert decision[0]["deadline"] is not None
        # Suspended (expert review): the clock stands still, the row has no deadline.
        suspended = node.step(
            case_id, "510104-RS", "suspended", {"reason": "expert_review", "detail": ""}
        )
        assert suspended.status_code == 201, suspended.text
        paused = [
            leg
            for leg in _legs(node, "admin", "/bodies/510104-RS/legs", as_of=after)["legs"]
            if leg["name"] == "decision"
        ]
        assert [(leg["deadline"], leg["status"]) for leg in paused] == [(None, "no_deadline")]


def test_the_server_runs_the_scheduler_beside_it(tmp_path: Path) -> None:
    """``serve``'s app starts the scheduler with the node (``TONGBAN_ALERT_SCAN_SECONDS``): its
    first scan runs at once, so a server started and stopped has recorded what was overdue."""
    legs = PlannedLegs()
    with api_node(tmp_path, legs=legs) as node:
        case_id = node.proxy_case()
        legs.planned[case_id] = [_leg("decision", "510104-RS", "2025-10-09")]
        assert node.services.follower is not None
        node.services.follower.rebuild()
        assert node.services.alert_store().after(0) == []  # the fixture's app scans never
        services = node.services
        services.settings = services.settings.model_copy(update={"alert_scan_seconds": 3600})
        with TestClient(create_app(services=services)):
            pass
        (alert,) = services.alert_store().after(0)
        assert (alert.case_id, alert.name, alert.status) == (case_id.hex, "decision", "overdue")
        # ... and has made last month's bulletin, which the first to ask then reads as kept.
        assert services.read_models is not None
        with services.read_models._tx() as cur:
            cur.execute("SELECT month FROM readmodel_bulletins")
            assert cur.fetchall() == [(previous_month(china_date(now_micros())),)]


def test_statistics_give_the_on_time_rate_and_median_handling_days_of_closed_legs(
    tmp_path: Path,
) -> None:
    """Closed legs carry their closing facts in the stored row (docs/supervision.md §7): the
    route counts them without replaying a case."""
    legs = PlannedLegs()

    def closed(name: str, deadline: str, on: str, days: int | None) -> Leg:
        return Leg(name, D("2025-09-22"), D(deadline), 10, 0, True, "510104-RS",
                   closed_on=D(on), on_time=D(on) <= D(deadline), handling_days=days)  # fmt: skip

    with api_node(tmp_path, legs=legs) as node:
        a, b, c = node.proxy_case(), node.proxy_case(), node.proxy_case()
        legs.planned[a] = [closed("decision", "2025-10-09", "2025-10-09", 8)]
        legs.planned[b] = [closed("decision", "2025-10-09", "2025-10-14", 11)]
        legs.planned[c] = [
            closed("acceptance", "2025-09-26", "2025-09-25", None),
            closed("decision", "2025-10-17", "2025-10-10", 9),
        ]
        assert node.services.follower is not None
        node.services.follower.rebuild()
        (row,) = _legs(node, "admin", "/supervision/statistics", as_of="2025-10-20")["rows"]
    assert row["key"] == "510104-RS"
    assert (row["legs_closed"], row["closed_on_time"], row["on_time_rate"]) == (4, 3, 0.75)
    assert row["median_handling_days"] == 9.0  # of 8, 9 and 11: the acceptance leg has none


def test_rectifications_are_a_read_model_rebuilt_equal_and_recounted_for_a_new_calendar(
    tmp_path: Path,
) -> None:
    """The open rectifications come from ``readmodel_ratings`` (no case replayed per
    request); a rebuild gives the same rows; a calendar published later recounts them."""
    with api_node(tmp_path) as node:
        case_id = _rated_case(node, "very_dissatisfied")
        store, follower = node.services.read_models, node.services.follower
        assert store is not None and follower is not None
        rated = china_date(now_micros())
        answer = _legs(node, "admin", "/supervision/rectifications", as_of=rated.isoformat())
        assert answer["reflects"] == node.services.ledger.store.max_index()
        live = store.open_rectifications(rated)
        assert [(r.case_id, r.level, r.body) for r in live] == [
            (case_id, "very_dissatisfied", "510104-RS")
        ]
        assert [s["name"] for s in answer["rectifications"][0]["stages"]] == ["verify"]
        # No calendar for the year yet: counted on weekends only, and said so.
        assert [s.provisional for s in live[0].stages] == [True]
        follower.rebuild()
        assert store.open_rectifications(rated) == live
        # Years whatever today is (a stage may cross New Year): no holidays, weekends off.
        clerk = RegistryClerk(node.services.ledger, "510000")
        for year in (rated.year, rated.year + 1):
            plain = CalendarYear(region="510000", year=year, holidays=frozenset())
            clerk.append(node.world.root, "calendar_published", plain.to_body())
        follower.catch_up()
        (recounted,) = store.open_rectifications(rated)
        assert [s.provisional for s in recounted.stages] == [False]
        assert store.open_rectifications(rated - dt.timedelta(days=1)) == []  # not rated yet


def test_a_bodys_ratings_are_read_from_the_read_model_not_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``GET /bodies/{id}/ratings`` reads ``readmodel_ratings`` (every rating, good or poor):
    with the replay of every case made to fail, it still answers, at the ledger's head; a
    rebuild gives the same rows."""
    with api_node(tmp_path) as node:
        good = _rated_case(node, "very_satisfied")
        poor = _rated_case(node, "dissatisfied")
        store, follower = node.services.read_models, node.services.follower
        assert store is not None and follower is not None

        def no_replay(*_: object, **__: object) -> None:
            raise AssertionError("every case replayed for one body's ratings")

        # The replay's per-case read (the projection holds its own reference).
        monkeypatch.setattr("ledger.ratings.stats.case_ratings", no_replay)
        today = china_date(now_micros()).isoformat()
        answer = _legs(node, "admin", "/bodies/510104-RS/ratings", as_of=today)
        assert answer["reflects"] == node.services.ledger.store.max_index()
        assert (answer["ratings"], answer["rectifications_open"]) == (2, 1)
        assert answer["distribution"]["very_satisfied"] == 1
        assert answer["distribution"]["dissatisfied"] == 1
        assert [r["case_id"] for r in answer["open_rectifications"]] == [str(poor)]
        live = store.ratings_of("510104-RS", china_date(now_micros()))
        assert {(r.case_id, r.poor) for r in live} == {(good, False), (poor, True)}
        assert store.ratings_of("510000-ZWFW", china_date(now_micros())) == []
        follower.rebuild()
        assert store.ratings_of("510104-RS", china_date(now_micros())) == live
        assert _legs(node, "admin", "/bodies/510104-RS/ratings", as_of=today) == answer


def test_the_month_under_way_is_counted_from_the_read_models_and_a_finished_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The month under way is counted from the read models on each request (no case
    replayed: a request on a large ledger took minutes), at the ledger's head; once over, its
    bulletin is made from the ledger once and kept, until a calendar or catalog amendment is
    appended (an officer's key record changes nothing it counted)."""

    def no_replay(*_: object, **__: object) -> None:
        raise AssertionError("every case replayed for the bulletin")

    with api_node(tmp_path) as node:
        _rated_case(node, "dissatisfied")
        store = node.services.read_models
        assert store is not None
        month = china_date(now_micros()).strftime("%Y-%m")
        with monkeypatch.context() as patched:
            patched.setattr("ledger.ratings.stats.case_ratings", no_replay)
            live = _legs(node, "admin", f"/bulletins/{month}")
        [row] = live["rows"]
        assert (row["body"], row["cases_received"], row["rectifications_opened"]) == (
            "510104-RS",
            1,
            1,
        )
        head = node.services.ledger.store.max_index()
        assert f"counted from the read models at ledger index {head}" in live["notes"][-1]
        with store._tx() as cur:
            cur.execute("SELECT month FROM readmodel_bulletins")
            assert cur.fetchall() == []  # under way: not kept

        later = now_micros() + 40 * 86_400_000_000  # the month is over
        monkeypatch.setattr(node.services, "clock", lambda: later)
        made = _legs(node, "admin", f"/bulletins/{month}")
        assert made["rows"] == live["rows"] and made["notes"] == live["notes"][:-1]

        with monkeypatch.context() as patched:
            patched.setattr("ledger.ratings.stats.case_ratings", no_replay)
            assert _legs(node, "supervisor", f"/bulletins/{month}")["rows"] == [
                row for row in made["rows"] if row["body"] == "510104-RS"
            ]
            # A new officer's key: nothing the bulletin counted on; still the kept one.
            posted = node.post("/keys/records", "admin", node.key_record("510000", "rs-new"))
            assert posted.status_code == 201, posted.text
            assert _legs(node, "admin", f"/bulletins/{month}") == made
        year = int(month[:4]) + 1  # a calendar: it may change what the month counted
        plain = CalendarYear(region="510000", year=year, holidays=frozenset())
        RegistryClerk(node.services.ledger, "510000").append(
            node.world.root, "calendar_published", plain.to_body()
        )
        with monkeypatch.context() as patched:
            patched.setattr("ledger.ratings.stats.case_ratings", no_replay)
            answer = node.get(f"/bulletins/{month}", "admin")
            assert answer.status_code == 500  # made again: the registry moved
        again = _legs(node, "admin", f"/bulletins/{month}")
        assert again["rows"] == made["rows"]
        assert again["calendar"] == f"published 510000 years {year}"


def test_a_supervisor_reads_the_bulletin_and_ratings_of_its_scope_only(
    served: tuple[ApiNode, dict[str, str]],
) -> None:
    """No personal data in either: a supervisor reads them, narrowed to its scope (510100)."""
    node, _ = served
    month = china_date(now_micros()).strftime("%Y-%m")
    bulletin = _legs(node, "supervisor", f"/bulletins/{month}")
    everything = _legs(node, "admin", f"/bulletins/{month}")
    assert {row["body"] for row in everything["rows"]} > {"510104-RS"}
    assert {row["body"] for row in bulletin["rows"]} == {"510104-RS"}
    assert _legs(node, "supervisor", "/bodies/510104-RS/ratings")["body"] == "510104-RS"
    outside = node.get("/bodies/510000-ZWFW/ratings", "supervisor")
    assert (outside.status_code, outside.json()["field"]) == (403, "body_id")


def test_previous_month_crosses_new_year() -> None:
    assert previous_month(dt.date(2027, 1, 15)) == "2026-12"
    assert previous_month(dt.date(2026, 3, 31)) == "2026-02"
