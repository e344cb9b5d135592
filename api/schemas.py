"""Request and response bodies (``XCreate`` in, ``XPublic`` out)."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from ledger.application import Appended
from ledger.read_models import RatedCase


class HeadPublic(BaseModel):
    seq: int = Field(description="the case's newest seq")
    hash: str = Field(description="hex hash of the newest envelope (the next step's prev)")


class RelayPublic(BaseModel):
    """A step this node relayed to its home ledger (``docs/relay.md``), no personal data."""

    state: str = Field(
        description="queued, held (authentication refused: waits for an operator), accepted, "
        "conflict, refused or dropped (by an operator)"
    )
    home_ledger: str
    case_id: str
    seq: int
    step: str
    body: str = Field(description="the body whose officer signed the step")
    event_hash: str = Field(description="hex hash of the step's exact bytes")
    relayed_at: int = Field(description="when the step reached this node (the relay receipt)")
    relay_receipt: str = Field(description="this node's signed relay receipt, base64")
    attempts: int
    detail: str = Field(description="the home node's refusal, or the last delivery failure")
    home_receipt: str | None = Field(default=None, description="the home node's receipt")
    home_index: int | None = None
    home_head: HeadPublic | None = Field(default=None, description="home head on a conflict")
    applicant_here: str | None = Field(
        default=None,
        description="a received step's applicant at this node: kept (encrypted, while the step "
        "waits) or erased (once it is settled); null: the step carries none",
    )


class RelayPage(BaseModel):
    steps: list[RelayPublic]


class AppendedPublic(BaseModel):
    case_id: str
    seq: int
    index: int = Field(description="dense ledger index")
    created: bool = Field(description="false when these exact bytes were already stored")
    head: HeadPublic
    receipt: str = Field(description="the node's signed receipt, base64")
    relay: RelayPublic | None = Field(
        default=None, description="a step relayed to its home node: the relay, as it stands"
    )

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
    200: {"model": AppendedPublic, "description": "already stored: the original receipt"},
    202: {
        "description": "a step for another region's ledger, queued at this node with its "
        "relay receipt while the home node cannot be reached (docs/relay.md)"
    },
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
    ledger: str = Field(default="", description="the case's home ledger (sign its steps for it)")
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
    as_of: int = Field(description="the ledger index this listing reflects (at least)")
    next_after: str | None = Field(
        default=None, description="pass as `after` for the next page (None: this was the last)"
    )


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
    checked: int = Field(0, description="case events checked so far")
    total: int = Field(
        0, description="objects the ledger held when the audit started (registry records too)"
    )
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


def document_unavailable(document: dict[str, Any], operations: set[tuple[str, str]]) -> None:
    """Declare the 503 ``database_unavailable`` answer (with ``Retry-After``) on each
    ``(path, method)`` in ``operations``: the routes that reach the node's database."""
    for path, method in operations:
        operation = document.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            continue
        responses = operation.setdefault("responses", {})
        also = responses.get("503", {}).get("description", "")  # the route's own 503, if any
        responses["503"] = {
            "description": "the node's database is unreachable (reason `database_unavailable`); "
            "nothing was done: repeat the same request after Retry-After seconds"
            + (f"; or {also}" if also else ""),
            "headers": {
                "Retry-After": {
                    "description": "seconds to wait before repeating the request",
                    "schema": {"type": "integer"},
                }
            },
            "content": {PROBLEM_JSON: {"schema": dict(_PROBLEM_REF)}},
        }


# -- licenses ------------------------------------------------------------------------------


class LicensePrepare(BaseModel):
    case: str = Field(description="the case the license results from (UUID)")
    identifier: str = Field(description="the GB/T 36904 identifier the issuer chose")


class StatusEntryPublic(BaseModel):
    list: str
    index: int


class LicensePreparePublic(BaseModel):
    case: str
    identifier: str
    ledger: str
    status: StatusEntryPublic = Field(description="the status list entry held for it")
    holder_commitment: str = Field(description="base64: the case applicant's id_number commitment")
    delivered_seq: int | None = Field(description="the case's newest delivered step")
    jurisdiction: str


class LicenseIssue(BaseModel):
    event: str = Field(description="the officer-signed license_issued envelope, base64")
    document: str = Field(description="the license document draft (issuance_index 0), base64")


class LicenseDocumentPut(BaseModel):
    document: str = Field(description="the issued license document, base64")


class LicenseDocumentPublic(BaseModel):
    identifier: str
    issuance_index: int
    digest: str = Field(description="hex license digest (docs/license.md §2)")


class LicensePublic(BaseModel):
    identifier: str
    state: str = Field(description="issued, suspended, reinstated or revoked (the ledger's)")
    status: str = Field(description="valid, suspended or revoked (the status list's)")
    type: str
    issuer_body: str
    status_list: str
    status_index: int
    issuance_index: int
    last_index: int
    head: HeadPublic = Field(description="the license stream's head (to sign the next change)")
    valid_from: str
    valid_until: str
    scope: list[str] = Field(description="what this read opened beyond status")
    metadata: dict[str, Any] | None = None
    face: dict[str, str] | None = None
    document: str | None = Field(default=None, description="the signed document, base64")
    grant_uses_left: int | None = None


class GrantCreate(BaseModel):
    holder_code: str = Field(min_length=1, max_length=32, description="the holder's ID, checked")
    audience_region: str = Field(pattern=r"^[1-9][0-9]{5}$")
    audience_body: str = Field(default="", max_length=64, description="empty: any of the region")
    scope: list[str] = Field(min_length=1, description="metadata, face, document")
    purpose: str = Field(min_length=1, max_length=200)
    # Strict: JSON ``true`` is not the number 1 (pydantic would take it), as in every signed
    # format (docs/envelope.md §1.1).
    expires_at: StrictInt = Field(ge=0, description="µs UTC")
    uses: StrictInt = Field(ge=1, le=1000)


class GrantPublic(BaseModel):
    grant_id: str
    grant: str = Field(description="the signed grant, base64: send it as the Tongban-Grant header")


class LicenseUsePublic(BaseModel):
    identifier: str
    kind: str
    subject: str
    purpose: str
    scope: str
    grant_id: str
    at: str


class LicenseVerify(BaseModel):
    license: str | None = Field(default=None, description="the compact TB1: text")
    document: str | None = Field(default=None, description="or the full document, base64")
    holder_code: str | None = Field(default=None, max_length=32, description="the holder's ID")
    online: StrictBool = Field(default=True, description="ask the issuing node for live status")
    # StrictInt: ``true`` is not a number of seconds (pydantic would take it as 1).
    max_status_age: StrictInt | None = Field(
        default=None,
        ge=0,
        description="seconds: the oldest status list (by issued_at) accepted; older leaves "
        "the status unknown (status_unavailable)",
    )


class ListUsedPublic(BaseModel):
    id: str = Field(description="the status list's id, or the trust list's region")
    version: int
    issued_at: int = Field(description="µs UTC")
    valid_until: int = Field(description="µs UTC; past it the list says nothing")


class VerdictPublic(BaseModel):
    valid: bool
    primary: str | None
    failed: list[str]
    status_source: str | None = Field(
        default=None,
        description="online (the issuer answered), status_list (a held list did), or null: "
        "unknown, status_detail says why",
    )
    status_detail: str | None = None
    status_list: ListUsedPublic | None = Field(
        default=None, description="the held status list consulted, and how old it is"
    )
    trust_lists: list[ListUsedPublic] = Field(
        default_factory=list, description="the trust list versions the verdict used"
    )
    online_detail: str | None = Field(
        default=None,
        description="an online status was asked for and the issuer gave none: why (the held "
        "list, if any, answered instead)",
    )


class TrustListPublic(BaseModel):
    region: str
    version: int


# -- ratings (好差评) and rectification --------------------------------------------------------

RatingLevel = Literal[
    "very_satisfied", "satisfied", "basically_satisfied", "dissatisfied", "very_dissatisfied"
]


class RatingCreate(BaseModel):
    """An applicant's rating with the receipt slip's one-time code (the code is the credential)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=40, description="the code printed on the receipt slip")
    level: RatingLevel
    channel: Literal["online", "code"] = Field(
        default="online", description="online (the web) or code (a kiosk, an SMS link)"
    )
    comment: str | None = Field(
        default=None, max_length=500, description="free text; personal data is refused"
    )


class StagePublic(BaseModel):
    name: str = Field(description="verify (核实), rectify (整改), follow_up (回访), close")
    started: str = Field(description="ISO date, China time")
    deadline: str = Field(description="ISO date, China time")
    working_days_allowed: int
    ended: str | None
    provisional: bool = Field(
        description="the deadline is counted through a year with no published calendar "
        "(weekends only); it is recounted once the year is published"
    )


class RectificationPublic(BaseModel):
    case_id: str
    item: str
    level: str
    rated: str = Field(description="ISO date the 差评 was received, China time")
    late: bool
    stages: list[StagePublic]

    @classmethod
    def fields_of(cls, rated: RatedCase, as_of: date) -> dict[str, Any]:
        """The fields of a stored 差评's rectification judged at ``as_of``."""
        return {
            "case_id": str(rated.case_id),
            "item": rated.item,
            "level": rated.level,
            "rated": rated.rated.isoformat(),
            "late": rated.late(as_of),
            "stages": [StagePublic.model_validate(s.as_dict()) for s in rated.stages],
        }


class BodyRatingsPublic(BaseModel):
    body: str
    as_of: str = Field(description="ISO date, China time")
    reflects: int = Field(
        description="the ledger index the ratings read model reflects (at least); 0 on a "
        "node without read models (replayed from the ledger)"
    )
    calendar: str = Field(description="the working-day calendar deadlines are counted on")
    ratings: int
    distribution: dict[str, int]
    rectifications_open: int
    rectifications_late: int
    rectifications_closed: int
    open_rectifications: list[RectificationPublic]


class ContactPublic(BaseModel):
    """What a follow-up call (回访) needs; the read is logged like every personal-data read."""

    case_id: str
    name: str
    phone: str | None
