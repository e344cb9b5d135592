"""Report messages in the national 办件 shape (docs/reporting.md), built and verified offline."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.outbox import report_builder
from ledger.errors import LedgerError, MalformedEncoding
from ledger.report_verify import ReportVerifier
from ledger.reporting import (
    KINDS,
    ReportBuilder,
    ReportMessage,
    parse_report,
    promise_date,
)
from ledger.workflow import CaseWorkflow
from tests.support.world import World, make_memory_world

ACCEPT = {"accept_state", "accept_body", "accept_officer", "accept_time"}
HEADER = {
    "project_no", "item_code", "item_name", "task_code", "catalog_version", "applicant_type",
    "applicant_ref", "channel", "jurisdiction", "home_body", "received_time", "promise_limit",
    "promise_date", "step", "time", "handler_body", "handler_officer",
}  # fmt: skip


@pytest.fixture
def world() -> World:
    world = make_memory_world(workflow=CaseWorkflow())
    world.online_case()
    return world


def _messages(world: World) -> list[ReportMessage]:
    builder = report_builder(world.app)
    return [builder.message(e) for e in world.app.entries_after(0, 10_000)]


def _verifier(world: World) -> ReportVerifier:
    return ReportVerifier(
        world.app.trusted_roots, region=world.region, ledger_name=world.app.ledger_name
    )


def test_every_index_has_one_message_of_a_known_kind(world: World) -> None:
    messages = _messages(world)
    assert [m.index for m in messages] == list(range(1, world.app.store.max_index() + 1))
    assert {m.kind for m in messages} <= set(KINDS)
    case = [m for m in messages if m.record is not None]
    assert [m.kind for m in case] == [
        "accept", "process", "accept", "special_procedure", "special_procedure", "result",
        "process", "process", "process", "result",
    ]  # fmt: skip
    assert all(m.kind == "key" for m in messages if m.record is None)


def test_records_carry_the_national_fields(world: World) -> None:
    case = [m for m in _messages(world) if m.record is not None]
    for message in case:
        assert message.record is not None and set(message.record) >= HEADER
        assert message.record["project_no"] == str(message.stream)
        assert message.record["item_code"] == "510000/1/5"
        assert message.record["applicant_ref"].startswith("ap_")
    received, accepted = case[0].record, case[2].record
    assert received is not None and accepted is not None
    assert set(received) >= ACCEPT and received["accept_state"] == "received"
    assert accepted["accept_state"] == "accepted"
    suspended, resumed = case[3].record, case[4].record
    assert suspended is not None and resumed is not None
    assert suspended["procedure_type"] == "hearing" and suspended["procedure_end"] is None
    assert resumed["procedure_start"] == suspended["procedure_start"]
    assert resumed["procedure_end"] == resumed["time"]
    decided, delivered = case[5].record, case[9].record
    assert decided is not None and delivered is not None
    assert decided["result"] == "approved" and decided["rating"] is None
    assert delivered["result"] == "approved" and delivered["delivery_method"] == "post"
    process = case[1].record
    assert process is not None and process["step"] == "form_checked:pass"
    assert process["step_start"] == received["time"] and process["step_end"] == process["time"]


def test_records_name_the_applicant_by_reference_only(world: World) -> None:
    for message in _messages(world):
        if message.record is None:
            continue
        text = json.dumps(message.record, ensure_ascii=False)
        # Neither the commitments nor any field that could hold a name or ID number.
        assert "commitments" not in text and "id_number" not in text
        assert not {"name", "applicant_name", "applicant_id"} & set(message.record)
        assert message.record["applicant_ref"] == "ap_" + "a" * 26


def test_a_message_is_the_same_bytes_whoever_builds_it(world: World) -> None:
    warm = _messages(world)
    cold = ReportBuilder(world.app.ledger_name, report_builder(world.app).case_history)
    for message in reversed(warm):  # each from the ledger alone, nothing remembered
        entry = world.app.entries_after(message.index - 1, 1)[0]
        assert cold.message(entry).to_bytes() == message.to_bytes()
        assert parse_report(message.to_bytes()) == message


def test_the_platform_verifies_every_message_in_order(world: World) -> None:
    verifier = _verifier(world)
    for message in _messages(world):
        verifier.verify(parse_report(message.to_bytes()))
    assert verifier.held == 0


def _tampered(message: ReportMessage, **changes: Any) -> ReportMessage:
    return dataclasses.replace(message, **changes)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: _tampered(m, index=m.index + 1), "index"),
        (lambda m: _tampered(m, seq=m.seq + 1), "seq"),
        (lambda m: _tampered(m, record={**m.record, "time": "2020-01-01T00:00:00+08:00"}),
         "record.time"),
        (lambda m: _tampered(m, record={**m.record, "handler_officer": "someone"}),
         "record.handler_officer"),
        (lambda m: _tampered(m, kind="process"), "kind"),
        (lambda m: _tampered(m, record=None), "record"),
        (lambda m: _tampered(m, envelope=m.envelope[:-1] + bytes([m.envelope[-1] ^ 1])), None),
        (lambda m: _tampered(m, receipt=m.receipt[:-1] + bytes([m.receipt[-1] ^ 1])), None),
    ],
)  # fmt: skip
def test_a_tampered_message_is_refused(world: World, change: Any, field: str | None) -> None:
    messages = _messages(world)
    verifier = _verifier(world)
    for message in messages[:-1]:
        verifier.verify(message)
    with pytest.raises(LedgerError) as refused:
        verifier.verify(change(messages[-1]))
    if field is not None:
        assert refused.value.field == field


def test_a_key_record_dressed_as_a_case_step_is_refused(world: World) -> None:
    messages = _messages(world)
    with pytest.raises(LedgerError) as refused:
        _verifier(world).verify(_tampered(messages[0], kind="process"))
    assert refused.value.field == "kind"


def test_an_event_before_its_keys_is_refused(world: World) -> None:
    messages = _messages(world)
    first_case = next(m for m in messages if m.record is not None)
    with pytest.raises(LedgerError):
        _verifier(world).verify(first_case)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (b"not json", "message"),
        (b"[]", "message"),
        (b'{"format": "other"}', "format"),
    ],
)
def test_malformed_messages_name_the_field(document: bytes, field: str) -> None:
    with pytest.raises(MalformedEncoding) as refused:
        parse_report(document)
    assert refused.value.field == field


def test_unknown_fields_and_bad_kinds_are_refused(world: World) -> None:
    document = json.loads(_messages(world)[-1].to_bytes())
    with pytest.raises(MalformedEncoding) as refused:
        parse_report(json.dumps({**document, "name": "x"}).encode())
    assert refused.value.field == "name"
    with pytest.raises(MalformedEncoding) as refused:
        parse_report(json.dumps({**document, "kind": "other"}).encode())
    assert refused.value.field == "kind"


def test_promise_date_counts_calendar_days_only() -> None:
    received = 1_767_225_600_000_000  # 2026-01-01T08:00:00+08:00
    assert promise_date(received, "15日") == "2026-01-16"
    assert promise_date(received, "3天") == "2026-01-04"
    assert promise_date(received, "20个工作日") is None
    assert promise_date(received, "") is None


VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "report" / "messages.json"


def test_the_vectors_are_what_the_generator_makes() -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "tools" / "make_report_vectors.py"
    spec = importlib.util.spec_from_file_location("make_report_vectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0


def test_a_platform_verifies_the_vectors_from_the_root_key_alone() -> None:
    vector = json.loads(VECTORS.read_text(encoding="utf-8"))
    verifier = ReportVerifier(
        {vector["region"]: bytes.fromhex(vector["root_public_key"])},
        region=vector["region"],
        ledger_name=vector["ledger"],
    )
    kinds = []
    for item in vector["messages"]:
        message = parse_report(item["message"].encode())
        assert item["subject"] == f"tongban.ledger.{vector['region']}.{message.index}"
        assert message.to_bytes() == item["message"].encode()  # canonical form
        verifier.verify(message)
        kinds.append(message.kind)
    assert verifier.held == 0
    assert {"key", "accept", "process", "special_procedure", "result"} == set(kinds)
