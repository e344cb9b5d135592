"""The workflow's rules through ``take_step``, with a fake organization registry.

Every channel × coordination graph is rebuilt here from the raw transition table
(``tests.support.cases``: breadth-first shortest paths, our own list of steps); each state is
reached by driving a case along its shortest path, then every row out of it must succeed with
its actor, every other body of the case must be refused, and every other step must be refused
with ``illegal_step`` naming the state and what is allowed.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.errors import LedgerError, MalformedEncoding, StepNotAllowed
from ledger.workflow import (
    CLOSED_STATES,
    RATING_TRANSITIONS,
    START,
    STEP_TYPES,
    TRANSITIONS,
    NotEntitled,
    check_body,
)
from tests.support.cases import (
    ALL_STEPS,
    COMBOS,
    NEEDS_LEGAL_LIMIT,
    OFFICERS,
    RATING_STEPS,
    Combo,
    UnitCase,
    body_for,
    body_view,
    drive,
    expected_allowed,
    fake_entitlement,
    graph,
    shortest_paths,
    states_of,
    step_type,
    take_transition,
)

MATRIX = [
    pytest.param(combo, state, id=f"{combo.name}-{state}")
    for combo in COMBOS
    for state in shortest_paths(graph(combo.channel, combo.coordination))
]
BY_COMBO = [pytest.param(combo, id=combo.name) for combo in COMBOS]
ENDS = set(CLOSED_STATES)


def rows_of(combo: Combo) -> tuple[Any, ...]:
    return graph(combo.channel, combo.coordination)


def case_at(combo: Combo, state: str) -> UnitCase:
    case = UnitCase(combo)
    drive(case, shortest_paths(rows_of(combo))[state])
    assert case.state == state
    return case


def refusal(error: pytest.ExceptionInfo[LedgerError]) -> tuple[str, str | None]:
    return error.value.reason, error.value.field


# -- the table itself -----------------------------------------------------------------------


def test_table_uses_exactly_the_known_steps() -> None:
    assert {t.step for t in TRANSITIONS} | {"corrected"} == set(ALL_STEPS)
    assert {t.step for t in RATING_TRANSITIONS} == set(RATING_STEPS)
    assert {step_type(s) for s in (*ALL_STEPS, *RATING_STEPS)} == set(STEP_TYPES)


@pytest.mark.parametrize("step", [s for s in (*ALL_STEPS, *RATING_STEPS) if s != "received"])
def test_each_step_body_names_its_table_step(step: str) -> None:
    assert check_body(step_type(step), body_for(step)) == step


@pytest.mark.parametrize("combo", BY_COMBO)
def test_received_body_of_each_combination_is_valid(combo: Combo) -> None:
    assert check_body("received", combo.received_body()) == "received"


@pytest.mark.parametrize("combo", BY_COMBO)
def test_graph_is_deterministic(combo: Combo) -> None:
    """One (state, step) leads to one place: ``transition`` would silently take the first."""
    pairs = [(t.state, t.step) for t in rows_of(combo)]
    assert len(pairs) == len(set(pairs))


@pytest.mark.parametrize("combo", BY_COMBO)
def test_every_state_is_reachable_and_can_end(combo: Combo) -> None:
    rows = rows_of(combo)
    reachable = set(shortest_paths(rows))
    # The intake's ``withdrawn`` rows are written for every channel, also from the window's
    # states, which only proxy cases reach: dead rows, harmless. Nothing else is unreachable.
    dead = [t for t in rows if t.state not in reachable]
    assert all(t.step == "withdrawn" and t.actor == "intake" for t in dead), dead
    assert {t.next for t in rows} <= reachable
    for state in reachable:
        # Some sequence of steps from here delivers, refuses or ends the case.
        seen, frontier = {state}, [state]
        while frontier:
            here = frontier.pop()
            for t in rows:
                if t.state == here and t.next not in seen:
                    seen.add(t.next)
                    frontier.append(t.next)
        assert seen & ENDS, f"{combo}: no way to end a case from {state}"


def test_channel_specific_states() -> None:
    """The window's states exist only for proxy cases; joint items add no state."""
    window_states = {"checked", "to_home", "to_home_problem", "to_window", "to_window_problem"}
    window_states |= {"at_window"}
    for combo in COMBOS:
        states = set(shortest_paths(rows_of(combo)))
        if combo.channel == "proxy":
            assert window_states <= states
        else:
            assert not window_states & states
    joint, single = graph("online", "joint"), graph("online", "single")
    assert set(states_of(joint)) == set(states_of(single))
    assert {t.step for t in joint} - {t.step for t in single} == {"co_handled"}


# -- the matrix: every state of every graph -------------------------------------------------


@pytest.mark.parametrize(("combo", "state"), MATRIX)
def test_every_transition_out_of_a_state_succeeds(combo: Combo, state: str) -> None:
    rows = [t for t in rows_of(combo) if t.state == state]
    assert bool(rows) == (state != "withdrawn"), f"{combo}: ways out of {state}: {rows}"
    for t in rows:
        case = case_at(combo, state)
        before = case.flow
        if t.step in NEEDS_LEGAL_LIMIT:  # the packaged items set no legal extension
            with pytest.raises(StepNotAllowed) as error:
                take_transition(case, t)
            assert "legal limit not sourced" in error.value.detail
            continue
        take_transition(case, t)
        assert case.state == t.next, f"{combo}: {state} --{t.step}--> {case.state}"
        if t.step == "transferred":
            assert (before.home_body, case.flow.home_body) == ("510104-RS", "510100-RS")
        if t.step == "co_handled":
            assert case.flow.co_handled_by == {OFFICERS[combo.origins[0]]}


@pytest.mark.parametrize(("combo", "state"), MATRIX)
def test_every_other_step_is_refused_as_illegal(combo: Combo, state: str) -> None:
    case = case_at(combo, state)
    allowed = expected_allowed(rows_of(combo), state)
    refused = [s for s in ALL_STEPS if s not in allowed]
    assert refused
    for step in refused:
        with pytest.raises(StepNotAllowed) as error:
            case.take(combo.home if state != START else combo.intake, step)
        assert refusal(error) == ("illegal_step", "type"), step
        detail = error.value.detail
        assert f"{step!r}" in detail and f"in state {state!r}" in detail
        named = set(detail.split("allowed next: ", 1)[1].split(", "))
        assert named == allowed, f"{combo} {state}: message names {named}"
    assert case.state == state


@pytest.mark.parametrize(("combo", "state"), [p for p in MATRIX if p.values[1] != START])
def test_only_the_actor_takes_each_transition(combo: Combo, state: str) -> None:
    case = case_at(combo, state)
    for t in (t for t in rows_of(combo) if t.state == state):
        # Who may act, from the actor definitions in the module docstring.
        intake = OFFICERS[combo.intake]
        entitled = {
            "intake": {intake},
            "window": {intake} if combo.channel == "proxy" else set(),
            "home": {OFFICERS[combo.home]},
            "origin": {OFFICERS[o] for o in combo.origins if o not in case.co_handled},
        }[t.actor]
        assert entitled, f"{combo}: nobody may take {t.step} in {state}"
        for officer, body in OFFICERS.items():
            if body in entitled:
                continue
            with pytest.raises(NotEntitled) as error:
                case.take(officer, t.step)
            assert refusal(error) == ("not_entitled", "actor.body")
            assert t.actor in error.value.detail and body in error.value.detail
    assert case.state == state


@pytest.mark.parametrize(("combo", "state"), [p for p in MATRIX if p.values[1] != START])
def test_corrected_marks_only_the_bodys_own_earlier_step(combo: Combo, state: str) -> None:
    case = case_at(combo, state)
    before = case.flow
    outsider = "cdrs-001"  # took no step on this case
    with pytest.raises(StepNotAllowed) as error:
        case.take(outsider, "corrected", body_for("corrected", target_seq=1))
    assert refusal(error) == ("illegal_step", "body.target_seq")
    with pytest.raises(StepNotAllowed) as error:  # its own step, but not an earlier one
        case.take(combo.intake, "corrected", body_for("corrected", target_seq=case.seq + 1))
    assert refusal(error) == ("illegal_step", "body.target_seq")
    case.take(combo.intake, "corrected", body_for("corrected", target_seq=1))
    assert case.flow.state == before.state and case.flow.home_body == before.home_body
    assert case.flow.steps_by_body[case.seq] == OFFICERS[combo.intake]


# -- joint items ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "combo", [pytest.param(c, id=c.name) for c in COMBOS if c.coordination == "joint"]
)
def test_joint_case_is_decided_after_every_origin_co_handled(combo: Combo) -> None:
    case = case_at(combo, "accepted")
    first, second = combo.origins
    with pytest.raises(StepNotAllowed) as error:
        case.take(combo.home, "decided:approved")
    assert refusal(error) == ("illegal_step", "type")
    assert OFFICERS[first] in error.value.detail and OFFICERS[second] in error.value.detail
    case.take(first, "co_handled")
    with pytest.raises(NotEntitled) as twice:
        case.take(first, "co_handled")
    assert refusal(twice) == ("not_entitled", "actor.body")
    with pytest.raises(StepNotAllowed) as error:
        case.take(combo.home, "decided:rejected")
    assert OFFICERS[second] in error.value.detail and OFFICERS[first] not in error.value.detail
    with pytest.raises(NotEntitled):  # the home body is not an origin body
        case.take(combo.home, "co_handled")
    case.take(second, "co_handled")
    case.take(combo.home, "decided:approved")
    assert case.state == "decided"


# -- bodies ---------------------------------------------------------------------------------

COMBO = COMBOS[0]
CLEAR = {"name": "张三", "id_number": "510104199001011234"}
REF = "ap_" + "a" * 26  # the vault's format: ap_ + 26 lower-case base32 characters
RECEIVED_MALFORMED = [
    ("no item", {"item": None}, "body.item"),
    ("unknown channel", {"channel": "fax"}, "body.channel"),
    ("unknown coordination", {"coordination": "both"}, "body.coordination"),
    ("version not text", {"catalog_version": 1}, "body.catalog_version"),
    ("no applicant", {"applicant": None}, "body.applicant"),
    (
        "name in clear beside the commitments",
        {"applicant": {"ref": REF, "name": "张三", "commitments": {}}},
        "body.applicant",
    ),
    (
        "personal data in clear instead of commitments",
        {"applicant": {"ref": REF, "commitments": CLEAR}},
        "body.applicant.commitments",
    ),
    (
        "id number committed but name missing",
        {"applicant": {"ref": REF, "commitments": {"id_number": bytes(32)}}},
        "body.applicant.commitments",
    ),
    (
        "short commitment",
        {"applicant": {"ref": REF, "commitments": {"name": bytes(31), "id_number": bytes(32)}}},
        "body.applicant.commitments",
    ),
    ("empty ref", {"applicant": {"ref": "", "commitments": {}}}, "body.applicant.ref"),
    (
        "ref not in the vault's format",
        {"applicant": {"ref": "ap_x", "commitments": {"name": bytes(32), "id_number": bytes(32)}}},
        "body.applicant.ref",
    ),
    ("no materials", {"materials": []}, "body.materials"),
    (
        "material digest in hex",
        {"materials": [{"name": "申请表", "sha256": "00" * 32}]},
        "body.materials[0].sha256",
    ),
    ("material without name", {"materials": [{"sha256": bytes(32)}]}, "body.materials[0]"),
    ("no home body", {"home_body": ""}, "body.home_body"),
    ("jurisdiction too short", {"jurisdiction": "5101"}, "body.jurisdiction"),
    ("origin bodies as text", {"origin_bodies": "320105-RS"}, "body.origin_bodies"),
]


@pytest.mark.parametrize(
    ("change", "field"), [pytest.param(c, f, id=name) for name, c, f in RECEIVED_MALFORMED]
)
def test_malformed_received_body_names_the_field(change: dict[str, Any], field: str) -> None:
    body = COMBO.received_body(**change)
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(MalformedEncoding) as error:
        UnitCase(COMBO).take(COMBO.intake, "received", body)
    assert refusal(error) == ("malformed", field)


STEP_MALFORMED = [
    ("form_checked:pass", {"result": "ok"}, "body.result"),
    ("form_checked:pass", {"identity_verified": "yes"}, "body.identity_verified"),
    ("form_checked:pass", {"reasons": "缺件"}, "body.reasons"),
    ("mailed:window_to_home", {"tracking_number": "E" * 65}, "body.tracking_number"),
    ("mailed:window_to_home", {"leg": "home_to_home"}, "body.leg"),
    ("mailed:window_to_home", {"courier": ""}, "body.courier"),
    ("refused", {"reasons": []}, "body.reasons"),
    ("supplement_requested", {"items": []}, "body.items"),
    ("transferred", {"to_body": 5}, "body.to_body"),
    ("decided:approved", {"result": None}, "body.result"),
    ("delivered:post", {"method": "pigeon"}, "body.method"),
    ("corrected", {"target_seq": 0}, "body.target_seq"),
    ("corrected", {"target_seq": True}, "body.target_seq"),
    ("suspended", {"reason": "holiday"}, "body.reason"),
    ("reopened", {"basis": "complaint"}, "body.basis"),
]


@pytest.mark.parametrize(
    ("step", "change", "field"),
    [pytest.param(s, c, f, id=f"{s}-{f}") for s, c, f in STEP_MALFORMED],
)
def test_malformed_step_body_names_the_field(step: str, change: dict[str, Any], field: str) -> None:
    """A malformed body is refused as such before the state is even looked at."""
    case = UnitCase(COMBO)
    case.take(COMBO.intake, "received")
    body = {**body_for(step), **change}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(MalformedEncoding) as error:
        case.take(COMBO.home, step, body)
    assert refusal(error) == ("malformed", field)
    assert case.state == "received"


def test_unknown_step_type_is_malformed() -> None:
    case = UnitCase(COMBO)
    case.take(COMBO.intake, "received")
    with pytest.raises(MalformedEncoding) as error:
        case.take(COMBO.home, "approved", {"note": ""})
    assert refusal(error) == ("malformed", "type")
    assert "known:" in error.value.detail


def test_unknown_body_field_with_personal_data_is_refused() -> None:
    with pytest.raises(MalformedEncoding) as error:
        UnitCase(COMBO).take(COMBO.intake, "received", COMBO.received_body(applicant_name="张三"))
    assert refusal(error) == ("malformed", "body.applicant_name")


def test_applicant_ref_in_clear_is_refused() -> None:
    applicant = {
        "ref": "510104199001011234",
        "commitments": {"name": bytes(32), "id_number": bytes(32)},
    }
    with pytest.raises(MalformedEncoding) as error:
        UnitCase(COMBO).take(COMBO.intake, "received", COMBO.received_body(applicant=applicant))
    assert refusal(error) == ("malformed", "body.applicant.ref")


# -- entitlement by sector, level and jurisdiction ------------------------------------------

RS = "人力资源社会保障"
HANDLERS = [
    # (division, level, sector, roles, region, entitled?, words of the refusal)
    ("510104", "county", RS, ["handler"], "510000", True, ""),
    ("510100", "city", RS, ["handler"], "510000", True, ""),
    ("510000", "province", RS, ["handler"], "510000", True, ""),
    ("510105", "county", RS, ["handler"], "510000", False, "does not cover 510104"),
    ("510700", "city", RS, ["handler"], "510000", False, "does not cover 510104"),
    ("510104", "county", "市场监管", ["handler"], "510000", False, "sector"),
    ("510104", "county", RS, ["in_province_window"], "510000", False, "no handler role"),
    ("510104", "county", RS, [], "510000", False, "no handler role"),
    ("320105", "county", RS, ["handler"], "320000", False, "region 320000"),
]


@pytest.mark.parametrize(
    ("division", "level", "sector", "roles", "region", "entitled", "words"), HANDLERS
)
def test_home_body_entitlement(
    division: str,
    level: str,
    sector: str,
    roles: list[str],
    region: str,
    entitled: bool,
    words: str,
) -> None:
    org = {"division": division, "level": level, "sector": sector, "roles": roles}
    candidate = body_view("X-HANDLER", region, org)
    case = UnitCase(COMBO, entitlement=fake_entitlement({"X-HANDLER": candidate}))
    body = COMBO.received_body(home_body="X-HANDLER")
    if entitled:
        case.take("X-HANDLER", "received", body)
        assert case.flow.home_body == "X-HANDLER"
        return
    with pytest.raises(NotEntitled) as error:
        case.take("X-HANDLER", "received", body)
    assert refusal(error) == ("not_entitled", "body.home_body")
    assert words in error.value.detail


def test_handler_of_a_cooperating_sector_is_entitled() -> None:
    """510000/1/27 is led by 住房城乡建设 with 人力资源社会保障 cooperating."""
    combo = Combo("coop", "510000/1/27", "online", "single", intake="rs-001")
    case = UnitCase(combo)
    case.take("rs-001", "received")
    assert case.state == "received"


WINDOWS = [
    ("510000", ["in_province_window"], True),
    ("510000", ["cross_province_window"], False),
    ("510000", ["handler"], False),
    ("320000", ["cross_province_window"], True),
    ("320000", ["in_province_window"], False),
]


@pytest.mark.parametrize(("region", "roles", "entitled"), WINDOWS)
def test_window_entitlement(region: str, roles: list[str], entitled: bool) -> None:
    division = "510000" if region == "510000" else "320105"
    org = {"division": division, "level": "province", "sector": "政务服务", "roles": roles}
    combo = COMBOS[2]  # proxy single
    case = UnitCase(combo, entitlement=fake_entitlement({"X-WIN": body_view("X-WIN", region, org)}))
    if entitled:
        case.take("X-WIN", "received")
        assert case.flow.intake_body == "X-WIN"
        return
    with pytest.raises(NotEntitled) as error:
        case.take("X-WIN", "received")
    assert refusal(error) == ("not_entitled", "actor.body")
    role = "in_province_window" if region == "510000" else "cross_province_window"
    assert role in error.value.detail


# A license identifier whose serial (a case id's first 24 hex digits) holds a run of eleven
# digits that looks like a mobile number: found by the license tests, about one case in 1,000.
PHONE_LIKE_SERIAL_ID = (
    "1.2.156.3005.2.11100000TB0000010H002.11330105002500287C.AB13912345678CD.001.X"
)


def test_results_accept_a_reference_whose_serial_looks_like_a_phone_number() -> None:
    check_body("delivered", {"method": "online", "results": [PHONE_LIKE_SERIAL_ID]})
    with pytest.raises(MalformedEncoding) as error:  # free text still refuses it
        check_body("refused", {"reasons": ["call 13912345678"]})
    assert refusal(error) == ("malformed", "body.reasons[0]")


def test_results_refuse_a_resident_id_number_in_a_reference() -> None:
    with pytest.raises(MalformedEncoding) as error:
        check_body("delivered", {"method": "online", "results": ["证明 11010519491231002X"]})
    assert refusal(error) == ("malformed", "body.results[0]")
    assert "resident ID number" in error.value.detail


JOINT = next(c for c in COMBOS if c.name == "online-joint")


@pytest.mark.parametrize(
    ("org", "words"),
    [
        pytest.param(
            {"division": "320105", "level": "county", "sector": "政务服务", "roles": ["handler"]},
            "sector",
            id="another sector",
        ),
        pytest.param(
            {
                "division": "320105",
                "level": "county",
                "sector": "人力资源社会保障",
                "roles": ["cross_province_window"],
            },
            "no handler role",
            id="a window",
        ),
    ],
)
def test_an_origin_body_must_be_a_handler_of_the_items_sector(
    org: dict[str, Any], words: str
) -> None:
    """Issue 13 item 5: any registered body could be named an origin body of a joint case
    (and then read its applicant in clear)."""
    stranger = body_view("X-ORIGIN", "320000", org)
    case = UnitCase(JOINT, entitlement=fake_entitlement({"X-ORIGIN": stranger}))
    body = JOINT.received_body(origin_bodies=[OFFICERS[JOINT.origins[0]], "X-ORIGIN"])
    with pytest.raises(NotEntitled) as error:
        case.take(JOINT.intake, "received", body)
    assert refusal(error) == ("not_entitled", "body.origin_bodies[1]")
    assert "X-ORIGIN" in error.value.detail and words in error.value.detail


def test_an_origin_body_of_another_region_and_place_is_entitled() -> None:
    # An origin body is where the file comes from: any region, any place; only its role
    # and sector are the item's.
    org = {
        "division": "320105",
        "level": "county",
        "sector": "人力资源社会保障",
        "roles": ["handler"],
    }
    case = UnitCase(
        JOINT, entitlement=fake_entitlement({"X-ORIGIN": body_view("X-ORIGIN", "320000", org)})
    )
    case.take(JOINT.intake, "received", JOINT.received_body(origin_bodies=["X-ORIGIN"]))
    assert case.flow.origin_bodies == ("X-ORIGIN",)


@pytest.mark.parametrize(
    "reason",
    [
        "call +8613912345678",
        "call 8613912345678",
        "call 1\u200b3\u200b9\u200b1\u200b2\u200b3\u200b4\u200b5\u200b6\u200b7\u200b8",
        "call １３９１２３４５６７８",
        "证件 440524\u2060188001010014",
    ],
)
def test_free_text_refuses_numbers_in_any_form_a_reader_sees(reason: str) -> None:
    # Found by review: the screen read the text as sent, so a country code, full-width digits
    # or invisible format characters between the digits let a number through into signed bytes.
    with pytest.raises(MalformedEncoding) as error:
        check_body("refused", {"reasons": [reason]})
    assert refusal(error) == ("malformed", "body.reasons[0]")
    with pytest.raises(MalformedEncoding) as error:
        UnitCase(COMBO).take(
            COMBO.intake,
            "received",
            COMBO.received_body(materials=[{"name": reason, "sha256": bytes(32)}]),
        )
    assert refusal(error) == ("malformed", "body.materials[0].name")
