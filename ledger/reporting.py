"""Reports to the provincial platform: one message per ledger index (normative: docs/reporting.md).

Every object the ledger accepted becomes one ``tongban/report/v1`` message: the exact signed
envelope and the node's receipt (what the platform verifies) beside a *record* in the shape
of the national 办件 reporting interface, derived from the envelope and from the case's earlier
steps: ``accept`` (收件, 受理, 不予受理), ``process`` (each handling step), ``special_procedure``
(特别程序: start at ``suspended``, end at ``resumed``) and ``result`` (办结: decided, delivered,
withdrawn). Key records and license events travel too (kinds ``key`` and ``license``, no
record): the platform builds its key registry from them, in index order.

A record is a pure function of the ledger up to its index, so the message of an index is the
same bytes whoever builds it and however often (replays publish the same message again).

No personal data: the applicant is named by the case's vault reference (``ap_...``), a
pseudonym, never by a masked name or ID number (docs/reporting.md, "Applicant identity").

Errors: :class:`ledger.errors.MalformedEncoding` (field named) for a message that is not one.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgpack

from ledger.catalog import CatalogError, find_item
from ledger.envelope import EVENT_CONTEXT, KEY_RECORD_CONTEXT, Envelope, parse_event
from ledger.errors import MalformedEncoding
from ledger.persistence import LedgerEntry
from ledger.workflow.fields import STEP_FIELDS

REPORT_FORMAT = "tongban/report/v1"
KINDS = ("accept", "process", "special_procedure", "result", "key", "license")
MESSAGE_FIELDS = frozenset(
    {"format", "ledger", "index", "stream", "seq", "kind", "record", "envelope", "receipt"}
)

_CHINA = timezone(timedelta(hours=8))
# Steps of the accept record (受理信息) and of the result record (办结信息); every other case
# step is a process record, but for the special procedure's two.
_ACCEPT_STATES = {"received": "received", "accepted": "accepted", "refused": "refused"}
_RESULT_STEPS = frozenset({"decided", "delivered", "withdrawn"})
_SPECIAL_STEPS = frozenset({"suspended", "resumed"})
# How the step's one routing field refines its name (``decided:approved``).
_REFINED_BY = {
    "form_checked": "result",
    "mailed": "leg",
    "decided": "result",
    "delivered": "method",
}
_LIMIT = re.compile(r"\s*(\d{1,3})\s*个?\s*(工作日|日|天)\s*")


def china_time(micros: int) -> str:
    """Epoch microseconds as ISO 8601 China time, to the second (``2026-01-05T09:00:00+08:00``)."""
    moment = datetime.fromtimestamp(micros // 1_000_000, UTC).astimezone(_CHINA)
    return moment.isoformat(timespec="seconds")


def promise_date(received_micros: int, time_limit: str) -> str | None:
    """承诺办结日期: the received day plus a limit in calendar days (``15日``, ``15天``); None for
    working days (``20个工作日``: holidays are not in the catalog) or no limit."""
    found = _LIMIT.fullmatch(time_limit or "")
    if found is None or found.group(2) == "工作日":
        return None
    day = datetime.fromtimestamp(received_micros // 1_000_000, UTC).astimezone(_CHINA).date()
    return (day + timedelta(days=int(found.group(1)))).isoformat()


@dataclass(frozen=True)
class ReportMessage:
    """One message: a ledger index, its record and the signed bytes that back it."""

    ledger: str
    index: int
    stream: uuid.UUID
    seq: int
    kind: str
    record: dict[str, Any] | None
    envelope: bytes
    receipt: bytes

    def to_bytes(self) -> bytes:
        """Compact JSON with sorted keys, UTF-8: the same message is always the same bytes."""
        document = {
            "format": REPORT_FORMAT,
            "ledger": self.ledger,
            "index": self.index,
            "stream": str(self.stream),
            "seq": self.seq,
            "kind": self.kind,
            "record": self.record,
            "envelope": base64.b64encode(self.envelope).decode(),
            "receipt": base64.b64encode(self.receipt).decode(),
        }
        return json.dumps(
            document, ensure_ascii=False, sort_keys=True, separators=(",", ":")
        ).encode()


def _field(document: Mapping[str, Any], name: str, kind: type) -> Any:
    value = document.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedEncoding(f"message field {name} must be {kind.__name__}", field=name)
    return value


def parse_report(data: bytes) -> ReportMessage:
    """A message's fields, shape checked (not its signatures: see the platform consumer)."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedEncoding(f"message is not JSON: {error}", field="message") from None
    if not isinstance(document, dict):
        raise MalformedEncoding("message is not a JSON object", field="message")
    unknown = sorted(set(document) - MESSAGE_FIELDS)
    if unknown:
        raise MalformedEncoding(f"unknown fields {unknown}", field=unknown[0])
    if document.get("format") != REPORT_FORMAT:
        raise MalformedEncoding(f"format must be {REPORT_FORMAT}", field="format")
    kind = _field(document, "kind", str)
    if kind not in KINDS:
        raise MalformedEncoding(f"kind must be one of {list(KINDS)}", field="kind")
    record = document.get("record")
    if record is not None and not isinstance(record, dict):
        raise MalformedEncoding("record must be an object or null", field="record")
    raw: dict[str, bytes] = {}
    for name in ("envelope", "receipt"):
        try:
            raw[name] = base64.b64decode(_field(document, name, str), validate=True)
        except ValueError:
            raise MalformedEncoding(f"{name} must be base64", field=name) from None
    try:
        stream = uuid.UUID(_field(document, "stream", str))
    except ValueError:
        raise MalformedEncoding("stream must be a UUID", field="stream") from None
    index, seq = _field(document, "index", int), _field(document, "seq", int)
    if index < 1 or seq < 1:
        raise MalformedEncoding("index and seq start at 1", field="index" if index < 1 else "seq")
    return ReportMessage(
        _field(document, "ledger", str),
        index,
        stream,
        seq,
        kind,
        record,
        raw["envelope"],
        raw["receipt"],
    )


def signed_context(raw: bytes) -> str:
    """The ``ctx`` of a signed object's content, without checking anything else."""
    try:
        content_bytes, _ = msgpack.unpackb(raw, raw=False)
        context = msgpack.unpackb(content_bytes, raw=False)["ctx"]
    except Exception:
        raise MalformedEncoding("envelope is not a signed object", field="envelope") from None
    return str(context)


def step_name(envelope: Envelope) -> str:
    """The step as the workflow names it, refined by its routing field (``decided:approved``)."""
    refined_by = _REFINED_BY.get(envelope.type)
    value = envelope.body.get(refined_by) if refined_by else None
    return f"{envelope.type}:{value}" if isinstance(value, str) else envelope.type


@dataclass
class _CaseFacts:
    """What later records of a case repeat from its earlier steps."""

    header: dict[str, Any]
    last_time: int
    suspended: tuple[str, int] | None = None  # the open special procedure: reason, start
    result: str | None = None


class ReportBuilder:
    """Builds each index's message; earlier steps of a case come from ``case_history`` (its
    exact envelopes in seq order) when they are not remembered from this run."""

    def __init__(
        self,
        ledger_name: str,
        case_history: Callable[[uuid.UUID], Sequence[bytes]],
        *,
        remember: int = 10_000,
    ):
        self.ledger_name = ledger_name
        self.case_history = case_history
        self.remember = remember
        self._facts: OrderedDict[tuple[uuid.UUID, int], _CaseFacts] = OrderedDict()

    def message(self, entry: LedgerEntry) -> ReportMessage:
        context = signed_context(entry.envelope)
        kind: str
        record: dict[str, Any] | None = None
        if context == KEY_RECORD_CONTEXT:
            kind = "key"
        elif context != EVENT_CONTEXT:
            raise MalformedEncoding(f"unexpected object {context!r}", field="ctx")
        else:
            envelope = parse_event(entry.envelope)
            if envelope.type not in STEP_FIELDS:
                kind = "license"
            else:
                kind, record = self._case_record(envelope)
        return ReportMessage(
            self.ledger_name,
            entry.index,
            entry.stream_id,
            entry.seq,
            kind,
            record,
            entry.envelope,
            entry.receipt,
        )

    # -- case records ----------------------------------------------------------------------

    def _facts_before(self, envelope: Envelope) -> _CaseFacts | None:
        """The case's facts after step ``seq - 1``: remembered, or replayed from its history."""
        if envelope.seq == 1:
            return None
        remembered = self._facts.pop((envelope.case_id, envelope.seq - 1), None)
        if remembered is not None:
            return remembered
        facts: _CaseFacts | None = None
        for raw in self.case_history(envelope.case_id):
            earlier = parse_event(raw)
            if earlier.seq >= envelope.seq:
                break
            facts = self._advance(facts, earlier)
        return facts

    def _case_record(self, envelope: Envelope) -> tuple[str, dict[str, Any]]:
        before = self._facts_before(envelope)
        after = self._advance(before, envelope)
        self._facts[(envelope.case_id, envelope.seq)] = after
        while len(self._facts) > self.remember:
            self._facts.popitem(last=False)
        return _record(envelope, before, after)

    @staticmethod
    def _advance(facts: _CaseFacts | None, envelope: Envelope) -> _CaseFacts:
        if facts is None:
            facts = _CaseFacts(_header(envelope), envelope.time)
        else:
            facts = _CaseFacts(facts.header, facts.last_time, facts.suspended, facts.result)
        if envelope.type == "suspended":
            facts.suspended = (str(envelope.body.get("reason")), envelope.time)
        elif envelope.type == "resumed":
            facts.suspended = None
        elif envelope.type == "decided":
            facts.result = str(envelope.body.get("result"))
        elif envelope.type == "reopened":
            facts.result = None
        facts.last_time = envelope.time
        return facts


def _header(received: Envelope) -> dict[str, Any]:
    """The fields every record of a case repeats, from its ``received`` step."""
    body = received.body
    item_key = str(body.get("item", ""))
    try:
        item = find_item(item_key)
        item_name, task_code, time_limit = item.national_name, item.item_code, item.time_limit
    except CatalogError:
        item_name, task_code, time_limit = "", "", ""
    applicant = body.get("applicant")
    ref = applicant.get("ref") if isinstance(applicant, dict) else None
    return {
        "project_no": str(received.case_id),
        "item_code": item_key,
        "item_name": item_name,
        "task_code": task_code or None,
        "catalog_version": body.get("catalog_version"),
        "applicant_type": "natural_person",
        "applicant_ref": ref,
        "channel": body.get("channel"),
        "jurisdiction": body.get("jurisdiction"),
        "home_body": body.get("home_body"),
        "received_time": china_time(received.time),
        "promise_limit": time_limit or None,
        "promise_date": promise_date(received.time, time_limit),
    }


def _record(
    envelope: Envelope, before: _CaseFacts | None, after: _CaseFacts
) -> tuple[str, dict[str, Any]]:
    record: dict[str, Any] = dict(after.header)
    record.update(
        {
            "step": step_name(envelope),
            "time": china_time(envelope.time),
            "handler_body": envelope.body_id,
            "handler_officer": envelope.officer_id,
        }
    )
    if envelope.type in _ACCEPT_STATES or step_name(envelope) == "form_checked:refused":
        state = _ACCEPT_STATES.get(envelope.type, "refused")
        record.update(accept_state=state, accept_body=envelope.body_id)
        record.update(accept_officer=envelope.officer_id, accept_time=record["time"])
        if state == "refused":
            record["reasons"] = list(envelope.body.get("reasons") or [])
        return "accept", record
    if envelope.type in _SPECIAL_STEPS:
        if envelope.type == "suspended":
            reason, start, end = str(envelope.body.get("reason")), envelope.time, None
        else:  # resumed: the procedure the case was in
            opened = before.suspended if before is not None else None
            reason, start = opened if opened is not None else ("unknown", envelope.time)
            end = envelope.time
        record.update(
            procedure_type=reason,
            procedure_reason=envelope.body.get("detail") or None,
            procedure_start=china_time(start),
            procedure_end=None if end is None else china_time(end),
        )
        return "special_procedure", record
    if envelope.type in _RESULT_STEPS:
        result = "withdrawn" if envelope.type == "withdrawn" else after.result
        record.update(
            result=result,
            result_time=record["time"],
            result_basis=envelope.body.get("basis"),
            delivery_method=envelope.body.get("method"),
            license_numbers=list(envelope.body.get("results") or []),
            rating=None,
        )
        return "result", record
    record.update(
        step_start=china_time(before.last_time if before is not None else envelope.time),
        step_end=record["time"],
    )
    return "process", record


def kind_of(envelope: Envelope) -> str:
    """The message kind of an event: decided by its step alone (docs/reporting.md §3.1)."""
    if envelope.type not in STEP_FIELDS:
        return "license"
    if envelope.type in _ACCEPT_STATES or step_name(envelope) == "form_checked:refused":
        return "accept"
    if envelope.type in _SPECIAL_STEPS:
        return "special_procedure"
    return "result" if envelope.type in _RESULT_STEPS else "process"


def check_record(message: ReportMessage, envelope: Envelope) -> None:
    """Refuse a record that contradicts its own envelope (what the envelope alone decides:
    case, step, time, handler). Raises :class:`MalformedEncoding` naming the field."""
    if message.kind != kind_of(envelope):
        raise MalformedEncoding(f"kind must be {kind_of(envelope)} for this step", field="kind")
    record = message.record
    if record is None:
        if message.kind != "license":
            raise MalformedEncoding(f"a {message.kind} message has no record", field="record")
        return
    if message.kind == "license":
        raise MalformedEncoding("a license message carries no record", field="record")
    expected = {
        "project_no": str(envelope.case_id),
        "step": step_name(envelope),
        "time": china_time(envelope.time),
        "handler_body": envelope.body_id,
        "handler_officer": envelope.officer_id,
    }
    for name, value in expected.items():
        if record.get(name) != value:
            raise MalformedEncoding(
                f"record.{name} differs from the envelope", field=f"record.{name}"
            )
