r"""The two-region license walkthrough (``docs/walkthroughs/licenses.md``), command by command.

Two nodes on loopback, each with its own data directory, database and keys: Sichuan (the demo
node, 510000) and Jiangsu (320000, initialized with the demo's Jiangsu root key). A Jiangsu
window's case is approved in Sichuan and yields a 社会保障卡; Jiangsu verifies it online and
offline from the text read back from the QR image; Sichuan revokes it; Jiangsu sees
``revoked`` online at once and offline once it refreshed the status list. The holder's grant
lets Jiangsu read the metadata, and Sichuan lists the use. The commands (``--server`` and
``--demo`` are this test's node URLs and directories)::

    T=.venv/bin/tongban
    $T demo --cases 20 --seed 1 --data-dir var/lic-sc               # Sichuan: the demo node
    K=var/lic-sc/demo-keys; S=http://127.0.0.1:8000; J=http://127.0.0.1:8001
    $T keys generate var/keys/rs-license.key                        # 锦江区人社局's license key
    $T keys certify-license-key --data-dir var/lic-sc --root-key $K/root-510000.key \
        --body-id 510104-RS --license-key var/keys/rs-license.key
    $T license trust-list publish --data-dir var/lic-sc --root-key $K/root-510000.key \
        --issuer-code 510104-RS=11510104MB0000123N --accept 11100000TB0000010H001=510000
    $T init --data-dir var/lic-js --region 320000 --root-key $K/root-320000.key  # Jiangsu
    $T keys trust --data-dir var/lic-js --trust-region 510000 \
        --public-key $(jq -r '."510000"' var/lic-sc/trust.json)
    $T license trust-list publish --data-dir var/lic-js --root-key $K/root-320000.key \
        --accept 11100000TB0000010H001=320000,510000
    JS_PEER=$($T token create --data-dir var/lic-sc --peer 320000 | jq -r .token)
    RS=$(jq -r '.bodies."510104-RS"' $K/tokens.json)
    $T serve --data-dir var/lic-sc --port 8000 &
    $T serve --data-dir var/lic-js --port 8001 &
    $T license fetch --data-dir var/lic-js --server $S --list 510000-1  # keys, trust, status
    echo "申请表" > form.txt
    W="--server $S --demo var/lic-sc --as 320105-zwfw-01"  # 南京建邺 window
    H="--server $S --demo var/lic-sc --as 510104-rs-01"    # 成都锦江 人社局
    P="--server $S --demo var/lic-sc --as 320105-zwfw-02"  # the window again
    CASE=$($T case receive $W --item 510000/2/23 --channel proxy \
        --home-body 510104-RS --jurisdiction 510104 \
        --applicant-name 张三 --applicant-id 11010519491231002X \
        --material 申请表=form.txt | jq -r .case_id)
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
    $T license issue $CASE --identifier $LIC $H --license-key var/keys/rs-license.key \
        --face card_no=A12345678 --out-dir var/lic           # var/lic/<serial>.{license,txt,png}
    TEXT=$($T license scan var/lic/*.png)                    # the TB1: text, from the image
    $T license verify "$TEXT" --online $J                    # valid (exit 0)
    $T license trust-list get --server $S --out sc-trust.bin
    $T license trust-list get --server $J --out js-trust.bin
    $T license status-list get --server $S --list 510000-1 --out sc-status.bin
    OFF="--offline --data-dir var/lic-js --trust-list sc-trust.bin --trust-list js-trust.bin"
    $T license verify "$TEXT" $OFF --status-list sc-status.bin   # valid, no network
    $T license show $LIC --server $S --token $JS_PEER        # status only
    $T license grant $LIC --server $S --token $RS --holder-id 11010519491231002X \
        --audience-region 320000 --scope metadata,face --purpose 就业登记核验 --out grant.txt
    $T license show $LIC --server $S --token $JS_PEER --grant grant.txt   # 张三, card_no ...
    $T license uses $LIC --server $S --token $RS             # both reads, by 320000
    $T license revoke $LIC $H --reason 挂失补办
    $T license verify "$TEXT" --online $J                    # exit 1: revoked
    $T license verify "$TEXT" $OFF --status-list sc-status.bin   # exit 1: older than var/js holds
    $T license status-list get --server $S --list 510000-1 --out sc-status.bin
    $T license verify "$TEXT" $OFF --status-list sc-status.bin   # exit 1: revoked
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from api.cli import main
from tests.support.license_regions import issue_card, prepare_regions, signer
from tests.support.live import live_node
from tests.support.walkthrough import HOLDER_ID, HOME, assert_walkthrough_shows


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_license_walkthrough_across_two_regions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def ok(*argv: str) -> str:
        code, out, err = _run(capsys, *argv)
        assert code == 0, f"{argv[:2]}: {err}"
        return out

    regions = prepare_regions(tmp_path, ok)
    assert regions.published["license_keys"] == [regions.certified["kid"]]
    assert regions.published["version"] == 1
    js_peer, rs_token = regions.js_peer, regions.rs_token

    env = {"TONGBAN_DATABASE_URL": ""}
    with live_node(regions.sc, env) as sc_url, live_node(regions.js, env) as js_url:
        card = issue_card(regions, sc_url, ok)
        assert card.fetched["region"] == "510000" and card.fetched["key_records_imported"] > 0
        identifier, issued, text = card.identifier, card.issued, card.text
        assert issued["identifier"] == identifier
        assert issued["qr_version"] in (14, 15)  # license-offline.md §3: 14-M, or 15-M
        assert text == Path(issued["compact"]).read_text().strip()
        # The document holds the holder in clear (issue 13 item 6: files readable by others).
        assert stat.S_IMODE(Path(issued["document"]).stat().st_mode) == 0o600

        def verify(*options: str) -> tuple[int, dict[str, object]]:
            code, out, err = _run(capsys, "license", "verify", text, *options, "--json")
            assert code in (0, 1), err
            return code, json.loads(out)

        code, online = verify("--online", js_url)
        assert (code, online["valid"], online["status_source"]) == (0, True, "online")
        files = {
            name: str(tmp_path / f"{name}.bin") for name in ("sc-trust", "js-trust", "sc-status")
        }
        ok("license", "trust-list", "get", "--server", sc_url, "--out", files["sc-trust"])
        ok("license", "trust-list", "get", "--server", js_url, "--out", files["js-trust"])
        status_get = ("license", "status-list", "get", "--server", sc_url, "--list", "510000-1")
        ok(*status_get, "--out", files["sc-status"])
        offline = (
            "--offline",
            "--data-dir",
            str(regions.js),
            "--trust-list",
            files["sc-trust"],
            "--trust-list",
            files["js-trust"],
            "--status-list",
            files["sc-status"],
        )
        code, verdict = verify(*offline)
        assert code == 0 and verdict["status_source"] == "status_list"
        held = verdict["status_list"]
        assert isinstance(held, dict) and held["id"] == "510000-1"
        assert verify(*offline, "--holder-id", "11010519491231002x")[0] == 0
        # A verifier may want a fresher list than the issuer's valid_until: status unknown.
        code, verdict = verify(*offline, "--max-status-age", "0")
        assert (code, verdict["primary"]) == (1, "status_unavailable")
        assert verify(*offline, "--holder-id", "510104199001011234")[1]["primary"] == (
            "holder_mismatch"
        )

        # Use: status for a peer, the metadata only with the holder's grant; both reads logged.
        show = ("license", "show", identifier, "--server", sc_url, "--token", js_peer, "--json")
        status_only = json.loads(ok(*show))
        assert status_only["status"] == "valid" and status_only["metadata"] is None
        grant_file = tmp_path / "grant.txt"
        ok(
            "license",
            "grant",
            identifier,
            "--server",
            sc_url,
            "--token",
            rs_token,
            "--holder-id",
            HOLDER_ID,
            "--audience-region",
            "320000",
            "--scope",
            "metadata,face",
            "--purpose",
            "就业登记核验",
            "--out",
            str(grant_file),
        )
        full = json.loads(ok(*show, "--grant", str(grant_file)))
        assert full["metadata"]["holder"] == {
            "name": "张三",
            "code": HOLDER_ID,
            "code_type": "ric",
        }
        assert full["face"]["card_no"] == "A12345678" and full["document"] is None
        code, _, err = _run(capsys, *show, "--grant", str(grant_file))  # one use was granted
        assert code == 1 and "grant_used_up" in err
        uses = json.loads(
            ok(
                "license",
                "uses",
                identifier,
                "--server",
                sc_url,
                "--token",
                rs_token,
                "--json",
            )
        )
        assert [(u["subject"], u["scope"], u["purpose"]) for u in uses] == [
            ("320000", "status", "status"),
            ("320000", "metadata,face", "就业登记核验"),
            ("320000", "refused:grant_used_up", "status"),  # refused lookups are logged too
        ]
        assert HOLDER_ID not in json.dumps(uses, ensure_ascii=False)

        # Revocation: live at once online; offline only once the cached list is refreshed.
        ok("license", "revoke", identifier, *signer(regions, sc_url, HOME), "--reason", "挂失补办")
        code, online = verify("--online", js_url)
        assert (code, online["primary"], online["failed"]) == (1, "revoked", ["revoked"])
        # Asking online, Jiangsu kept Sichuan's newer list: the file fetched before the
        # revocation is a rollback against what var/js has seen, not a "valid" (issue 14).
        code, out, err = _run(capsys, "license", "verify", text, *offline, "--json")
        assert (code, out) == (1, "") and "older than version" in err
        ok(*status_get, "--out", files["sc-status"])
        code, verdict = verify(*offline)
        assert (code, verdict["primary"], verdict["failed"]) == (1, "revoked", ["revoked"])
        newer = verdict["status_list"]
        assert isinstance(newer, dict) and newer["version"] > held["version"]


def test_the_doc_shows_exactly_these_commands() -> None:
    assert_walkthrough_shows("licenses.md", __doc__)
