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
