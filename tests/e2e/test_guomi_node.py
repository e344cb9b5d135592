r"""A ``guomi`` node end to end (issue 19), as ``docs/walkthroughs/guomi.md`` walks it:
Sichuan's demo node built with ``--suite sm2-sm3`` has only SM2 keys and an SM4-GCM vault,
serves, audits clean, and issues a 社会保障卡 that Jiangsu — an Ed25519 node that ``tongban
init`` made ``international`` from its own Ed25519 root — verifies online and offline, from
Sichuan's SM2-signed trust list and its own Ed25519-signed one. The commands (``--server``,
``--demo`` and the files are this test's)::

    T=.venv/bin/tongban
    $T demo --cases 20 --seed 1 --data-dir var/gm-sc --suite sm2-sm3   # Sichuan: every key SM2
    K=var/gm-sc/demo-keys; S=http://127.0.0.1:8000; J=http://127.0.0.1:8001
    jq -r .crypto_profile var/gm-sc/node.json                         # guomi
    $T keys generate var/gm-keys/rs-license.key --suite sm2-sm3       # 锦江区人社局's license key
    $T keys certify-license-key --data-dir var/gm-sc --root-key $K/root-510000.key \
        --body-id 510104-RS --license-key var/gm-keys/rs-license.key
    $T license trust-list publish --data-dir var/gm-sc --root-key $K/root-510000.key \
        --issuer-code 510104-RS=11510104MB0000123N --accept 11100000TB0000010H001=510000
    $T keys generate var/gm-keys/js-root.key --suite ed25519-sha256   # Jiangsu's own root
    $T init --data-dir var/gm-js --region 320000 --root-key var/gm-keys/js-root.key
    jq -r .crypto_profile var/gm-js/node.json                         # international
    $T keys trust --data-dir var/gm-js --trust-region 510000 \
        --public-key $(jq -r '."510000"' var/gm-sc/trust.json)        # Sichuan's SM2 root
    $T license trust-list publish --data-dir var/gm-js --root-key var/gm-keys/js-root.key \
        --accept 11100000TB0000010H001=320000,510000
    $T serve --data-dir var/gm-sc --port 8000 &
    $T serve --data-dir var/gm-js --port 8001 &
    $T license fetch --data-dir var/gm-js --server $S --list 510000-1  # keys, trust, status
    echo "申请表" > var/gm-form.txt
    W="--server $S --demo var/gm-sc --as 320105-zwfw-01"  # 南京建邺 window
    H="--server $S --demo var/gm-sc --as 510104-rs-01"    # 成都锦江 人社局
    P="--server $S --demo var/gm-sc --as 320105-zwfw-02"  # the window again
    CASE=$($T case receive $W --item 510000/2/23 --channel proxy \
        --home-body 510104-RS --jurisdiction 510104 \
        --applicant-name 张三 --applicant-id 11010519491231002X \
        --material 申请表=var/gm-form.txt | jq -r .case_id)
    $T case check   $CASE $W
    $T case mail    $CASE $W --leg window_to_home --tracking EMS1000000001CN
    $T case arrive  $CASE $H
    $T case accept  $CASE $H
    $T case decide  $CASE $H --result approved --basis 社会保障卡管理办法
    $T case mail    $CASE $H --leg home_to_window --tracking EMS1000000002CN
    $T case arrive  $CASE $P
    LIC=$($T license id --case $CASE --type 11100000TB0000010H001 \
        --issuer-code 11510104MB0000123N)
    $T case deliver $CASE $P --method at_window --result-ref $LIC
    $T license issue $CASE --identifier $LIC $H --license-key var/gm-keys/rs-license.key \
        --face card_no=A12345678 --out-dir var/gm-lic       # an SM2-signed license
    TEXT=$($T license scan var/gm-lic/*.png)                # the TB1: text, from the QR image
    $T license verify "$TEXT" --online $J                   # valid (exit 0), checked by Jiangsu
    $T license trust-list get --server $S --out var/gm-sc-trust.bin   # signed by SM2
    $T license trust-list get --server $J --out var/gm-js-trust.bin   # signed by Ed25519
    $T license status-list get --server $S --list 510000-1 --out var/gm-sc-status.bin
    OFF="--offline --data-dir var/gm-js --trust-list var/gm-sc-trust.bin \
        --trust-list var/gm-js-trust.bin --status-list var/gm-sc-status.bin"
    $T license verify "$TEXT" $OFF                           # valid, no network
    kill %1 %2; wait
    $T audit verify --data-dir var/gm-sc                     # clean: every signature SM2
    $T audit verify --data-dir var/gm-js                     # clean
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.keyfiles import read_key
from api.cli import main
from ledger.notes import NOTE_SM2, key_id, parse_note
from tests.support.license_regions import issue_card, prepare_regions
from tests.support.live import live_node
from tests.support.walkthrough import assert_walkthrough_shows


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

    assert_walkthrough_shows("guomi.md", __doc__)
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
    # Jiangsu is an Ed25519 node: init took the profile of its Ed25519 root.
    assert read_key(js / "node.key").suite == "ed25519-sha256"
    assert json.loads((js / "node.json").read_text())["crypto_profile"] == "international"
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
    code, out, err = _run(capsys, "audit", "verify", "--data-dir", str(js))
    assert code == 0 and "clean" in out, err
    note = parse_note((sc / "last-checkpoint.note").read_text())
    node_key = read_key(sc / "node.key")
    assert [s.key_id for s in note.signatures] == [
        key_id("tongban/510000", NOTE_SM2, node_key.public_key)
    ]
