"""``calendar_published`` and head officers through a real ledger (docs/keys.md §3,
docs/supervision.md §2, §3.3)."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.calendar_seed import seed_year
from ledger.errors import LedgerError, MalformedEncoding, RegistryError
from ledger.workflow import CaseWorkflow, NotEntitled
from tests.support.cases import COMBOS, LedgerCase, amend_catalog, drive, graph, shortest_paths
from tests.support.world import START, Officer, World, make_memory_world, seeded

D = dt.date.fromisoformat


@pytest.fixture
def world() -> World:
    return make_memory_world(workflow=CaseWorkflow())


def test_the_root_publishes_and_republishes_a_year(world: World) -> None:
    world.clerk.append(world.root, "calendar_published", seed_year("510000", 2026).to_body())
    calendar = world.app.registry.calendars.for_place("510000", "510104")
    assert not calendar.is_working_day(D("2026-02-16")) and calendar.is_working_day(D("2026-02-14"))
    corrected = {**seed_year("510000", 2026).to_body(), "holidays": ["2026-02-16"]}
    world.clerk.append(world.root, "calendar_published", corrected)
    calendar = world.app.registry.calendars.for_place("510000", "510104")
    assert not calendar.is_working_day(D("2026-02-16"))
    assert calendar.is_working_day(D("2026-02-17"))  # the replacement, not a union


def test_a_body_key_may_not_publish_a_calendar(world: World) -> None:
    with pytest.raises(RegistryError) as error:
        world.clerk.append(
            world.body_keys["510104-RS"], "calendar_published", seed_year("510000", 2026).to_body()
        )
    assert (error.value.reason, error.value.field) == ("not_entitled", "kid")
    assert world.app.registry.calendars.years() == []


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        ({"holidays": ["2026-02-14"]}, "bad_calendar", "body.holidays"),  # a Saturday
        ({"workdays": ["2026-02-16"]}, "bad_calendar", "body.workdays"),  # a Monday
        ({"divisions": ["320100"]}, "bad_calendar", "body.divisions"),  # Jiangsu's
        ({"source": None}, "malformed", "body.source"),
    ],
)
def test_a_bad_calendar_is_refused_naming_the_field(
    world: World, change: dict[str, object], reason: str, field: str
) -> None:
    body = {**seed_year("510000", 2026).to_body(), **change}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(LedgerError) as error:
        world.clerk.append(world.root, "calendar_published", body)
    assert (error.value.reason, error.value.field) == (reason, field)


def test_only_a_head_officer_extends_a_permit_case(world: World) -> None:
    online = COMBOS[0]
    amend_catalog(world, [{"item": online.item, "field": "item_type", "value": "行政许可"}])
    head = seeded("officer/510104-RS/head")
    world.clerk.certify_officer(
        world.body_keys["510104-RS"],
        "510104-RS",
        "rs-head",
        head.public_key,
        valid_from=START,
        head=True,
    )
    world.officers["rs-head"] = Officer("510104-RS", "rs-head", head)
    assert world.app.registry.is_head(head.key_id)

    case = LedgerCase(world, online)
    drive(case, shortest_paths(graph("online", "single"))["accepted"])
    body = {"working_days": 10, "approval": "head_of_body", "reason": "需现场核查"}
    with pytest.raises(NotEntitled) as refused:
        case.take("rs-001", "extended", body)
    assert refused.value.field == "kid"
    case.take("rs-head", "extended", body)
    assert case.flow.extended_days == 10
    with pytest.raises(LedgerError) as over:
        case.take("rs-head", "extended", {**body, "working_days": 1})
    assert over.value.field == "body.working_days"


def test_head_must_be_a_boolean(world: World) -> None:
    other = seeded("officer/510104-RS/x")
    body = {
        "public_key": other.public_key,
        "key_suite": "ed25519-sha256",
        "valid_from": START,
        "body_id": "510104-RS",
        "officer_id": "rs-x",
        "head": "yes",
    }
    with pytest.raises(MalformedEncoding) as error:
        world.clerk.append(world.body_keys["510104-RS"], "officer_certified", body)
    assert error.value.field == "body.head"


def test_legs_of_a_cases_entries_equal_the_ledger_wide_reading(world: World) -> None:
    """What a projection following the ledger index computes per case is what
    ``tongban supervise cases`` computes over the whole ledger."""
    from ledger.supervision.cases import legs_of_entries, supervise_ledger

    world.clerk.append(world.root, "calendar_published", seed_year("510000", 2026).to_body())
    case_id = world.online_case()
    entries = [e for e in world.app.entries_after(0, 10_000) if e.stream_id == case_id]
    registry = world.app.registry
    one = legs_of_entries(case_id, entries, registry.catalogs, registry.calendars)
    (whole,), _ = supervise_ledger(world.app)
    assert one == whole and one.legs
