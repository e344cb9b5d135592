"""Request and response bodies (``XCreate`` in, ``XPublic`` out)."""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ledger.application import Appended


class HeadPublic(BaseModel):
    seq: int = Field(description="the case's newest seq")
    hash: str = Field(description="hex hash of the newest envelope (the next step's prev)")


class AppendedPublic(BaseModel):
    case_id: str
    seq: int
    index: int = Field(description="dense ledger index")
    created: bool = Field(description="false when these exact bytes were already stored")
    head: HeadPublic
    receipt: str = Field(description="the node's signed receipt, base64")

    @classmethod
    def of(cls, appended: Appended) -> AppendedPublic:
        return cls(
            case_id=str(appended.stream_id),
            seq=appended.seq,
            index=appended.index,
            created=appended.created,
            head=HeadPublic(seq=appended.head.seq, hash=appended.head.event_hash.hex()),
            receipt=base64.b64encode(appended.receipt).decode(),
        )


# A repost of bytes already stored answers 200 with the original receipt (appends are
# idempotent); a new append answers 201.
REPOSTED: dict[int | str, dict[str, Any]] = {
    200: {"model": AppendedPublic, "description": "already stored: the original receipt"}
}


class ApplicantCreate(BaseModel):
    # An unknown field is refused, never dropped: it may be personal data sent under a wrong name.
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(min_length=1, max_length=32)
    phone: str = Field(default="", max_length=32)
    address: str = Field(default="", max_length=256)


class ApplicantPublic(BaseModel):
    ref: str
    commitments: dict[str, str] = Field(description="field → base64 HMAC-SHA256 commitment")


class StepPublic(BaseModel):
    seq: int
    step: str = Field(description="the step as the workflow table names it")
    body_id: str
    body_name: str
    officer_id: str
    claimed_at: str
    received_at: str
    since_previous_seconds: float | None
    signature: str = Field(description="valid, or the audit reasons for this step")


class CasePublic(BaseModel):
    case_id: str
    state: str
    item: str
    item_name: str
    channel: str
    coordination: str
    home_body: str
    intake_body: str
    origin_bodies: list[str]
    head: HeadPublic
    allowed_next: list[str]
    timeline: list[StepPublic]
    applicant: dict[str, Any] | None = Field(
        default=None, description="personal data in clear: bodies on the case, recorded"
    )


class CaseSummary(BaseModel):
    case_id: str
    state: str
    item: str
    channel: str
    home_body: str
    intake_body: str
    steps: int


class CasePage(BaseModel):
    page: int
    page_size: int
    total: int
    cases: list[CaseSummary]


class AccessPublic(BaseModel):
    case_id: str
    kind: str
    subject: str
    purpose: str
    fields: str
    at: str


class EntryPublic(BaseModel):
    index: int
    stream_id: str
    seq: int
    envelope: str = Field(description="exact signed bytes, base64")
    receipt: str = Field(description="the node's receipt, base64")


class EntryPage(BaseModel):
    entries: list[EntryPublic]
    next_after: int | None


class FindingPublic(BaseModel):
    case_id: str
    seq: int
    reason: str
    detail: str
    kind: str
    resolution: str | None = None


class ReportPublic(BaseModel):
    ok: bool
    events: int
    cases: int
    findings: list[FindingPublic]


class JobPublic(BaseModel):
    job_id: str
    status: str = Field(description="running, done or failed")
    report: ReportPublic | None = None
    error: str | None = None


class KeyPublic(BaseModel):
    kid: str
    role: str
    region: str
    owner: str
    officer_id: str
    suite: str
    public_key: str
    valid_from: int
    valid_until: int | None
    compromised_since: int | None


class RecordPublic(BaseModel):
    index: int
    region: str
    seq: int
    type: str
    record: str = Field(description="exact signed key record, base64")
    receipt: str


class KeysPublic(BaseModel):
    keys: list[KeyPublic]
    records: list[RecordPublic]


class BodyPublic(BaseModel):
    body_id: str
    name: str
    region: str
    org: dict[str, Any]
    current_kid: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error is answered."""

    type: str
    title: str
    status: int
    detail: str
    reason: str | None = None
    field: str | None = None
    head: HeadPublic | None = Field(default=None, description="409: the case's head now")


PROBLEM_JSON = "application/problem+json"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problems a route may answer."""
    return {
        status: {
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
            "description": "problem details (RFC 9457)",
        }
        for status in statuses
    }


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Describe every error answer as the node sends it: ``application/problem+json`` with
    the ``Problem`` schema. FastAPI puts a response model under ``application/json`` and adds
    its own 422 (``HTTPValidationError``), neither of which this node ever answers."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for answer in operation.get("responses", {}).values():
                content = answer.get("content", {})
                refs = {str(media.get("schema", {}).get("$ref", "")) for media in content.values()}
                if PROBLEM_JSON in content or "#/components/schemas/HTTPValidationError" in refs:
                    answer["content"] = {PROBLEM_JSON: {"schema": dict(_PROBLEM_REF)}}
                    answer["description"] = "problem details (RFC 9457)"
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document
