"""The layering as a contract: which of our packages may import which, and how long a module
may grow.

- ``ledger`` imports nothing of ours; ``licenses`` only ``ledger``; ``adapters`` anything but
  ``api``; ``api`` may import all four (HOUSE_STYLE.md, "Where things live").
- No module of the four packages is over :data:`MAX_LINES` lines.

Every import counts: at the top, inside functions, under ``if TYPE_CHECKING:``, relative ones
resolved against the importing module. A violation prints as ``module -> imported``.

``docs/architecture.md`` draws the same arrows and lists every module (``tools/architecture.py``);
it must equal what the tool generates now.

An accepted exception would be listed in :data:`KNOWN_IMPORTS` or :data:`KNOWN_LONG` with its
reason: the test fails on anything not listed, and on a listed entry that no longer holds. Both
lists are empty.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools import architecture

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Our packages, and the ones of ours each may import (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "ledger": frozenset(),
    "licenses": frozenset({"ledger"}),
    "adapters": frozenset({"ledger", "licenses"}),
    "api": frozenset({"ledger", "licenses", "adapters"}),
}
OURS = frozenset(ALLOWED)
MAX_LINES = 600

# Accepted exceptions to the contract, as "module -> imported", each with its reason: none.
KNOWN_IMPORTS: frozenset[str] = frozenset()

# Accepted modules over MAX_LINES, each with its reason: none.
KNOWN_LONG: frozenset[str] = frozenset()


def modules(root: Path = REPO_ROOT) -> Iterator[tuple[str, Path]]:
    """Every module of our four packages under ``root``: its dotted name and its file."""
    for package in sorted(ALLOWED):
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def imported_names(module: str, path: Path) -> Iterator[str]:
    """The dotted names ``path`` imports anywhere in its body, relative imports resolved."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                assert node.module is not None
                yield node.module
                continue
            # ``from . import x`` in a/b.py is a's x; in a/__init__.py it is a's x too.
            base = module.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            if node.module:
                yield ".".join([*base, node.module])
            else:
                yield from (".".join([*base, alias.name]) for alias in node.names)


def violations(root: Path = REPO_ROOT) -> list[str]:
    """``module -> imported`` for every import of ours the contract does not allow."""
    found = []
    for module, path in modules(root):
        package = module.split(".")[0]
        for name in imported_names(module, path):
            target = name.split(".")[0]
            if target in OURS and target != package and target not in ALLOWED[package]:
                found.append(f"{module} -> {name}")
    return sorted(set(found))


def long_modules(root: Path = REPO_ROOT) -> dict[str, int]:
    """Modules over :data:`MAX_LINES` lines, by path relative to ``root``."""
    counts = {
        path.relative_to(root).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for _, path in modules(root)
    }
    return {path: n for path, n in counts.items() if n > MAX_LINES}


def test_imports_point_inward() -> None:
    found = violations()
    new = [v for v in found if v not in KNOWN_IMPORTS]
    assert not new, "imports the layering forbids:\n" + "\n".join(new)


def test_every_known_import_violation_still_exists() -> None:
    gone = sorted(KNOWN_IMPORTS - set(violations()))
    assert not gone, "fixed: delete from KNOWN_IMPORTS:\n" + "\n".join(gone)


def test_no_module_is_over_the_size_limit() -> None:
    new = {path: n for path, n in long_modules().items() if path not in KNOWN_LONG}
    assert not new, "\n".join(f"{path}: {n} lines > {MAX_LINES}" for path, n in new.items())


def test_every_known_long_module_is_still_long() -> None:
    gone = sorted(KNOWN_LONG - set(long_modules()))
    assert not gone, "split or gone: delete from KNOWN_LONG:\n" + "\n".join(gone)


# -- the checker itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import api.cli", ["api.cli"]),
        ("from api import cli", ["api"]),
        ("def f():\n    from adapters.settings import Settings", ["adapters.settings"]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import api", ["typing", "api"]),
        ("from .errors import LedgerError", ["ledger.errors"]),
        ("from ..adapters import vault", ["adapters"]),
        ("from . import keys", ["ledger.keys"]),
    ],
)
def test_imported_names_sees_every_kind_of_import(
    tmp_path: Path, source: str, expected: list[str]
) -> None:
    path = tmp_path / "module.py"
    path.write_text(source + "\n", encoding="utf-8")
    assert list(imported_names("ledger.module", path)) == expected


def test_a_relative_import_in_a_package_init_resolves_to_the_package(tmp_path: Path) -> None:
    path = tmp_path / "__init__.py"
    path.write_text("from .errors import LicenseError\n", encoding="utf-8")
    assert list(imported_names("licenses", path)) == ["licenses.errors"]


def test_the_checker_reports_each_forbidden_arrow_and_nothing_allowed(tmp_path: Path) -> None:
    files = {
        "ledger/__init__.py": "",
        "ledger/clean.py": "import msgpack\nfrom ledger.errors import LedgerError\n",
        "ledger/late.py": "def f() -> None:\n    from licenses.errors import LicenseError\n",
        "licenses/__init__.py": "from ledger import canonical\n",
        "licenses/store.py": "from ..adapters import sqlstore\n",
        "adapters/__init__.py": "",
        "adapters/fine.py": "import ledger.keys\nimport licenses.trust\n",
        "adapters/up.py": "import api.errors\n",
        "api/__init__.py": "import adapters, ledger, licenses\n",
    }
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(source, encoding="utf-8")
    assert violations(tmp_path) == [
        "adapters.up -> api.errors",
        "ledger.late -> licenses.errors",
        "licenses.store -> adapters",
    ]


def test_the_size_guard_counts_lines(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "short.py").write_text("x = 1\n" * MAX_LINES, encoding="utf-8")
    (tmp_path / "api" / "long.py").write_text("x = 1\n" * (MAX_LINES + 1), encoding="utf-8")
    assert long_modules(tmp_path) == {"api/long.py": MAX_LINES + 1}


# -- docs/architecture.md ----------------------------------------------------------------------


def test_the_doc_draws_exactly_the_contract() -> None:
    assert {p: frozenset(targets) for p, targets in architecture.ALLOWED.items()} == ALLOWED
    drawn = architecture.diagram().splitlines()[1:]
    assert sorted(drawn) == sorted(f"    {p} --> {t}" for p, ts in ALLOWED.items() for t in ts)


def test_regenerating_equals_the_committed_doc() -> None:
    committed = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert committed == architecture.render(), (
        "docs/architecture.md is stale: run tools/architecture.py"
    )


def test_every_module_has_its_row() -> None:
    text = architecture.render()
    for module, _ in modules():
        assert f"| `{module}` | " in text, module


def test_check_mode_exits_1_on_a_stale_doc(tmp_path: Path) -> None:
    out = tmp_path / "architecture.md"
    assert architecture.main(["--check", "--out", str(out)]) == 1  # missing
    assert architecture.main(["--out", str(out)]) == 0
    assert architecture.main(["--check", "--out", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    assert architecture.main(["--check", "--out", str(out)]) == 1


def test_a_module_s_line_is_its_docstring_s_first_sentence(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(
        '"""Signed ``thing`` stores: one\nper backend. More.\n\nDetails."""\n', encoding="utf-8"
    )
    assert architecture.purpose(path) == "Signed `thing` stores"
    path.write_text('"""a | b, no sentence end\n\nrest."""\n', encoding="utf-8")
    assert architecture.purpose(path) == "a \\| b, no sentence end"
    path.write_text("x = 1\n", encoding="utf-8")
    assert architecture.purpose(path) == "—"
