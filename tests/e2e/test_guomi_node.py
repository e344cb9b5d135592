"""A ``guomi`` node end to end (issue 19): Sichuan's demo node built with ``--suite sm2-sm3``
has only SM2 keys and an SM4-GCM vault, serves, audits clean, and issues a 社会保障卡 that
Jiangsu — an Ed25519 node under a root of its own — verifies online and offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.keyfiles import read_key
from api.cli import main
from ledger.notes import NOTE_SM2, key_id, parse_note
from tests.support.license_regions import issue_card, prepare_regions
from tests.support.live import live_node


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_guomi_node_serves_audits_and_its_license_verifies_in_an_ed25519_region(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def ok(*argv: str) -> str:
        code, out, err = _run(capsys, *argv)
        assert code == 0, f"{argv[:2]}: {err}"
        return out

    regions = prepare_regions(tmp_path, ok, suite="sm2-sm3")
    sc, js = regions.sc, regions.js
    # Every key of the guomi node is SM2: node, roots, bodies, officers, the license key.
    index = json.loads((regions.keys / "index.json").read_text())
    key_files = [sc / "node.key", regions.license_key]
    key_files += [sc / root["key_file"] for root in index["roots"].values()]
    for body in index["bodies"]:
        key_files += [sc / body["key_file"]] + [sc / o["key_file"] for o in body["officers"]]
    assert len(key_files) > 10
    assert {read_key(path).suite for path in key_files} == {"sm2-sm3"}
    assert json.loads((sc / "node.json").read_text())["crypto_profile"] == "guomi"
    # Jiangsu is an Ed25519 node.
    assert read_key(js / "node.key").suite == "ed25519-sha256"
    assert regions.certified["kid"] == read_key(regions.license_key).key_id

    code, out, err = _run(capsys, "audit", "verify", "--data-dir", str(sc))
    assert code == 0 and "clean" in out, err

    env = {"TONGBAN_DATABASE_URL": ""}
    with live_node(sc, env) as sc_url, live_node(js, env) as js_url:
        card = issue_card(regions, sc_url, ok)
        text = card.text

        def verify(*options: str) -> tuple[int, dict[str, object]]:
            code, out, err = _run(capsys, "license", "verify", text, *options, "--json")
            assert code in (0, 1), err
            return code, json.loads(out)

        code, online = verify("--online", js_url)
        assert (code, online["valid"], online["status_source"]) == (0, True, "online")
        files = {name: str(tmp_path / f"{name}.bin") for name in ("sc-trust", "js-trust", "st")}
        ok("license", "trust-list", "get", "--server", sc_url, "--out", files["sc-trust"])
        ok("license", "trust-list", "get", "--server", js_url, "--out", files["js-trust"])
        status_get = ("license", "status-list", "get", "--server", sc_url, "--list", "510000-1")
        ok(*status_get, "--out", files["st"])
        offline = ["--offline", "--data-dir", str(js), "--trust-list", files["sc-trust"]]
        offline += ["--trust-list", files["js-trust"], "--status-list", files["st"]]
        code, verdict = verify(*offline)
        assert (code, verdict["valid"], verdict["status_source"]) == (0, True, "status_list")

    # The checkpoint the guomi node signed is an SM2 note (type 0xff + long identifier).
    code, out, err = _run(capsys, "audit", "verify", "--data-dir", str(sc))
    assert code == 0 and "clean" in out, err
    note = parse_note((sc / "last-checkpoint.note").read_text())
    node_key = read_key(sc / "node.key")
    assert [s.key_id for s in note.signatures] == [
        key_id("tongban/510000", NOTE_SM2, node_key.public_key)
    ]
