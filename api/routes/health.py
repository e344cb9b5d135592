"""Liveness: answers while the process serves."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Services

router = APIRouter(tags=["health"])


@router.get("/health")
def health(node: Services) -> dict[str, str]:
    """The node is up; which ledger and region it keeps."""
    return {"status": "ok", "ledger": node.ledger.ledger_name, "region": node.ledger.home_region}
