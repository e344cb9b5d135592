"""ledger.reports: a case's timeline and the per-body report, on a world with the real workflow."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import msgpack
import pytest

from ledger.application import REGISTRY_REFRESH_INTERVAL
from ledger.audit.auditor import Auditor
from ledger.errors import UnknownCase
from ledger.keys import registry_stream_id
from ledger.reports import (
    CLOSED_STATES,
    IN_THE_POST,
    BodyActivity,
    body_activity,
    body_report,
    case_timeline,
)
from ledger.workflow import CaseWorkflow
from tests.support.world import START, World, make_world

WINDOW, HOME, JS_HANDLER = "320105-ZWFW", "510104-RS", "320105-RS"
DAY = 86_400
T0 = START + 3_600_000_000  # 2026-01-01T01:00:00Z, after the registry was set up

# (seconds since the previous step, officer, type, body) of a proxy case: received at a Jiangsu
# window for a Sichuan home body, mailed both ways, handed out at the window.
PROXY_STEPS: list[tuple[int, str, str, dict[str, Any]]] = [
    (0, "js-001", "received", {}),  # the body is filled in by proxy_case
    (1_200, "js-001", "form_checked", {"result": "pass", "reasons": [], "identity_verified": True}),
    (
        1_800,
        "js-001",
        "mailed",
        {"leg": "window_to_home", "courier": "EMS", "tracking_number": "1"},
    ),
    (2 * DAY, "rs-001", "arrived", {"note": ""}),
    (3_600, "rs-001", "accepted", {"note": ""}),
    (5 * DAY, "rs-001", "decided", {"result": "approved", "reasons": [], "basis": "社会保险法"}),
    (600, "rs-001", "mailed", {"leg": "home_to_window", "courier": "EMS", "tracking_number": "2"}),
    (2 * DAY, "js-001", "arrived", {"note": ""}),
    (DAY, "js-001", "delivered", {"method": "at_window", "results": []}),
]
PROXY_TABLE_STEPS = [
    "received",
    "form_checked:pass",
    "mailed:window_to_home",
    "arrived",
    "accepted",
    "decided:approved",
    "mailed:home_to_window",
    "arrived",
    "delivered:at_window",
]


def proxy_case(
    world: World,
    steps: list[tuple[int, str, str, dict[str, Any]]] = PROXY_STEPS,
    *,
    item: str = "510000/2/23",  # 社会保障卡补领、换领、换发: proxy, single
    origin_bodies: list[str] | None = None,
) -> uuid.UUID:
    """A proxy case taken step by step, the clock moved before each step."""
    case_id = uuid.uuid4()
    for gap, officer, step_type, body in steps:
        world.clock.advance(gap)
        if step_type == "received":
            body = world.received_body(item, "proxy", origin_bodies=origin_bodies)
        head = world.app.head(case_id)
        world.run(
            case_id, [(officer, step_type, body)], prev=head.event_hash, first_seq=head.seq + 1
        )
    return case_id


def make_report_world(data_dir: Path) -> World:
    world = make_world(data_dir, workflow=CaseWorkflow(), with_jiangsu=True)
    # Receipt times are exactly what the test moves the clock to, from 01:00Z on day one.
    world.clock.step = 0
    world.clock.now = T0
    return world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_report_world(tmp_path)


def by_body(report: list[BodyActivity]) -> dict[str, BodyActivity]:
    return {a.body.body_id: a for a in report}


# -- definitions --------------------------------------------------------------------------------


def test_closed_and_in_the_post_states_are_read_from_the_table() -> None:
    assert sorted(CLOSED_STATES) == ["delivered", "intake_refused", "refused", "withdrawn"]
    assert sorted(IN_THE_POST) == ["to_applicant", "to_home", "to_window"]


# -- case_timeline -------------------------------------------------------------------------------


def test_a_proxy_case_across_regions(world: World) -> None:
    case_id = proxy_case(world)
    timeline = case_timeline(world.app, case_id)
    assert (timeline.case_id, timeline.state, timeline.closed) == (str(case_id), "delivered", True)
    assert (timeline.item_key, timeline.item_name) == ("510000/2/23", "社会保障卡补领、换领、换发")
    assert (timeline.channel, timeline.coordination) == ("proxy", "single")
    assert timeline.home_body.body_id == HOME
    assert timeline.home_body.name == "成都市锦江区人力资源和社会保障局"
    assert timeline.window_body is not None
    assert (timeline.window_body.body_id, timeline.window_body.name) == (
        WINDOW,
        "南京市建邺区政务服务中心",
    )
    assert timeline.origin_bodies == ()
    assert [s.seq for s in timeline.steps] == list(range(1, 10))
    assert [s.step for s in timeline.steps] == PROXY_TABLE_STEPS
    assert [s.body.body_id for s in timeline.steps] == [WINDOW] * 3 + [HOME] * 4 + [WINDOW] * 2
    assert [s.officer_id for s in timeline.steps] == ["js-001"] * 3 + ["rs-001"] * 4 + [
        "js-001"
    ] * 2
    assert [s.since_previous for s in timeline.steps] == [None] + [
        float(gap) for gap, *_ in PROXY_STEPS[1:]
    ]
    assert [s.status for s in timeline.steps] == ["valid"] * 9
    assert timeline.valid and timeline.other_findings == ()


def test_times_are_iso_8601_utc_receipt_and_claimed(world: World) -> None:
    world.clock.advance(DAY)
    case_id = proxy_case(world, PROXY_STEPS[:2])
    first, second = case_timeline(world.app, case_id).steps
    assert first.received_at == "2026-01-02T01:00:00.000000Z"
    assert second.received_at == "2026-01-02T01:20:00.000000Z"
    assert second.claimed_at == second.received_at  # the world signs at the node's time


def test_an_online_case_has_no_window(world: World) -> None:
    case_id = world.online_case()
    timeline = case_timeline(world.app, case_id)
    assert (timeline.channel, timeline.state, timeline.window_body) == ("online", "delivered", None)
    assert timeline.item_name == "失业登记"
    assert {s.body.body_id for s in timeline.steps} == {HOME}
    assert timeline.steps[-1].step == "delivered:post"
    assert timeline.steps[6].step == "mailed:home_to_applicant"


def test_a_joint_case_names_its_origin_bodies(world: World) -> None:
    steps = [*PROXY_STEPS[:5], (DAY, "jsrs-001", "co_handled", {"opinion": "同意转移"})]
    case_id = proxy_case(world, steps, item="510000/1/8", origin_bodies=[JS_HANDLER])
    timeline = case_timeline(world.app, case_id)
    assert timeline.coordination == "joint"
    assert [(b.body_id, b.name) for b in timeline.origin_bodies] == [
        (JS_HANDLER, "南京市建邺区人力资源和社会保障局")
    ]
    assert (timeline.state, timeline.closed) == ("accepted", False)


def test_a_tampered_signature_shows_the_audit_s_reasons_at_its_seq(
    world: World, tmp_path: Path
) -> None:
    case_id = proxy_case(world)
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        (state,) = db.execute(
            "SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = 4",
            (case_id.hex,),
        ).fetchone()
        decoded = msgpack.unpackb(state, raw=False)
        envelope = bytearray(decoded["envelope"])
        envelope[-1] ^= 0x01  # the last byte of the signature
        decoded["envelope"] = bytes(envelope)
        db.execute(
            "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = 4",
            (msgpack.packb(decoded, use_bin_type=True), case_id.hex),
        )
    timeline = case_timeline(world.app, case_id)
    statuses = {s.seq: s.status for s in timeline.steps}
    assert "bad_signature" in statuses[4] and "bad_hash" in statuses[4]
    assert statuses[5] == "broken_link"  # seq 5 links to the bytes seq 4 had when accepted
    assert all(statuses[seq] == "valid" for seq in (1, 2, 3, 6, 7, 8, 9))
    assert not timeline.valid
    assert timeline.state == "delivered"  # the steps themselves still read


def test_a_signature_altered_after_the_case_was_read_is_still_caught(
    world: World, tmp_path: Path
) -> None:
    """Verified signatures are remembered by their exact bytes (``ledger.envelope.VERIFIED``):
    a step altered after a first, clean reading of its case is verified again, and fails."""
    case_id = proxy_case(world)
    assert case_timeline(world.app, case_id).valid
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        (state,) = db.execute(
            "SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = 6",
            (case_id.hex,),
        ).fetchone()
        decoded = msgpack.unpackb(state, raw=False)
        envelope = bytearray(decoded["envelope"])
        envelope[-1] ^= 0x01
        decoded["envelope"] = bytes(envelope)
        db.execute(
            "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = 6",
            (msgpack.packb(decoded, use_bin_type=True), case_id.hex),
        )
    statuses = {s.seq: s.status for s in case_timeline(world.app, case_id).steps}
    assert "bad_signature" in statuses[6]
    assert [s for s in statuses.values() if s == "valid"] and statuses[1] == "valid"


def test_case_pages_share_the_rebuilt_registry_until_a_registry_row_changes(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case's timeline rebuilds the registry as the audit does (every record's signature
    checked) once, not per request; an appended record makes it rebuild at once, a stored one
    altered in the database within a second, so an altered record is still caught."""
    case_id = proxy_case(world)
    rebuilt: list[int] = []
    real = Auditor.load_registry

    def counted(self: Auditor) -> None:
        rebuilt.append(1)
        real(self)

    monkeypatch.setattr(Auditor, "load_registry", counted)
    first = case_timeline(world.app, case_id)
    assert case_timeline(world.app, case_id) == first and len(rebuilt) == 1
    world.add_officer("510104-RS", "rs-002")  # a registry record appended
    assert case_timeline(world.app, case_id).steps == first.steps and len(rebuilt) == 2
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        rows = db.execute(
            "SELECT originator_version, state FROM stored_events WHERE originator_id = ?",
            (registry_stream_id(world.region).hex,),
        ).fetchall()
        for version, state in rows:  # every Sichuan record's signature broken
            decoded = msgpack.unpackb(state, raw=False)
            envelope = bytearray(decoded["envelope"])
            envelope[-1] ^= 0x01
            decoded["envelope"] = bytes(envelope)
            db.execute(
                "UPDATE stored_events SET state = ? "
                "WHERE originator_id = ? AND originator_version = ?",
                (
                    msgpack.packb(decoded, use_bin_type=True),
                    registry_stream_id(world.region).hex,
                    version,
                ),
            )
    # The stored rows are compared at most once a REGISTRY_REFRESH_INTERVAL (a second).
    assert case_timeline(world.app, case_id).steps == first.steps and len(rebuilt) == 2
    world.clock.advance(REGISTRY_REFRESH_INTERVAL / 1_000_000)
    tampered = case_timeline(world.app, case_id)
    assert len(rebuilt) == 3
    assert any(step.status != "valid" for step in tampered.steps)


def test_an_unknown_case_is_refused(world: World) -> None:
    with pytest.raises(UnknownCase):
        case_timeline(world.app, uuid.uuid4())


# -- body_report ---------------------------------------------------------------------------------


def test_body_report_on_a_known_scenario(world: World) -> None:
    done = proxy_case(world)
    world.online_case()  # ten steps, all at one instant: held, for no time
    waiting = proxy_case(world, [*PROXY_STEPS[:2], (100, *PROXY_STEPS[2][1:])])  # in the post
    checked = proxy_case(world, PROXY_STEPS[:2])  # at the window, to be mailed
    report = by_body(body_report(world.app))
    assert list(report) == [WINDOW, HOME]  # sorted by id; only bodies that acted

    window = report[WINDOW]
    assert window.body.name == "南京市建邺区政务服务中心"
    assert window.steps == {
        "arrived": 1,
        "delivered:at_window": 1,
        "form_checked:pass": 3,
        "mailed:window_to_home": 2,
        "received": 3,
    }
    assert window.steps_total == 10
    assert window.cases_held == 3
    # done: received→checked 1,200 + checked→mailed 1,800 + at the window 1 day;
    # waiting: 1,200 + 100; checked: 1,200 (its current interval is not counted yet).
    assert window.holding_seconds == 1_200 + 1_800 + DAY + 1_200 + 100 + 1_200
    assert window.open_cases == (str(checked),)

    home = report[HOME]
    assert home.steps["accepted"] == 2 and home.steps["delivered:post"] == 1
    assert home.steps_total == 4 + 10
    assert home.cases_held == 2
    # done: arrived→accepted 1 h + accepted→decided 5 days + decided→mailed 600 s; the post
    # (two days each way) is nobody's.
    assert home.holding_seconds == 3_600 + 5 * DAY + 600
    assert home.open_cases == (str(waiting),)  # in the post to it: arriving is its next step
    assert str(done) not in window.open_cases + home.open_cases


def test_origin_bodies_hold_a_joint_case_from_acceptance_until_they_co_handle(
    world: World,
) -> None:
    steps = [
        *PROXY_STEPS[:5],
        (7_200, "jsrs-001", "co_handled", {"opinion": "同意转移"}),
        (3_600, "rs-001", "decided", {"result": "approved", "reasons": [], "basis": "x"}),
    ]
    proxy_case(world, steps, item="510000/1/8", origin_bodies=[JS_HANDLER])
    report = by_body(body_report(world.app))
    assert report[JS_HANDLER].steps == {"co_handled": 1}
    assert report[JS_HANDLER].holding_seconds == 7_200
    assert report[HOME].holding_seconds == 3_600 + 7_200 + 3_600
    assert len(report[HOME].open_cases) == 1  # decided: the home body delivers next
    assert report[JS_HANDLER].open_cases == ()


def test_one_bodys_activity_read_from_its_cases_is_its_row_of_the_whole_report(
    world: World,
) -> None:
    """``body_activity`` reads only the cases it is given (a listing's cases of the body); on
    those it gives the whole-ledger report's row, and zeros for a body that did nothing."""
    cases = [proxy_case(world), proxy_case(world, PROXY_STEPS[:2]), world.online_case()]
    report = by_body(body_report(world.app))
    for body_id in (WINDOW, HOME):
        assert body_activity(world.app, body_id, cases) == report[body_id]
    # The window is on the two proxy cases only: the online case adds nothing to its row.
    assert body_activity(world.app, WINDOW, cases[:2]) == report[WINDOW]
    idle = body_activity(world.app, JS_HANDLER, cases)
    assert (idle.body.name != "", idle.steps, idle.cases_held, idle.open_cases) == (
        True,
        {},
        0,
        (),
    )


def test_an_empty_ledger_reports_no_body(world: World) -> None:
    assert body_report(world.app) == []


def test_reports_read_a_read_only_node(world: World, tmp_path: Path) -> None:
    from adapters.bootstrap import open_ledger
    from adapters.settings import Settings

    case_id = proxy_case(world)
    reader = open_ledger(Settings(data_dir=tmp_path, region="510000"), read_only=True)
    try:
        assert not reader.registry.bodies  # a read-only node does not load its registry
        timeline = case_timeline(reader, case_id)
        assert timeline.home_body.name == "成都市锦江区人力资源和社会保障局"
        assert [s.status for s in timeline.steps] == ["valid"] * 9
        assert by_body(body_report(reader))[WINDOW].body.name == "南京市建邺区政务服务中心"
    finally:
        reader.close()
