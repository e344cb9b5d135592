"""``/witness``: this node as a C2SP tlog-witness of other regions' logs, and its evidence.

``POST /witness/add-checkpoint`` speaks the protocol's text: no bearer token (the log's
signature on the checkpoint is the authentication), text answers, the status
``api.errors.witness_status`` maps each ``ledger.witness.WitnessError`` to, and for a stale
old size ``409`` with the witness's size as a ``text/x.tlog.size`` body. The logs it
witnesses and its name come from ``transparency.json``, read at each request so an edit
applies without a restart.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel

from adapters.bootstrap import NodeServices
from adapters.transparency_config import load_transparency_config
from api.deps import Caller, Services, require
from api.errors import ApiProblem, witness_status
from api.schemas import problem_responses
from ledger.witness import CheckpointWitness, StaleOldSize, WitnessError

TLOG_SIZE = "text/x.tlog.size"

router = APIRouter(prefix="/witness", tags=["witness"])


class EvidenceSummaryPublic(BaseModel):
    evidence_id: str
    origin: str
    kind: str
    kept_at: str


class EvidenceList(BaseModel):
    evidence: list[EvidenceSummaryPublic]


def _witness(request: Request, node: NodeServices) -> CheckpointWitness:
    signer = node.ledger.node_signer
    if signer is None:  # pragma: no cover - a serving node always holds its key
        raise ApiProblem(503, "this node holds no key to cosign with", reason="read_only")
    config = load_transparency_config(node.settings.data_dir, region=node.settings.region)
    return CheckpointWitness(
        config.witness_name,
        signer,
        config.log_keys(),
        node.witness_store(),
        pinned=config.pinned_checkpoints(),
    )


_TEXT_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {}}, "description": "the witness's cosignature line(s)"},
    400: {"content": {"text/plain": {}}, "description": "malformed, or old size > size"},
    403: {
        "content": {"text/plain": {}},
        "description": "no valid signature by the log's key, or no checkpoint pinned for the log",
    },
    404: {"content": {"text/plain": {}}, "description": "this witness does not witness the log"},
    409: {
        "content": {TLOG_SIZE: {}, "text/plain": {}},
        "description": "stale old size (body: the size last cosigned), or a fork (evidence kept)",
    },
    422: {"content": {"text/plain": {}}, "description": "the proof fails (nothing kept)"},
}


@router.post(
    "/add-checkpoint",
    response_class=PlainTextResponse,
    responses=_TEXT_ANSWERS,
    summary="cosign a log's checkpoint shown consistent with the last one cosigned (C2SP)",
    # Documented by hand: a declared body would make FastAPI parse it (as JSON when untyped).
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "old <size>, proof lines, a blank line, the signed checkpoint note",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def add_checkpoint(request: Request, node: Services) -> Response:
    raw = await request.body()
    witness = _witness(request, node)
    try:
        signatures = await run_in_threadpool(witness.add_checkpoint, raw)
    except StaleOldSize as error:
        # Exactly this media type (no charset): pushers match on it.
        return Response(f"{error.size}\n", status_code=409, headers={"Content-Type": TLOG_SIZE})
    except WitnessError as error:
        kept = f" (evidence {error.evidence})" if error.evidence else ""
        return PlainTextResponse(f"{error.reason}: {error.detail}{kept}\n", witness_status(error))
    return PlainTextResponse("".join(s.line() for s in signatures))


@router.get(
    "/evidence",
    response_model=EvidenceList,
    responses=problem_responses(401, 403),
    summary="evidence of misbehaving logs this witness kept",
)
def evidence_list(request: Request, node: Services, caller: Caller) -> EvidenceList:
    require(caller, "auditor", "admin")
    return EvidenceList(
        evidence=[
            EvidenceSummaryPublic(**vars(found)) for found in node.witness_store().evidence_list()
        ]
    )


@router.get(
    "/evidence/{evidence_id}",
    responses=problem_responses(401, 403, 404),
    summary="one evidence document (self-contained JSON; re-check it offline)",
)
def evidence_document(
    evidence_id: str, request: Request, node: Services, caller: Caller
) -> dict[str, Any]:
    require(caller, "auditor", "admin")
    document = node.witness_store().evidence(evidence_id)
    if document is None:
        raise ApiProblem(404, f"no evidence {evidence_id}", reason="not_found")
    return document
