"""The committed ``openapi.json`` is the API the code serves."""

from __future__ import annotations

import json
from pathlib import Path

from tools.export_openapi import TARGET, render


def test_committed_openapi_is_current() -> None:
    assert TARGET.exists(), "openapi.json is missing: run tools/export_openapi.py"
    assert TARGET.read_text() == render(), "openapi.json is stale: run tools/export_openapi.py"


def test_errors_are_documented_as_problem_json() -> None:
    document = json.loads(Path(TARGET).read_text())
    post_cases = document["paths"]["/cases"]["post"]["responses"]
    for status in ("401", "403", "409", "413", "422"):
        assert "application/problem+json" in post_cases[status]["content"]


def test_routes_that_reach_the_database_declare_503_with_retry_after() -> None:
    document = json.loads(Path(TARGET).read_text())
    for path, method in (
        ("/cases", "post"),
        ("/cases/{case_id}/events", "post"),
        ("/audit/events", "get"),
        ("/catalog/{region}", "get"),
        ("/licenses/verify", "post"),
    ):
        answer = document["paths"][path][method]["responses"]["503"]
        assert "database_unavailable" in answer["description"]
        assert "Retry-After" in answer["headers"]
        assert "application/problem+json" in answer["content"]
    # Every route this node serves reads its services (ledger, tokens, vault): all may be 503.
    undeclared = [
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "503" not in operation["responses"]
    ]
    assert undeclared == []
