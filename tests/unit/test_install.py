"""The runtime install is lean: OpenCV (QR read-back) is the ``qr`` extra, ``make serve``
installs the runtime only, and ``license scan`` without OpenCV says how to install it."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
import segno

from api.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        project: dict[str, object] = tomllib.load(handle)["project"]
    return project


def test_opencv_is_only_in_the_qr_extra() -> None:
    project = _project()
    extras = project["optional-dependencies"]
    assert isinstance(extras, dict)
    runtime = " ".join(project["dependencies"])  # type: ignore[arg-type]
    assert "opencv" not in runtime
    assert [d for d in extras["qr"] if d.startswith("opencv")] == extras["qr"]
    assert not any("opencv" in d for d in extras["dev"])
    # The tests read QR codes back: the dev extra pulls in the qr one.
    assert any(d.startswith("tongban[") and "qr" in d for d in extras["dev"])


def _recipe(makefile: str, target: str) -> tuple[str, str]:
    """``(prerequisites, recipe)`` of ``target`` in the Makefile's text."""
    match = re.search(rf"^{re.escape(target)}:(.*)\n((?:\t.*\n)*)", makefile, re.MULTILINE)
    assert match is not None, target
    return match.group(1).strip(), match.group(2)


def test_make_serve_installs_the_runtime_and_make_test_the_dev_extras() -> None:
    makefile = (ROOT / "Makefile").read_text()
    serve, _ = _recipe(makefile, "serve")
    _, runtime_recipe = _recipe(makefile, "$(VENV)/runtime.stamp")
    _, dev_recipe = _recipe(makefile, "$(VENV)/dev.stamp")
    assert serve == "$(VENV)/runtime.stamp"
    # The runtime and the outbox's small client (nats-py: `serve --outbox`); never the dev or
    # QR extras (OpenCV, hundreds of MB).
    assert "pip install --quiet -e '.[outbox]'\n" in runtime_recipe
    assert "dev" not in runtime_recipe.replace("dev.stamp", "") and "qr" not in runtime_recipe
    # A venv whose dev install is current is not reinstalled (nor downgraded) by `serve`.
    assert "test $(VENV)/dev.stamp -nt pyproject.toml ||" in runtime_recipe
    assert "pip install --quiet -e '.[dev]'" in dev_recipe
    for target in ("test", "lint", "bench"):
        assert _recipe(makefile, target)[0] == "$(VENV)/dev.stamp"


def test_license_scan_without_opencv_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "code.png"
    segno.make("TB1:HELLO", micro=False).save(str(image), kind="png", scale=4)
    monkeypatch.setitem(sys.modules, "cv2", None)  # as if OpenCV were not installed
    assert main(["license", "scan", str(image)]) == 64
    out, err = capsys.readouterr()
    assert out == ""
    assert "pip install 'tongban[qr]'" in err
    assert "Traceback" not in err


def test_key_files_are_never_committed() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "*.key" in ignored and "var/" in ignored
