"""Ratings on a real ledger: the node signs a rating made with the slip's code, wrong codes
are limited, the audit verifies node-signed steps, and the bulletin reads it all back."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime

import pytest

from adapters.calendar_seed import seed_year
from ledger.audit import verify_ledger
from ledger.bundle import build_bundle, verify_bundle
from ledger.envelope import build_event, parse_event
from ledger.errors import EnvelopeRejected, LedgerError, UnknownCase
from ledger.keys import NODE_OFFICER
from ledger.ratings.code import code_commitment
from ledger.ratings.service import CodeAttempts, RatingService, TooManyAttempts
from ledger.ratings.stats import (
    NO_DEADLINE_ENGINE,
    all_case_ratings,
    all_rated_cases,
    body_ratings,
    bulletin_of,
    calendar_name,
    monthly_bulletin,
    published_calendars,
)
from ledger.receipts import parse_receipt
from ledger.workflow import CaseWorkflow, SignedCoreOnly
from tests.support.world import World, make_memory_world

CODE = "7K3M-9QXW-2RTB-H4ZD"
DAY = 86_400


@pytest.fixture
def world() -> World:
    return make_memory_world(workflow=CaseWorkflow())


def delivered_case(world: World, *, code: str | None = CODE) -> uuid.UUID:
    case_id = uuid.uuid4()
    received = world.received_body("510000/1/5", "online")
    if code is not None:
        received["rating_code"] = code_commitment(case_id, code)
    world.run(
        case_id,
        [
            ("rs-001", "received", received),
            (
                "rs-001",
                "form_checked",
                {"result": "pass", "reasons": [], "identity_verified": True},
            ),
            ("rs-001", "accepted", {"note": ""}),
            ("rs-001", "decided", {"result": "approved", "reasons": [], "basis": "失业保险条例"}),
            ("rs-001", "delivered", {"method": "online", "results": []}),
        ],
    )
    return case_id


def officer_step(world: World, case_id: uuid.UUID, step: str, body: dict[str, object]) -> None:
    head = world.app.head(case_id)
    world.run(case_id, [("rs-001", step, body)], prev=head.event_hash, first_seq=head.seq + 1)


def test_a_code_rating_is_node_signed_and_verifies(world: World) -> None:
    case_id = delivered_case(world)
    ratings = RatingService(world.app)
    appended = ratings.rate_with_code(
        case_id, code=CODE.lower(), level="very_satisfied", comment="很好"
    )
    stored = world.app.get_case(case_id)
    assert stored.flow.rating == "rated"
    receipt = parse_receipt(appended.receipt)
    assert receipt.seq == 6
    envelope = world.app.stream_entries(case_id)[-1]
    assert envelope.index == appended.index

    rated = parse_event(envelope.envelope)
    assert rated.officer_id == NODE_OFFICER and rated.body_id == "510104-RS"
    assert world.app.node_signer is not None
    assert rated.key_id == world.app.node_signer.key_id
    assert CODE.replace("-", "") not in repr(rated.body)  # the proof, never the code
    report = verify_ledger(world.app)
    assert report.exit_code == 0, report.findings


def test_wrong_code_reused_code_and_rating_before_delivery(world: World) -> None:
    case_id = delivered_case(world)
    ratings = RatingService(world.app)
    with pytest.raises(LedgerError) as wrong:
        ratings.rate_with_code(case_id, code="AAAA-AAAA-AAAA-AAAA", level="satisfied")
    assert (wrong.value.reason, wrong.value.field) == ("bad_rating_code", "code")
    ratings.rate_with_code(case_id, code=CODE, level="satisfied")
    with pytest.raises(LedgerError) as reused:
        ratings.rate_with_code(case_id, code=CODE, level="very_satisfied")
    assert reused.value.reason == "illegal_step"
    assert "already rated" in reused.value.detail

    early = uuid.uuid4()
    received = world.received_body("510000/1/5", "online")
    received["rating_code"] = code_commitment(early, CODE)
    world.run(early, [("rs-001", "received", received)])
    with pytest.raises(LedgerError) as before:
        ratings.rate_with_code(early, code=CODE, level="satisfied")
    assert before.value.reason == "illegal_step"


def test_unknown_case_and_wrong_channel(world: World) -> None:
    ratings = RatingService(world.app)
    with pytest.raises(UnknownCase):
        ratings.rate_with_code(uuid.uuid4(), code=CODE, level="satisfied")
    with pytest.raises(EnvelopeRejected) as channel:
        ratings.rate_with_code(uuid.uuid4(), code=CODE, level="satisfied", channel="window")
    assert channel.value.field == "channel"


def test_wrong_codes_lock_the_case_for_a_while(world: World) -> None:
    case_id = delivered_case(world)
    ratings = RatingService(world.app, CodeAttempts(world.clock, limit=3))
    for _ in range(3):
        with pytest.raises(LedgerError) as wrong:
            ratings.rate_with_code(case_id, code="AAAA-AAAA-AAAA-AAAA", level="satisfied")
        assert wrong.value.reason == "bad_rating_code"
    with pytest.raises(TooManyAttempts) as locked:
        ratings.rate_with_code(case_id, code=CODE, level="satisfied")  # even the right one
    assert locked.value.retry_after > 0
    world.clock.advance(15 * 60 + 1)
    ratings.rate_with_code(case_id, code=CODE, level="satisfied")
    assert world.app.get_case(case_id).flow.rating == "rated"


def test_rectification_stats_and_bulletin(world: World) -> None:
    good = delivered_case(world)
    poor = delivered_case(world)
    RatingService(world.app).rate_with_code(good, code=CODE, level="satisfied")
    RatingService(world.app).rate_with_code(poor, code=CODE, level="very_dissatisfied")
    officer_step(world, poor, "rectification_verified", {"result": "upheld", "finding": "属实"})
    # Verified on 2026-01-01 (Thursday): rectify within 15 working days; 40 days later it is not.
    world.clock.advance(40 * DAY)
    [body] = body_ratings(all_rated_cases(world.app), date(2026, 2, 10))
    assert body.distribution["satisfied"] == 1 and body.distribution["very_dissatisfied"] == 1
    assert (body.rectifications_open, body.rectifications_late) == (1, 1)
    officer_step(world, poor, "rectified", {"measures": "整改"})
    officer_step(world, poor, "followed_up", {"outcome": "satisfied", "note": ""})
    officer_step(world, poor, "rectification_closed", {"note": ""})
    cases = all_case_ratings(world.app)
    [body] = body_ratings(all_rated_cases(world.app), date(2026, 2, 28))
    assert (body.rectifications_open, body.rectifications_closed) == (0, 1)
    january = monthly_bulletin(cases, "2026-01", calendar_name="test")
    [row] = january.rows
    assert row["body"] == "510104-RS" and row["item"] == "510000/1/5"
    assert (row["cases_received"], row["cases_closed"], row["ratings"]) == (2, 2, 2)
    assert row["satisfaction_rate"] == "0.5000"
    assert (row["rectifications_opened"], row["rectifications_open"]) == (1, 1)
    assert row["rectifications_late"] == 1
    assert row["on_time_rate"] == "" and NO_DEADLINE_ENGINE in january.notes  # no legs given
    [feb] = monthly_bulletin(cases, "2026-02", calendar_name="test").rows
    assert (feb["ratings"], feb["rectifications_closed"], feb["rectifications_open"]) == (0, 1, 0)
    # Nothing of the body and item counts in March: no row of zeros.
    assert monthly_bulletin(cases, "2026-03", calendar_name="test").rows == []
    # Reproducible: the same ledger gives the same bulletin.
    again = monthly_bulletin(all_case_ratings(world.app), "2026-01", calendar_name="test")
    assert again.rows == january.rows
    timed = bulletin_of(world.app, "2026-01")
    [timed_row] = timed.rows  # both cases ran their four legs within 2026-01-01
    assert (timed_row["legs_closed"], timed_row["on_time_rate"], timed_row["overdue"]) == (
        8,
        "1.0000",
        0,
    )


def test_the_audit_refuses_a_node_rating_without_the_code() -> None:
    """A node that signed a rating without the right code is caught by any auditor."""
    world = make_memory_world(workflow=SignedCoreOnly())  # stores what the rules would refuse
    case_id = delivered_case(world)
    head = world.app.head(case_id)
    assert world.app.node_signer is not None
    forged = build_event(
        world.app.node_signer,
        ledger=world.app.ledger_name,
        case_id=case_id,
        seq=head.seq + 1,
        event_type="rated",
        time=world.clock.now,
        body_id="510104-RS",
        officer_id=NODE_OFFICER,
        prev=head.event_hash,
        body={"level": "very_satisfied", "channel": "code", "code_proof": bytes(32)},
    )
    world.app.append_event(forged)
    world.app.workflow = CaseWorkflow()
    report = verify_ledger(world.app)
    [finding] = report.findings
    assert (finding.seq, finding.reason) == (6, "illegal_step")
    assert "bad_rating_code" in finding.detail


def test_a_bundle_with_a_node_signed_rating_verifies_offline(world: World) -> None:
    """Another province verifies the node's signature on a rating from the roots alone."""
    case_id = delivered_case(world)
    RatingService(world.app).rate_with_code(case_id, code=CODE, level="satisfied")
    world.app.issue_checkpoint()
    bundle = json.loads(json.dumps(build_bundle(world.app, case_id)))
    report = verify_bundle(
        bundle, trusted_roots={world.region: world.root.public_key}, min_witnesses=0
    )
    assert report.case_id == case_id and report.events == 6


def test_rectification_deadlines_count_the_calendar_the_root_published(world: World) -> None:
    """Rated Wed 2026-09-30 (China): with 2026 published, verify's 3 working days are 10-08,
    10-09 and the make-up Saturday 10-10; the bulletin names the calendar it counted on."""
    world.clerk.append(world.root, "calendar_published", seed_year("510000", 2026).to_body())
    world.clock.now = 1_790_704_800_000_000  # 2026-09-30T10:00:00+08:00
    poor = delivered_case(world)
    RatingService(world.app).rate_with_code(poor, code=CODE, level="dissatisfied")
    cases = all_case_ratings(world.app)
    [case] = [c for c in cases if c.case_id == poor]
    assert [(s.name, s.deadline, s.provisional) for s in case.stages] == [
        ("verify", date(2026, 10, 10), False)
    ]
    name = calendar_name(published_calendars(world.app), "510000")
    assert name == "published 510000 years 2026"
    made = monthly_bulletin(cases, "2026-09", calendar_name=name)
    assert any(name in note for note in made.notes)


def _china(day: str) -> int:
    return int(datetime.fromisoformat(f"{day}T10:00:00+08:00").timestamp()) * 1_000_000


def _accepted_on(world: World, day: str) -> uuid.UUID:
    world.clock.now = _china(day)
    case_id = uuid.uuid4()
    world.run(
        case_id,
        [
            ("rs-001", "received", world.received_body("510000/1/5", "online")),
            (
                "rs-001",
                "form_checked",
                {"result": "pass", "reasons": [], "identity_verified": True},
            ),
            ("rs-001", "accepted", {"note": ""}),
        ],
    )
    return case_id


def _step_on(world: World, day: str, case_id: uuid.UUID, step: str) -> None:
    world.clock.now = _china(day)
    body: dict[str, object] = (
        {"result": "approved", "reasons": [], "basis": "失业保险条例"}
        if step == "decided"
        else {"method": "online", "results": []}
    )
    officer_step(world, case_id, step, body)


def test_the_bulletins_time_limit_columns_are_the_engines_legs(world: World) -> None:
    """2026 published (Spring Festival: 02-16–02-20 and 02-23 off, Saturdays 02-14 and 02-28
    worked); 失业登记 is not 行政许可, so decision 15 and delivery 5 working days.

    A and B accepted Fri 02-13: decision due 03-12 (02-14, 02-24–02-28, 03-02–03-06,
    03-09–03-12). A decided Mon 03-09 (on time, 12 working days: 02-14, 02-24–02-28,
    03-02–03-06, 03-09), delivered 03-10 (due 03-16). B is never decided in March: overdue at
    the month's end. C accepted Mon 03-02: decision due 03-23; decided Thu 03-26 (late, 18
    days); its delivery (due 04-02) is open, not overdue, on 03-31.
    March, 510104-RS (intake and home): legs closed A decision, A delivery, C check, C
    acceptance, C decision: 5, 4 on time; overdue 1 (B); median of 12 and 18: 15."""
    world.clerk.append(world.root, "calendar_published", seed_year("510000", 2026).to_body())
    a, b = _accepted_on(world, "2026-02-13"), _accepted_on(world, "2026-02-13")
    c = _accepted_on(world, "2026-03-02")
    _step_on(world, "2026-03-09", a, "decided")
    _step_on(world, "2026-03-10", a, "delivered")
    _step_on(world, "2026-03-26", c, "decided")
    march = bulletin_of(world.app, "2026-03")
    [row] = march.rows
    assert (row["body"], row["item"]) == ("510104-RS", "510000/1/5")
    assert (row["legs_closed"], row["on_time_rate"], row["overdue"]) == (5, "0.8000", 1)
    assert row["median_handling_days"] == "15"
    assert (row["cases_received"], row["cases_closed"]) == (1, 1)
    [feb] = bulletin_of(world.app, "2026-02").rows  # A and B's check and acceptance legs
    assert (feb["legs_closed"], feb["on_time_rate"], feb["overdue"]) == (4, "1.0000", 0)
    assert feb["median_handling_days"] == ""
    # Reproducible: what happens in April does not change March's bulletin.
    _step_on(world, "2026-04-10", b, "decided")
    assert bulletin_of(world.app, "2026-03") == march
    assert any("end of 2026-03-31" in note for note in march.notes)
