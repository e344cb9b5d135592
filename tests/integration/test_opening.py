"""Opening a case (``ledger.opening.CaseOpening``) and the audit's applicant findings, on
SQLite and PostgreSQL: the service's rules, and what the audit reports of a case opened
around them (``docs/audit.md``, applicant findings)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from adapters.applicants import NodeApplicants, open_node_applicants
from adapters.bootstrap import open_ledger
from ledger.audit import POLICY, REASONS, verify_case, verify_ledger
from ledger.envelope import ZERO_HASH, parse_event
from ledger.errors import LedgerError
from ledger.opening import APPLICANT_REASONS, ApplicantNotYours, CaseOpening, CommitmentMismatch
from ledger.personal import PersonalData
from ledger.workflow import CaseWorkflow
from tests.support.world import World, make_world, world_applicants

ZHANG = PersonalData(name="张三", id_number="11010519491231002X")
NOW = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sqlite":
        made = make_world(tmp_path, workflow=CaseWorkflow())
    else:
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
        made = make_world(tmp_path, database_url=url, schema=schema, workflow=CaseWorkflow())
    yield made
    made.app.close()


def _received(world: World, applicant: dict[str, Any], case_id: uuid.UUID | None = None) -> Any:
    """An online ``received`` step of 510104-RS (officer rs-001) naming ``applicant``."""
    body = world.received_body("510000/1/5", "online")
    body["applicant"] = applicant
    raw = world.event(world.officers["rs-001"], case_id or uuid.uuid4(), 1, ZERO_HASH, body=body)
    return parse_event(raw)


def _stored(applicants: NodeApplicants, body: str = "510104-RS") -> dict[str, Any]:
    stored = applicants.store(ZHANG, body=body, now=NOW)
    return {"ref": stored.ref, "commitments": dict(stored.commitments)}


def test_a_case_opens_with_its_own_stored_applicant_and_binds_it(world: World) -> None:
    applicants = world_applicants(world)
    opening = CaseOpening(world.app, applicants)
    envelope = _received(world, _stored(applicants))
    assert opening.open(envelope).created is True
    assert opening.open(envelope).created is False  # the same bytes again: the receipt
    record = applicants.applicant_record(envelope.body["applicant"]["ref"])
    assert record is not None and record.case_id == str(envelope.case_id)


def test_another_bodys_ref_and_foreign_commitments_are_refused_and_nothing_is_held(
    world: World,
) -> None:
    applicants = world_applicants(world)
    opening = CaseOpening(world.app, applicants)
    before = world.app.store.max_index()
    theirs = _stored(applicants, body="510000-ZWFW")
    with pytest.raises(ApplicantNotYours) as refused:
        opening.open(_received(world, theirs))
    assert (refused.value.reason, refused.value.field) == (
        "applicant_not_yours",
        "body.applicant.ref",
    )
    mine = _stored(applicants)
    zeros = {"ref": mine["ref"], "commitments": dict.fromkeys(mine["commitments"], bytes(32))}
    with pytest.raises(CommitmentMismatch) as mismatch:
        opening.open(_received(world, zeros))
    assert mismatch.value.field == "body.applicant.commitments"
    assert world.app.store.max_index() == before
    record = applicants.applicant_record(mine["ref"])
    assert record is not None and record.case_id is None


def test_a_case_the_ledger_refuses_releases_its_claim(world: World) -> None:
    applicants = world_applicants(world)
    opening = CaseOpening(world.app, applicants)
    applicant = _stored(applicants)
    body = world.received_body("510000/3/3", "online")  # pending: the ledger refuses it
    body["applicant"] = applicant
    raw = world.event(world.officers["rs-001"], uuid.uuid4(), 1, ZERO_HASH, body=body)
    with pytest.raises(LedgerError):
        opening.open(parse_event(raw))
    record = applicants.applicant_record(applicant["ref"])
    assert record is not None and record.case_id is None
    assert opening.open(_received(world, applicant)).created is True


def test_only_a_received_step_at_seq_1_opens_a_case(world: World) -> None:
    opening = CaseOpening(world.app, world_applicants(world))
    raw = world.event(world.officers["rs-001"], uuid.uuid4(), 1, ZERO_HASH, "noted", {})
    with pytest.raises(LedgerError) as refused:
        opening.open(parse_event(raw))
    assert (refused.value.reason, refused.value.field) == ("illegal_step", "type")


def test_the_audit_reports_cases_opened_around_the_rules(world: World) -> None:
    applicants = world_applicants(world)
    opening = CaseOpening(world.app, applicants)
    lawful = _received(world, _stored(applicants))
    opening.open(lawful)
    erased = _received(world, _stored(applicants))
    opening.open(erased)
    applicants.vault.erase(erased.body["applicant"]["ref"], now=NOW, reason="申请人要求")
    # Appended around the opening, as the route /cases/{id}/events once let them be:
    reused = _received(world, lawful.body["applicant"])
    mine = _stored(applicants)
    zeros = _received(
        world, {"ref": mine["ref"], "commitments": dict.fromkeys(mine["commitments"], bytes(32))}
    )
    placeholder = {
        "ref": "ap_" + "a" * 26,
        "commitments": {"name": bytes(32), "id_number": bytes(32)},
    }
    unknown = _received(world, placeholder)
    unbound = _received(world, _stored(applicants))
    for envelope in (reused, zeros, unknown, unbound):
        world.app.append_envelope(envelope)

    expected = {
        (str(reused.case_id), "applicant_reused"),
        (str(zeros.case_id), "applicant_unmatched"),
        (str(zeros.case_id), "applicant_unbound"),
        (str(unknown.case_id), "applicant_unmatched"),
        (str(unbound.case_id), "applicant_unbound"),
    }
    report = verify_ledger(world.app, applicants=applicants)
    assert {(f.case_id, f.reason) for f in report.findings} == expected
    assert {(f.kind, f.seq) for f in report.findings} == {(POLICY, 1)}
    assert report.exit_code == 2
    reuse = next(f for f in report.findings if f.reason == "applicant_reused")
    assert str(lawful.case_id) in reuse.detail

    assert verify_case(world.app, lawful.case_id, applicants=applicants).findings == []
    assert verify_case(world.app, erased.case_id, applicants=applicants).findings == []
    one = verify_case(world.app, unbound.case_id, applicants=applicants)
    assert [(f.reason, f.kind) for f in one.findings] == [("applicant_unbound", POLICY)]
    # A ledger copy alone (no applicants) cannot tell: no such finding.
    assert verify_ledger(world.app).exit_code == 0


def test_worker_processes_report_the_same_applicant_findings(world: World) -> None:
    applicants = world_applicants(world)
    opening = CaseOpening(world.app, applicants)
    lawful = _received(world, _stored(applicants))
    opening.open(lawful)
    world.app.append_envelope(_received(world, lawful.body["applicant"]))
    settings = world.settings
    assert settings is not None
    schema = settings.database_schema or None
    one = verify_ledger(world.app, applicants=applicants)
    several = verify_ledger(
        world.app,
        jobs=2,
        reopen=partial(open_ledger, settings, read_only=True),
        applicants=applicants,
        reopen_applicants=partial(
            open_node_applicants,
            settings.resolved_database_url(),
            settings.data_dir,
            schema=schema,
        ),
    )
    assert [f.as_dict() for f in several.findings] == [f.as_dict() for f in one.findings]
    assert [f.reason for f in one.findings] == ["applicant_reused"]


def test_the_applicant_reasons_are_documented_and_listed() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    for reason in APPLICANT_REASONS:
        assert reason in REASONS
        assert f"| `{reason}` |" in doc
