"""Liveness: answers while the process serves."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """The node is up."""
    return {"status": "ok"}
