"""``tongban demo`` and ``tongban catalog amend`` as a user runs them.

The acceptance check of the demo: a 1,000-case demo built from the command line audits clean.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from api.cli import main
from api.cli_amend import current_catalog
from ledger.catalog import load_catalog


class _Terminal(io.StringIO):
    """Standard input that claims to be a terminal, with the user's answer in it."""

    def isatty(self) -> bool:
        return True


def test_a_thousand_case_demo_audits_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = str(tmp_path / "demo")
    started = time.perf_counter()
    assert main(["demo", "--cases", "1000", "--seed", "7", "--data-dir", data_dir, "--json"]) == 0
    built = time.perf_counter()
    summary = json.loads(capsys.readouterr().out)
    assert summary["cases"] == 1000
    assert summary["missing_step_types"] == []
    assert main(["audit", "verify", "--data-dir", data_dir, "--json"]) == 0
    audited = time.perf_counter()
    report = json.loads(capsys.readouterr().out)
    assert report == {"ok": True, "events": summary["events"], "cases": 1000, "findings": []}
    # Printed with -s; the acceptance budget is about a minute for both.
    print(f"demo 1000 cases: build {built - started:.1f} s, audit {audited - built:.1f} s")


def test_demo_refuses_a_directory_that_is_not_a_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "node.key").write_text("00" * 32 + "\n")
    assert main(["demo", "--cases", "3", "--data-dir", str(tmp_path)]) == 64
    assert "no DEMO marker" in capsys.readouterr().err
    assert not (tmp_path / "DEMO").exists()


@pytest.fixture
def demo_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    data_dir = tmp_path / "demo"
    assert main(["demo", "--cases", "20", "--seed", "4", "--data-dir", str(data_dir)]) == 0
    capsys.readouterr()
    return data_dir


def _amend(demo_dir: Path, *extra: str) -> int:
    return main(
        [
            "catalog",
            "amend",
            "--region",
            "510000",
            "--item",
            "510000/1/5",
            "--field",
            "channels",
            "--value",
            "proxy,online",
            "--root-key",
            str(demo_dir / "demo-keys" / "root-510000.key"),
            "--data-dir",
            str(demo_dir),
            *extra,
        ]
    )


def _current_version(demo_dir: Path) -> str:
    app = open_ledger(Settings(data_dir=demo_dir, region="510000"))
    try:
        return current_catalog(app, "510000").version
    finally:
        app.close()


def test_amend_shows_the_diff_and_signs_only_when_confirmed(
    demo_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's own amendment (two 行政许可 items) is the version before this one.
    old = _current_version(demo_dir)
    assert old != load_catalog("510000").version

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal, no --yes
    assert _amend(demo_dir) == 64
    out, err = capsys.readouterr()
    assert "channels: online → online,proxy" in out
    assert f"catalog version: {old} → " in out
    assert "--yes" in err
    assert _current_version(demo_dir) == old

    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    assert _amend(demo_dir) == 1
    assert "not signed" in capsys.readouterr().err
    assert _current_version(demo_dir) == old

    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    assert _amend(demo_dir) == 0
    out = capsys.readouterr().out
    appended = json.loads(out[out.index('{"index"') :])  # after the prompt, on its line
    assert appended["old_version"] == old
    assert out.index("→") < out.index('"index"')  # the diff came before the signature
    assert _current_version(demo_dir) == appended["new_version"] != old


def test_amend_with_yes_signs_and_the_old_cases_still_verify(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _amend(demo_dir, "--yes") == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert _amend(demo_dir, "--yes") == 0  # the same value again: nothing to sign
    assert "nothing signed" in capsys.readouterr().out
    assert _current_version(demo_dir) == first["new_version"]

    assert main(["audit", "verify", "--data-dir", str(demo_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["cases"]) == (True, 20)
    # The catalog command (a different command) is untouched by catalog amend.
    assert main(["catalog", "--region", "510000", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 140


def test_amend_refuses_a_key_that_is_not_the_root(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = demo_dir / "demo-keys" / "root-320000.key"
    argv = ["catalog", "amend", "--region", "510000", "--item", "510000/1/5", "--field", "fee"]
    argv += ["--value", "免费", "--root-key", str(other), "--data-dir", str(demo_dir), "--yes"]
    assert main(argv) == 64
    assert "is not the current root key" in capsys.readouterr().err


def test_after_an_amendment_the_node_serves_and_pins_the_amended_catalog(
    demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``docs/walkthroughs/running-a-node.md``: amend, then serve and receive a case (issue 13)."""
    from tests.support.live import live_node
    from tests.support.walkthrough import WINDOW, receive_options

    assert _amend(demo_dir, "--yes") == 0
    new = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["new_version"]

    assert main(["catalog", "--region", "510000", "--data-dir", str(demo_dir)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"catalog version {new}")
    assert main(["catalog", "--region", "510000", "--data-dir", str(demo_dir), "--json"]) == 0
    item = next(i for i in json.loads(capsys.readouterr().out) if i["item_key"] == "510000/1/5")
    assert item["channels"] == ["online", "proxy"]

    form = tmp_path / "form.txt"
    form.write_text("申请表\n", encoding="utf-8")
    with live_node(demo_dir, {"TONGBAN_DATABASE_URL": ""}) as url:
        import httpx

        regions = {entry["region"]: entry for entry in httpx.get(f"{url}/catalog").json()}
        assert regions["510000"]["version"] == new
        listed = httpx.get(f"{url}/catalog/510000", params={"batch": 1})
        assert listed.headers["Catalog-Version"] == new
        assert next(i for i in listed.json() if i["seq"] == 5)["channels"] == ["online", "proxy"]
        one = httpx.get(f"{url}/catalog/510000/1/5")
        assert one.headers["Catalog-Version"] == new
        assert one.json()["channels"] == ["online", "proxy"]

        demo = ["--server", url, "--demo", str(demo_dir), "--as", WINDOW]
        code = main(["case", "receive", *demo, *receive_options(form)])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert json.loads(out)["created"] is True

        # Amended again while the node serves (the walkthrough's order): served and pinned at once.
        root = str(demo_dir / "demo-keys" / "root-510000.key")
        again = ["catalog", "amend", "--region", "510000", "--item", "510000/1/6"]
        again += ["--field", "status", "--value", "pending", "--root-key", root]
        assert main([*again, "--data-dir", str(demo_dir), "--yes"]) == 0
        newer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["new_version"]
        assert newer != new
        one = httpx.get(f"{url}/catalog/510000/2/23")
        assert one.headers["Catalog-Version"] == newer
        code = main(["case", "receive", *demo, *receive_options(form)])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert json.loads(out)["created"] is True
