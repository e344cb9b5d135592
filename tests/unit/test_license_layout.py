"""The license service's shape (issue 15): the service in ``licenses`` over the ports it
declares, the stores in ``adapters``, no module of ``licenses`` or ``api`` over 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"ledger", "licenses", "adapters", "api", "tests", "tools", "benchmarks"}


def _imported_packages(path: Path) -> set[str]:
    """Our top-level packages ``path`` imports, at any depth (function-level imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize(
    "path", sorted((ROOT / "licenses").glob("*.py")), ids=lambda path: path.name
)
def test_licenses_imports_only_ledger_and_itself(path: Path) -> None:
    assert _imported_packages(path) <= {"ledger", "licenses"}


def test_the_license_service_is_not_in_adapters() -> None:
    assert not (ROOT / "adapters" / "license_service.py").exists()
    assert (ROOT / "licenses" / "service.py").exists()


@pytest.mark.parametrize("package", ["licenses", "api"])
def test_no_module_is_over_600_lines(package: str) -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in (ROOT / package).rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert long == {}
