"""Cases through a real ledger under ``CaseWorkflow``: signed envelopes, refusals, the audit.

``tests/unit/test_workflow.py`` checks every rule through ``take_step`` with a fake registry;
here the same rules are checked where they bite — ``LedgerApplication.append_event`` with the
signed organization registry and catalog amendments — on SQLite. ``WorkflowEndToEnd`` holds a
few whole cases written once and run on SQLite and on PostgreSQL (house style: contracts).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from ledger.application import Appended
from ledger.audit import AuditReport, verify_ledger
from ledger.errors import (
    EnvelopeRejected,
    LedgerError,
    RegistryError,
    StepNotAllowed,
    UnknownCase,
)
from ledger.workflow import START, CaseWorkflow, NotEntitled, SignedCoreOnly
from tests.support.cases import (
    ALL_STEPS,
    COMBOS,
    NEEDS_LEGAL_LIMIT,
    OPEN_DIRECT_JOINT,
    REGION,
    Combo,
    LedgerCase,
    amend_catalog,
    body_for,
    drive,
    expected_allowed,
    graph,
    packaged_version,
    populate,
    shortest_paths,
    take_transition,
)
from tests.support.world import World, make_world

ONLINE, ONLINE_JOINT, PROXY, PROXY_JOINT, DIRECT, DIRECT_JOINT = COMBOS


def new_world(data_dir: Path, **backend: Any) -> World:
    world = make_world(data_dir, workflow=CaseWorkflow(), with_jiangsu=True, **backend)
    populate(world)
    return world


def refusal(error: pytest.ExceptionInfo[LedgerError]) -> tuple[str, str | None]:
    return error.value.reason, error.value.field


def case_at(world: World, combo: Combo, state: str) -> LedgerCase:
    case = LedgerCase(world, combo)
    drive(case, shortest_paths(graph(combo.channel, combo.coordination))[state])
    return case


def mailed_to_home(world: World, combo: Combo = PROXY) -> LedgerCase:
    """A proxy case the window checked and mailed, arrived at the home body (seq 4).

    (The table's shortest path to ``at_home`` is shorter: refused at the window's form check,
    then reopened by the home body.)
    """
    case = LedgerCase(world, combo)
    for officer, step in [
        ("js-001", "received"),
        ("js-001", "form_checked:pass"),
        ("js-001", "mailed:window_to_home"),
        ("rs-001", "arrived"),
    ]:
        case.take(officer, step)
    return case


def audit_strictly(data_dir: Path, clock: Any, **backend: Any) -> AuditReport:
    """Audit the ledger in ``data_dir`` under the real rules, whatever the node that wrote it
    enforced."""
    strict = open_ledger(
        Settings(data_dir=data_dir, database_url=backend.get("database_url", ""), region=REGION),
        clock=clock,
        schema=backend.get("schema"),
        workflow=CaseWorkflow(),
        read_only=True,
    )
    try:
        return verify_ledger(strict)
    finally:
        strict.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = new_world(tmp_path)
    yield world
    world.app.close()


# -- the matrix through the ledger ----------------------------------------------------------


@pytest.fixture(scope="module")
def matrix_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One ledger for the whole matrix (cases do not interfere); the amendment opens the
    direct + joint graph."""
    world = new_world(tmp_path_factory.mktemp("matrix"))
    amend_catalog(world, OPEN_DIRECT_JOINT)
    yield world
    world.app.close()


# Every state of every graph, as in the unit tests, but through signatures, the signed registry
# and storage (about 200 transitions and 2,000 refusals: a few seconds).
MATRIX = [
    pytest.param(combo, state, id=f"{combo.name}-{state}")
    for combo in COMBOS
    for state in shortest_paths(graph(combo.channel, combo.coordination))
]


@pytest.mark.parametrize(("combo", "state"), MATRIX)
def test_ledger_takes_each_row_and_refuses_every_other_step(
    matrix_world: World, combo: Combo, state: str
) -> None:
    world = matrix_world
    rows = graph(combo.channel, combo.coordination)
    for t in (t for t in rows if t.state == state):
        case = case_at(world, combo, state)
        if t.step in NEEDS_LEGAL_LIMIT:  # the packaged items set no legal extension
            with pytest.raises(StepNotAllowed) as refused:
                take_transition(case, t)
            assert "legal limit not sourced" in refused.value.detail
            continue
        appended = take_transition(case, t)
        assert case.state == t.next, f"{combo}: {state} --{t.step}--> {case.state}"
        assert isinstance(appended, Appended) and appended.created
    case = case_at(world, combo, state)
    allowed = expected_allowed(rows, state)
    for step in (s for s in ALL_STEPS if s not in allowed):
        with pytest.raises(StepNotAllowed) as error:
            case.take(combo.home, step)
        assert refusal(error) == ("illegal_step", "type"), step
        assert f"in state {state!r}" in error.value.detail
        assert set(error.value.detail.split("allowed next: ")[1].split(", ")) == allowed
    if state == START:
        with pytest.raises(UnknownCase):  # nothing was stored
            world.app.get_case(case.case_id)
    else:
        assert world.app.head(case.case_id).seq == case.seq
        assert case.state == state


# -- actors ---------------------------------------------------------------------------------


def test_window_may_not_accept(world: World) -> None:
    case = mailed_to_home(world)
    with pytest.raises(NotEntitled) as error:
        case.take("js-001", "accepted")
    assert refusal(error) == ("not_entitled", "actor.body")
    assert "home body (510104-RS)" in error.value.detail
    case.take("rs-001", "accepted")
    assert case.state == "accepted"


def test_home_body_may_not_mail_the_windows_file(world: World) -> None:
    case = case_at(world, PROXY, "checked")
    with pytest.raises(NotEntitled) as error:
        case.take("rs-001", "mailed:window_to_home")
    assert refusal(error) == ("not_entitled", "actor.body")
    assert "window body (320105-ZWFW)" in error.value.detail


def test_online_case_is_received_by_its_home_body(world: World) -> None:
    case = LedgerCase(world, ONLINE)
    with pytest.raises(NotEntitled) as error:
        case.take("cdrs-001", "received")  # entitled handler, but not the named home body
    assert refusal(error) == ("not_entitled", "actor.body")


def test_origin_bodies_co_handle_once_and_only_they(world: World) -> None:
    case = case_at(world, ONLINE_JOINT, "accepted")
    for outsider in ("cdrs-001", "rs-001", "js-001"):
        with pytest.raises(NotEntitled) as error:
            case.take(outsider, "co_handled")
        assert refusal(error) == ("not_entitled", "actor.body")
    case.take("jsrs-001", "co_handled")
    with pytest.raises(NotEntitled) as error:
        case.take("jsrs-001", "co_handled")
    assert refusal(error) == ("not_entitled", "actor.body")
    assert "510105-RS" in error.value.detail  # the one still to co-handle


def test_joint_case_waits_for_every_origin_before_the_decision(world: World) -> None:
    case = case_at(world, PROXY_JOINT, "accepted")
    case.take("qyrs-001", "co_handled")
    with pytest.raises(StepNotAllowed) as error:
        case.take("rs-001", "decided:approved")
    assert refusal(error) == ("illegal_step", "type")
    assert "waiting for 320105-RS" in error.value.detail
    case.take("jsrs-001", "co_handled")
    case.take("rs-001", "decided:approved")
    assert case.state == "decided"


def test_corrected_marks_only_the_bodys_own_earlier_step(world: World) -> None:
    case = mailed_to_home(world)  # 1-3 by the window, 4 arrived (home)
    with pytest.raises(StepNotAllowed) as error:
        case.take("rs-001", "corrected", body_for("corrected", target_seq=1))
    assert refusal(error) == ("illegal_step", "body.target_seq")
    with pytest.raises(StepNotAllowed) as error:
        case.take("js-001", "corrected", body_for("corrected", target_seq=4))
    assert refusal(error) == ("illegal_step", "body.target_seq")
    case.take("rs-001", "corrected", body_for("corrected", target_seq=4))
    case.take("js-001", "corrected", body_for("corrected", target_seq=3))
    assert case.state == "at_home"


# -- entitlement by sector, level and jurisdiction ------------------------------------------

RS = "人力资源社会保障"


def handler(world: World, body_id: str, division: str, level: str, **org: Any) -> str:
    """Register a body (a handler of 人社 unless told) with one officer; its officer id."""
    org = {"division": division, "level": level, "sector": RS, "roles": ["handler"], **org}
    world.add_body(body_id, body_id, **org)
    officer_id = f"{body_id.lower()}-1"
    world.add_officer(body_id, officer_id)
    return officer_id


HOME_BODIES = [
    # body id, division, level, org overrides, refusal words ("" = entitled)
    ("510104-SCJG", "510104", "county", {"sector": "市场监管"}, "is of sector '市场监管'"),
    ("510106-RS", "510106", "county", {}, "(county 510106) does not cover 510104"),
    ("510100-RS2", "510100", "city", {}, ""),
    ("510000-RS", "510000", "province", {}, ""),
    ("510104-RSB", "510104", "county", {"roles": []}, "has no handler role"),
    ("510700-RS", "510700", "city", {}, "(city 510700) does not cover 510104"),
]


@pytest.mark.parametrize(
    ("body_id", "division", "level", "org", "words"),
    [pytest.param(*h, id=h[0]) for h in HOME_BODIES],
)
def test_home_body_by_sector_level_and_jurisdiction(
    world: World, body_id: str, division: str, level: str, org: dict[str, Any], words: str
) -> None:
    officer = handler(world, body_id, division, level, **org)
    case = LedgerCase(world, ONLINE)
    body = ONLINE.received_body(home_body=body_id)
    if not words:
        case.take(officer, "received", body)
        assert case.flow.home_body == body_id
        return
    with pytest.raises(NotEntitled) as error:
        case.take(officer, "received", body)
    assert refusal(error) == ("not_entitled", "body.home_body")
    assert words in error.value.detail


def test_jiangsu_body_cannot_be_the_home_body(world: World) -> None:
    case = LedgerCase(world, PROXY)
    with pytest.raises(NotEntitled) as error:
        case.take("js-001", "received", PROXY.received_body(home_body="320105-RS"))
    assert refusal(error) == ("not_entitled", "body.home_body")
    assert "is in region 320000, the case's home region is 510000" in error.value.detail


@pytest.mark.parametrize(
    ("officer", "entitled"),
    [
        pytest.param("zw-001", True, id="in-province-window"),
        pytest.param("js-001", True, id="cross-province-window-from-jiangsu"),
        pytest.param("rs-001", False, id="sichuan-handler-no-window-role"),
        pytest.param("jsrs-001", False, id="jiangsu-handler-no-window-role"),
    ],
)
def test_window_that_receives_a_proxy_case(world: World, officer: str, entitled: bool) -> None:
    case = LedgerCase(world, PROXY)
    if entitled:
        case.take(officer, "received")
        case.take(officer, "form_checked:pass")  # the receiving window is the intake body
        assert case.state == "checked"
        return
    with pytest.raises(NotEntitled) as error:
        case.take(officer, "received")
    assert refusal(error) == ("not_entitled", "actor.body")
    assert "window role" in error.value.detail


def test_sichuan_body_with_only_the_cross_province_role_is_no_in_province_window(
    world: World,
) -> None:
    org = {"sector": "政务服务", "roles": ["cross_province_window"]}
    officer = handler(world, "510104-KSTB", "510104", "county", **org)
    with pytest.raises(NotEntitled) as error:
        LedgerCase(world, PROXY).take(officer, "received")
    assert "no in_province_window role" in error.value.detail


def test_transfer_hands_the_case_to_another_entitled_body(world: World) -> None:
    case = mailed_to_home(world)
    case.take("rs-001", "transferred", body_for("transferred", to_body="510100-RS"))
    with pytest.raises(NotEntitled) as error:
        case.take("rs-001", "accepted")
    assert refusal(error) == ("not_entitled", "actor.body")
    case.take("cdrs-001", "accepted")
    assert case.flow.home_body == "510100-RS" and case.state == "accepted"
    case.take("cdrs-001", "decided:approved")
    case.take("cdrs-001", "mailed:home_to_window")
    case.take("js-001", "arrived")  # the window is unchanged by the transfer
    assert case.state == "at_window"


@pytest.mark.parametrize(
    ("to_body", "reason", "words"),
    [
        ("320105-RS", "not_entitled", "region 320000"),
        ("510000-ZWFW", "not_entitled", "has no handler role"),
        ("510105-RS", "not_entitled", "does not cover 510104"),
        ("510199-NOBODY", "not_entitled", "not in the organization registry"),
        ("510104-RS", "illegal_step", "another body"),
    ],
)
def test_transfer_to_a_body_not_entitled_is_refused(
    world: World, to_body: str, reason: str, words: str
) -> None:
    case = case_at(world, ONLINE, "at_home")
    with pytest.raises(EnvelopeRejected) as error:
        case.take("rs-001", "transferred", body_for("transferred", to_body=to_body))
    assert refusal(error) == (reason, "body.to_body")
    assert words in error.value.detail
    assert case.flow.home_body == "510104-RS"


# -- items ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "channel", "words"),
    [
        pytest.param("510000/3/1", "proxy", "national deployment", id="pending"),
        pytest.param("510000/2/3", "direct", "national deployment", id="pending-direct-joint"),
        pytest.param("510000/1/49", "online", "national system", id="national_system"),
        pytest.param("510000/1/17", "online", "license module", id="verify"),
    ],
)
def test_item_not_open(world: World, item: str, channel: str, words: str) -> None:
    from ledger.catalog import find_item

    combo = Combo(
        "closed",
        item,
        channel,
        find_item(item).coordination,
        intake="js-001" if channel == "proxy" else "rs-001",
        origins=("jsrs-001",) if find_item(item).coordination == "joint" else (),
    )
    with pytest.raises(EnvelopeRejected) as error:
        LedgerCase(world, combo).take(combo.intake, "received")
    assert refusal(error) == ("item_not_open", "body.item")
    assert item in error.value.detail and words in error.value.detail


BAD_RECEIVED = [
    # (combo, body overrides, reason, field)
    (ONLINE, {"channel": "proxy"}, "channel_not_offered", "body.channel"),
    (PROXY, {"channel": "online"}, "channel_not_offered", "body.channel"),
    (ONLINE_JOINT, {"coordination": "single"}, "wrong_coordination", "body.coordination"),
    (ONLINE, {"coordination": "joint"}, "wrong_coordination", "body.coordination"),
    (ONLINE_JOINT, {"origin_bodies": []}, "missing_origin", "body.origin_bodies"),
    (ONLINE, {"origin_bodies": ["320105-RS"]}, "unexpected_origin", "body.origin_bodies"),
    (
        ONLINE_JOINT,
        {"origin_bodies": ["320105-RS", "440000-NOBODY"]},
        "not_entitled",
        "body.origin_bodies[1]",
    ),
    (ONLINE, {"item": "510000/9/99"}, "unknown_item", "body.item"),
    (ONLINE, {"catalog_version": "0" * 64}, "unknown_catalog_version", "body.catalog_version"),
    (ONLINE, {"jurisdiction": "320105"}, "wrong_jurisdiction", "body.jurisdiction"),
    (
        ONLINE,
        {
            "applicant": {
                "ref": "ap_" + "a" * 26,
                "commitments": {"name": "张三", "id_number": "5101"},
            }
        },
        "malformed",
        "body.applicant.commitments",
    ),
    (
        ONLINE,
        {"materials": [{"name": "表", "sha256": "ab"}]},
        "malformed",
        "body.materials[0].sha256",
    ),
    (ONLINE, {"jurisdiction": 510104}, "malformed", "body.jurisdiction"),
]


@pytest.mark.parametrize(
    ("combo", "change", "reason", "field"),
    [pytest.param(c, ch, r, f, id=f"{c.name}-{r}-{f}") for c, ch, r, f in BAD_RECEIVED],
)
def test_bad_received_is_refused_naming_the_field(
    world: World, combo: Combo, change: dict[str, Any], reason: str, field: str
) -> None:
    case = LedgerCase(world, combo)
    with pytest.raises(LedgerError) as error:
        case.take(combo.intake, "received", combo.received_body(**change))
    assert refusal(error) == (reason, field)
    with pytest.raises(UnknownCase):
        world.app.get_case(case.case_id)


def test_jiangsu_item_belongs_in_jiangsus_ledger(world: World) -> None:
    from ledger.catalog import load_catalog

    combo = Combo("js", "320000/1/5", "online", "single", intake="rs-001")
    body = combo.received_body(catalog_version=load_catalog("320000").version)
    with pytest.raises(EnvelopeRejected) as error:
        LedgerCase(world, combo).take("rs-001", "received", body)
    assert refusal(error) == ("wrong_ledger", "body.item")


# -- catalog versions -----------------------------------------------------------------------

CLOSE_1_5 = [{"item": "510000/1/5", "field": "status", "value": "pending"}]


def test_amendment_closes_an_item_for_cases_under_the_new_version(world: World) -> None:
    old = packaged_version()
    running = case_at(world, ONLINE, "accepted")
    _, new = amend_catalog(world, CLOSE_1_5)
    assert new != old and world.app.registry.catalogs.get(new) is not None

    with pytest.raises(EnvelopeRejected) as error:
        LedgerCase(world, ONLINE).take(
            "rs-001", "received", ONLINE.received_body(catalog_version=new)
        )
    assert refusal(error) == ("item_not_open", "body.item")

    # A new case cannot sidestep the amendment by pinning the old version.
    with pytest.raises(EnvelopeRejected) as error:
        LedgerCase(world, ONLINE).take(
            "rs-001", "received", ONLINE.received_body(catalog_version=old)
        )
    assert refusal(error) == ("stale_catalog_version", "body.catalog_version")

    # The running case continues under the version it pinned.
    for step in ("decided:approved", "mailed:home_to_applicant", "delivered:post"):
        running.take("rs-001", step)
    assert running.state == "delivered"
    report = verify_ledger(world.app)
    assert report.findings == [] and report.exit_code == 0


def test_audit_judges_each_case_under_its_pinned_version(tmp_path: Path) -> None:
    """A permissive node took a case under the amended version that closed the item: the
    audit flags it, and not the case pinning the packaged version."""
    lax = make_world(tmp_path, workflow=SignedCoreOnly())
    old_case, new_case = uuid.uuid4(), uuid.uuid4()
    body = ONLINE.received_body(catalog_version=packaged_version())
    lax.run(old_case, [("rs-001", "received", body)])
    _, new = amend_catalog(lax, CLOSE_1_5)
    lax.run(new_case, [("rs-001", "received", ONLINE.received_body(catalog_version=new))])
    lax.app.close()
    report = audit_strictly(tmp_path, lax.clock)
    assert [(f.case_id, f.seq, f.reason) for f in report.findings] == [
        (str(new_case), 1, "illegal_step")
    ]
    assert report.findings[0].detail.startswith("item_not_open: item 510000/1/5")


def test_amendment_opens_the_direct_joint_item(world: World) -> None:
    _, new = amend_catalog(world, OPEN_DIRECT_JOINT)
    assert new == DIRECT_JOINT.catalog_version
    case = case_at(world, DIRECT_JOINT, "delivered")
    assert case.flow.catalog_version == new
    with pytest.raises(EnvelopeRejected) as error:  # the packaged version is no longer current
        body = DIRECT_JOINT.received_body(catalog_version=packaged_version())
        LedgerCase(world, DIRECT_JOINT).take("rs-001", "received", body)
    assert refusal(error) == ("stale_catalog_version", "body.catalog_version")
    assert verify_ledger(world.app).exit_code == 0


def test_amended_channels_bind_new_cases_not_running_ones(world: World) -> None:
    running = case_at(world, ONLINE, "at_home")
    _, new = amend_catalog(world, [{"item": "510000/1/5", "field": "channels", "value": ["proxy"]}])
    with pytest.raises(EnvelopeRejected) as error:
        LedgerCase(world, ONLINE).take(
            "rs-001", "received", ONLINE.received_body(catalog_version=new)
        )
    assert refusal(error) == ("channel_not_offered", "body.channel")
    proxied = LedgerCase(world, ONLINE)
    proxied.take("js-001", "received", ONLINE.received_body(channel="proxy", catalog_version=new))
    running.take("rs-001", "accepted")
    assert (running.state, proxied.state) == ("accepted", "received")
    assert verify_ledger(world.app).exit_code == 0


@pytest.mark.parametrize(
    ("change", "base", "signer", "reason", "field"),
    [
        pytest.param(CLOSE_1_5, None, "510104-RS", "not_entitled", "kid", id="signed-by-a-body"),
        pytest.param(
            [{"item": "510000/1/5", "field": "national_name", "value": "x"}],
            None,
            None,
            "bad_amendment",
            "body.changes",
            id="field-not-amendable",
        ),
        pytest.param(
            [{"item": "510000/1/5", "field": "colour", "value": "red"}],
            None,
            None,
            "bad_amendment",
            "body.changes",
            id="unknown-field",
        ),
        pytest.param(
            [{"item": "510000/9/99", "field": "status", "value": "pending"}],
            None,
            None,
            "bad_amendment",
            "body.changes",
            id="unknown-item",
        ),
        pytest.param(
            [{"item": "510000/1/5", "field": "status", "value": "closed"}],
            None,
            None,
            "bad_amendment",
            "body.changes",
            id="bad-value",
        ),
        pytest.param(
            CLOSE_1_5,
            "0" * 64,
            None,
            "stale_catalog_version",
            "body.base_version",
            id="unknown-base",
        ),
    ],
)
def test_bad_amendment_is_refused(
    world: World,
    change: list[dict[str, Any]],
    base: str | None,
    signer: str | None,
    reason: str,
    field: str,
) -> None:
    head = world.app.registry.head(REGION)
    versions = set(world.app.registry.catalogs.versions)
    key = world.body_keys[signer] if signer else None
    with pytest.raises(RegistryError) as error:
        amend_catalog(world, change, base_version=base, signer=key)
    assert refusal(error) == (reason, field)
    assert world.app.registry.head(REGION) == head
    assert set(world.app.registry.catalogs.versions) == versions


# -- the same few cases on every backend ----------------------------------------------------


class WorkflowEndToEnd:
    """Whole cases, written once; subclasses give ``backend`` (make_world's database args)."""

    @pytest.fixture
    def backend(self) -> dict[str, Any]:
        raise NotImplementedError

    @pytest.fixture
    def world(self, tmp_path: Path, backend: dict[str, Any]) -> Iterator[World]:
        world = new_world(tmp_path, **backend)
        yield world
        world.app.close()

    def test_online_case_by_post_after_a_lost_parcel(self, world: World) -> None:
        case_id = world.online_case()
        flow = world.app.get_case(case_id).flow
        assert (flow.state, flow.channel, flow.intake_body) == ("delivered", "online", "510104-RS")
        assert verify_ledger(world.app).findings == []

    def test_proxy_joint_case_from_the_jiangsu_window_back_to_it(self, world: World) -> None:
        case = LedgerCase(world, PROXY_JOINT)
        for officer, step in [
            ("js-001", "received"),
            ("js-001", "form_checked:pass"),
            ("js-001", "mailed:window_to_home"),
            ("js-001", "mail_problem"),
            ("js-001", "mailed:window_to_home"),
            ("rs-001", "arrived"),
            ("rs-001", "supplement_requested"),
            ("js-001", "supplemented"),
            ("js-001", "mailed:window_to_home"),
            ("rs-001", "arrived"),
            ("rs-001", "accepted"),
            ("jsrs-001", "co_handled"),
            ("qyrs-001", "co_handled"),
            ("rs-001", "decided:approved"),
            ("rs-001", "mailed:home_to_window"),
            ("js-001", "arrived"),
            ("js-001", "delivered:at_window"),
        ]:
            case.take(officer, step)
        flow = case.flow
        assert flow.state == "delivered" and flow.intake_body == "320105-ZWFW"
        assert flow.co_handled_by == {"320105-RS", "510105-RS"}
        report = verify_ledger(world.app)
        assert (report.findings, report.exit_code) == ([], 0)

    def test_refused_step_leaves_no_trace(self, world: World) -> None:
        case = case_at(world, DIRECT, "at_home")
        head = world.app.head(case.case_id)
        with pytest.raises(StepNotAllowed):
            case.take("rs-001", "decided:approved")
        with pytest.raises(NotEntitled):
            case.take("cdrs-001", "accepted")
        assert world.app.head(case.case_id) == head
        case.take("rs-001", "accepted")  # the same seq, now a legal step
        case.take("rs-001", "decided:approved")
        case.take("rs-001", "delivered:at_window")
        assert case.state == "delivered"
        assert verify_ledger(world.app).exit_code == 0

    def test_audit_finds_a_step_that_bypassed_the_workflow(
        self, tmp_path: Path, backend: dict[str, Any]
    ) -> None:
        """A permissive node stored ``accepted`` before ``form_checked``; an audit under the
        real rules reports it at that seq, and only it."""
        data_dir = tmp_path / "permissive"
        lax = make_world(data_dir, workflow=SignedCoreOnly(), **backend)
        case_id = uuid.uuid4()
        lax.run(
            case_id,
            [
                ("rs-001", "received", ONLINE.received_body()),
                ("rs-001", "accepted", body_for("accepted")),
                ("rs-001", "form_checked", body_for("form_checked:pass")),
                ("rs-001", "accepted", body_for("accepted")),
            ],
        )
        assert verify_ledger(lax.app).findings == []  # the permissive rules see nothing
        lax.app.close()
        report = audit_strictly(data_dir, lax.clock, **backend)
        assert [(f.case_id, f.seq, f.reason) for f in report.findings] == [
            (str(case_id), 2, "illegal_step")
        ]
        assert "'accepted' is not allowed in state 'received'" in report.findings[0].detail
        assert report.exit_code == 1


class TestSQLiteWorkflowCases(WorkflowEndToEnd):
    @pytest.fixture
    def backend(self) -> dict[str, Any]:
        return {}


@pytest.mark.postgres
class TestPostgresWorkflowCases(WorkflowEndToEnd):
    @pytest.fixture
    def backend(self, postgres_url: str, postgres_schema: str) -> dict[str, Any]:
        return {"database_url": postgres_url, "schema": postgres_schema}


def test_an_amendment_starts_from_the_current_version(world: World) -> None:
    """Amending an older version would silently drop the amendments made since."""
    _, first = amend_catalog(world, CLOSE_1_5)
    fee = [{"item": "510000/1/5", "field": "fee", "value": "免费"}]
    with pytest.raises(RegistryError) as error:
        amend_catalog(world, fee, base_version=packaged_version())
    assert (error.value.reason, error.value.field) == ("stale_catalog_version", "body.base_version")
    _, second = amend_catalog(world, fee)  # from the current version: accepted
    catalogs = world.app.registry.catalogs
    assert catalogs.current_at("510000", world.clock.now) == second != first
    assert verify_ledger(world.app).exit_code == 0
