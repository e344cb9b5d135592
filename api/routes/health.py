"""Health: the node serves and its database answers; which node it is."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from adapters.outage import probe_database
from api.deps import Services
from api.schemas import problem_responses

router = APIRouter(tags=["health"])


class HealthPublic(BaseModel):
    status: str = Field(description='"ok": the node serves and its database answered')
    ledger: str = Field(description="the ledger this node keeps, e.g. tongban/510000")
    region: str = Field(description="this node's region code")
    node_key_id: str | None = Field(
        description="kid of the key that signs this node's receipts and checkpoints "
        "(tells this node from another answering on the same address)"
    )


@router.get("/health", response_model=HealthPublic, responses=problem_responses(503))
def health(node: Services) -> HealthPublic:
    """The node is up and its database answers a query within about two seconds; otherwise
    503 ``database_unavailable`` with ``Retry-After``."""
    ledger = node.ledger
    probe_database(ledger.recorder)
    signer = ledger.node_signer
    return HealthPublic(
        status="ok",
        ledger=ledger.ledger_name,
        region=ledger.home_region,
        node_key_id=signer.key_id if signer is not None else None,
    )
