"""``/audit``: the raw signed ledger for independent verifiers, and verification reports."""

from __future__ import annotations

import base64
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from api.deps import Caller, MinIndex, Services, require
from api.errors import ApiProblem
from api.schemas import (
    AccessPublic,
    EntryPage,
    EntryPublic,
    FindingPublic,
    JobPublic,
    ReportPublic,
    problem_responses,
)
from ledger.application import LedgerApplication
from ledger.audit import AuditReport, verify_case, verify_ledger
from ledger.transparency import TreeError

log = logging.getLogger("tongban.audit")
MAX_KEPT_JOBS = 20
ANSWER_WAIT_SECONDS = 2.0  # small ledgers answer with the report at once
# "Is an audit running? No: start one" as one step, or two requests at once start two.
_START_LOCK = threading.Lock()
MAX_INDEX = 2**63 - 1  # the largest ledger index the databases store
MAX_OFFSET = 10**9  # records of the access log skipped by a page at most
# A reader as the access log names it: a body or principal, or ``body/officer``.
READER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}(/[A-Za-z0-9][A-Za-z0-9._:-]{0,63})?$"
P = TypeVar("P")

router = APIRouter(prefix="/audit", tags=["audit"], responses=problem_responses(401, 403, 404, 422))


def report_public(report: AuditReport) -> ReportPublic:
    return ReportPublic(
        ok=report.ok,
        events=report.events,
        cases=report.cases,
        findings=[FindingPublic(**f.as_dict()) for f in report.findings],
    )


@router.get(
    "/events",
    response_model=EntryPage,
    summary="signed envelopes and receipts in ledger-index order (no personal data)",
)
def events(
    node: Services,
    caller: Caller,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="last ledger index already read")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    min_index: MinIndex = 0,
) -> EntryPage:
    require(caller, "auditor", "admin", "peer")
    entries = node.reader("audit", min_index=min_index).entries_after(after, limit)
    return EntryPage(
        entries=[
            EntryPublic(
                index=e.index,
                stream_id=str(e.stream_id),
                seq=e.seq,
                envelope=base64.b64encode(e.envelope).decode(),
                receipt=base64.b64encode(e.receipt).decode(),
            )
            for e in entries
        ],
        next_after=entries[-1].index if len(entries) == limit else None,
    )


@router.get(
    "/cases/{case_id}", response_model=ReportPublic, summary="verification report of one case"
)
def audit_case(case_id: uuid.UUID, node: Services, caller: Caller) -> ReportPublic:
    require(caller, "auditor", "admin")
    node.ledger.get_case(case_id)  # 404 for an unknown case
    return report_public(verify_case(node.ledger, case_id, applicants=node.applicants))


@dataclass
class Job:
    job_id: str
    status: str = "running"
    report: AuditReport | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    checked: int = 0  # case events checked so far (only the audit's thread adds to it)
    total: int = 0  # objects stored when it started, registry records included

    def progress(self, count: int) -> None:
        self.checked += count


def _jobs(request: Request) -> dict[str, Job]:
    jobs: dict[str, Job] = request.app.state.audit_jobs
    return jobs


def recent_jobs(request: Request, caller: Principal) -> list[JobPublic]:
    """This process's kept audit jobs, newest first (for the auditors' page)."""
    require(caller, "auditor", "admin")
    return [_public(job) for job in reversed(list(_jobs(request).values()))]


def _public(job: Job) -> JobPublic:
    return JobPublic(
        job_id=job.job_id,
        status=job.status,
        checked=job.checked,
        total=job.total,
        report=report_public(job.report) if job.report else None,
        error=job.error,
    )


@router.post(
    "/verify",
    response_model=JobPublic,
    status_code=202,
    summary="verify the whole ledger (a job to poll)",
)
def start_verify(request: Request, node: Services, caller: Caller) -> JobPublic:
    require(caller, "auditor", "admin")
    jobs = _jobs(request)
    with _START_LOCK:
        running = next((j for j in jobs.values() if j.status == "running"), None)
        if running is not None:  # one whole-ledger audit at a time: join the running one
            return _public(running)
        for old in list(jobs)[:-MAX_KEPT_JOBS]:
            del jobs[old]
        job = Job(uuid.uuid4().hex)
        jobs[job.job_id] = job

    def run() -> None:
        try:
            # a standby within the audit's staleness; the report states what it covered
            ledger = node.reader("audit")
            job.total = ledger.store.max_index()
            job.report = verify_ledger(ledger, applicants=node.applicants, progress=job.progress)
            job.status = "done"
        except Exception:  # reported to the poller without internals; logged in full
            log.exception("audit job %s failed", job.job_id)
            job.status, job.error = "failed", "the audit could not complete; see the node's log"
        finally:
            job.done.set()

    threading.Thread(target=run, name=f"audit-{job.job_id}", daemon=True).start()
    job.done.wait(timeout=ANSWER_WAIT_SECONDS)
    return _public(job)


@router.get("/jobs/{job_id}", response_model=JobPublic, summary="an audit job's status")
def job_status(job_id: str, request: Request, caller: Caller) -> JobPublic:
    require(caller, "auditor", "admin")
    job = _jobs(request).get(job_id)
    if job is None:
        raise ApiProblem(404, f"no audit job {job_id}", reason="not_found")
    return _public(job)


class AccessLogPage(BaseModel):
    """One page of the personal-data access log, newest first."""

    records: list[AccessPublic]
    total: int = Field(description="records matching the filters, over every page")
    offset: int = Field(description="records skipped before this page")


@router.get(
    "/access",
    response_model=AccessLogPage,
    summary="the personal-data access log of every case: who read, when, why (newest first)",
)
def access_log(
    node: Services,
    caller: Caller,
    case: Annotated[uuid.UUID | None, Query(description="only this case's reads")] = None,
    reader: Annotated[
        str | None,
        Query(
            pattern=READER_PATTERN,
            max_length=200,
            description="only this reader's reads: `body/officer` as logged, or a body",
        ),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AccessLogPage:
    # What GET /cases/{id}/access shows auditors, for every case at once; never supervisors:
    # who read a person's data is about that person.
    require(caller, "auditor", "admin")
    records, total = node.access.access_log(
        case_id=None if case is None else str(case), reader=reader, offset=offset, limit=limit
    )
    return AccessLogPage(
        records=[AccessPublic(**vars(r)) for r in records], total=total, offset=offset
    )


# -- the log: checkpoints and proofs (docs/transparency.md) -----------------------------------

CHECKPOINT_MEDIA_TYPE = "text/plain; charset=utf-8"
_CHECKPOINT_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/plain": {}}, "description": "a signed note (C2SP tlog-checkpoint)"}
}


class InclusionProofPublic(BaseModel):
    """RFC 9162 inclusion proof of a ledger index; leaf ``index - 1`` of the tree."""

    index: int = Field(description="ledger index (1-based)")
    size: int = Field(description="tree size the proof is for")
    leaf_hash: str = Field(description="base64 SHA-256(0x00 || event hash)")
    proof: list[str] = Field(description="base64 hashes, bottom-up")


class ConsistencyProofPublic(BaseModel):
    """RFC 9162 consistency proof between two tree sizes."""

    model_config = ConfigDict(populate_by_name=True)

    from_: int = Field(alias="from", description="the older tree size")
    to: int = Field(description="the newer tree size")
    proof: list[str] = Field(description="base64 hashes")


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


def _proved(node: NodeServices, size: int, prove: Callable[[LedgerApplication], P]) -> P:
    """``prove`` on a standby that holds ``size`` objects, else on the primary. A standby's
    stored tree can be shorter than its rows (the tree grows after the rows): a proof it
    cannot give yet is asked of the primary, which answers for every size it holds."""
    ledger = node.reader("proofs", min_index=size)
    try:
        return prove(ledger)
    except TreeError:
        if ledger is node.ledger:
            raise
        return prove(node.ledger)


def _out_of_range(error: TreeError, fields: dict[str, str]) -> ApiProblem:
    """A tree refusal as a 422 naming the query parameter the caller used."""
    field = fields.get(error.field or "", error.field)
    return ApiProblem(422, error.detail, reason=error.reason, field=field)


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    responses=_CHECKPOINT_RESPONSE,
    summary="the latest signed checkpoint (public: checkpoints are meant to be gossiped)",
)
def latest_checkpoint(node: Services) -> PlainTextResponse:
    note = node.ledger.latest_checkpoint()
    if note is None:
        raise ApiProblem(404, "no checkpoint has been issued yet", reason="no_checkpoint")
    return PlainTextResponse(note.render(), media_type=CHECKPOINT_MEDIA_TYPE)


@router.post(
    "/checkpoint",
    response_class=PlainTextResponse,
    responses=_CHECKPOINT_RESPONSE,
    summary="issue a checkpoint of the whole ledger now (admin)",
)
def issue_checkpoint(node: Services, caller: Caller) -> PlainTextResponse:
    require(caller, "admin")
    return PlainTextResponse(
        node.ledger.issue_checkpoint().render(), media_type=CHECKPOINT_MEDIA_TYPE
    )


@router.get(
    "/proof/inclusion",
    response_model=InclusionProofPublic,
    summary="inclusion proof of a ledger index in the tree of a given size (public)",
)
def inclusion_proof(
    node: Services,
    event: Annotated[int, Query(ge=1, le=MAX_INDEX, description="ledger index (1-based)")],
    size: Annotated[int, Query(ge=1, le=MAX_INDEX, description="tree size")],
) -> InclusionProofPublic:
    if event > size:
        raise ApiProblem(
            422, f"event {event} is beyond tree size {size}", reason="out_of_range", field="event"
        )
    try:
        proof, leaf = _proved(
            node,
            size,
            lambda ledger: (ledger.inclusion_proof(event, size), ledger.leaf_hash(event)),
        )
    except TreeError as error:
        raise _out_of_range(error, {"index": "event"}) from error
    return InclusionProofPublic(
        index=event, size=size, leaf_hash=base64.b64encode(leaf).decode(), proof=_b64(proof)
    )


@router.get(
    "/proof/consistency",
    response_model=ConsistencyProofPublic,
    summary="consistency proof between two tree sizes (public)",
)
def consistency_proof(
    node: Services,
    from_: Annotated[int, Query(alias="from", ge=1, le=MAX_INDEX, description="older size")],
    to: Annotated[int, Query(ge=1, le=MAX_INDEX, description="newer tree size")],
) -> ConsistencyProofPublic:
    if from_ > to:
        raise ApiProblem(
            422, f"from {from_} is greater than to {to}", reason="out_of_range", field="from"
        )
    try:
        proof = _proved(node, to, lambda ledger: ledger.consistency_proof(from_, to))
    except TreeError as error:
        raise _out_of_range(error, {"size1": "from", "size2": "to"}) from error
    return ConsistencyProofPublic.model_validate({"from": from_, "to": to, "proof": _b64(proof)})
