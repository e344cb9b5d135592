"""``tongban license``: usage errors and offline verification from files, without a server.

The two-node flow is ``test_license_walkthrough.py``; here each bad input gets exit 64 (usage)
or 1 (refused, invalid) with a message naming what is wrong.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from adapters.license_store import open_license_store
from adapters.vault import load_or_create_master_key
from api.cli import main
from licenses.compact import document_digest, encode_compact
from licenses.identifiers import make_identifier
from licenses.qr import decode_qr_png
from licenses.trust import build_trust_list
from tests.support.world import seeded

CARD = "11100000TB0000010H001"
USCC = "11510104MB0000123N"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _compact() -> str:
    return encode_compact(
        seeded("an untrusted license key"),
        identifier=make_identifier(CARD, USCC, "ABC"),
        valid_from=date(2026, 1, 1),
        valid_until=None,
        status_list_id="510000-1",
        status_index=3,
        holder_name="张三",
        holder_id="11010519491231002X",
        document_digest=document_digest(b"doc"),
    )


def test_license_id_is_the_case_serial_and_refuses_bad_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = uuid.UUID("0f6c2a5e-1111-4222-8333-944455556666")
    code, out, _ = _run(
        capsys, "license", "id", "--case", str(case), "--type", CARD, "--issuer-code", USCC
    )
    assert code == 0
    assert out.strip() == make_identifier(CARD, USCC, "0F6C2A5E1111422283339444").text
    code, _, err = _run(
        capsys,
        "license",
        "id",
        "--case",
        str(case),
        "--type",
        CARD,
        "--issuer-code",
        "11510104MB0000123X",
    )
    assert code == 64 and "issuer" in err
    code, _, err = _run(
        capsys, "license", "id", "--case", "not-a-uuid", "--type", CARD, "--issuer-code", USCC
    )
    assert code == 64


def test_qr_round_trip_and_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _compact()
    png = tmp_path / "qr.png"
    code, out, _ = _run(capsys, "license", "qr", text, "--out", str(png))
    assert code == 0 and json.loads(out)["qr_version"] <= 15
    assert decode_qr_png(png.read_bytes()) == text
    code, out, _ = _run(capsys, "license", "scan", str(png))
    assert (code, out.strip()) == (0, text)
    code, _, err = _run(capsys, "license", "qr", "TB1:NOT VALID", "--out", str(tmp_path / "x.png"))
    assert code == 64 and not (tmp_path / "x.png").exists()
    (tmp_path / "blank.png").write_bytes(b"not an image")
    code, _, err = _run(capsys, "license", "scan", str(tmp_path / "blank.png"))
    assert code == 64 and "image" in err


def test_verify_needs_a_mode_and_offline_needs_the_own_regions_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _compact()
    code, _, err = _run(capsys, "license", "verify", text)
    assert code == 64 and "--online" in err
    code, _, err = _run(capsys, "license", "verify", text, "--offline", "--data-dir", str(tmp_path))
    assert code == 64 and "trust.json" in err
    (tmp_path / "trust.json").write_text(
        json.dumps({"510000": seeded("root/510000").public_key.hex()})
    )
    code, _, err = _run(
        capsys,
        "license",
        "verify",
        text,
        "--offline",
        "--data-dir",
        str(tmp_path),
        "--region",
        "510000",
    )
    assert code == 64 and "--trust-list" in err
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00")
    code, _, err = _run(
        capsys,
        "license",
        "verify",
        text,
        "--offline",
        "--data-dir",
        str(tmp_path),
        "--trust-list",
        str(junk),
    )
    assert code == 1 and "trust list refused" in err
    code, _, err = _run(capsys, "license", "verify", text, "--online", "http://127.0.0.1:9")
    assert code == 1 and err


def test_fetching_from_a_node_that_is_not_there_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ("trust-list", "get", "--server", "http://127.0.0.1:9", "--out", str(tmp_path / "t")),
        (
            "status-list",
            "get",
            "--server",
            "http://127.0.0.1:9",
            "--list",
            "510000-1",
            "--out",
            "s",
        ),
    ):
        code, _, err = _run(capsys, "license", *argv)
        assert code == 1 and "127.0.0.1:9" in err
    assert not (tmp_path / "t").exists()


def test_offline_verify_refuses_a_trust_list_older_than_the_one_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older, still-valid trust list file is a rollback when the data directory already
    holds a newer version (issue 14): refused, and the verdict names the version it used."""
    monkeypatch.setenv("TONGBAN_DATABASE_URL", "")
    root = seeded("root/510000")
    (tmp_path / "trust.json").write_text(json.dumps({"510000": root.public_key.hex()}))
    now = int(datetime.now(UTC).timestamp()) * 1_000_000
    day = 86_400 * 1_000_000

    def trust_list(version: int) -> bytes:
        return build_trust_list(
            root,
            region="510000",
            version=version,
            issued_at=now - day,
            valid_until=now + 30 * day,
            license_keys=[],
            recognition=[],
        )

    old, new = tmp_path / "old.bin", tmp_path / "new.bin"
    old.write_bytes(trust_list(1))
    new.write_bytes(trust_list(2))
    base = ["license", "verify", _compact(), "--offline", "--data-dir", str(tmp_path)]
    base += ["--region", "510000", "--json"]
    # Nothing held yet: the old file is all there is, and the verdict says it used version 1.
    code, out, err = _run(capsys, *base, "--trust-list", str(old))
    assert code == 1, err
    assert json.loads(out)["trust_lists"][0]["version"] == 1
    store = open_license_store("", tmp_path, load_or_create_master_key(tmp_path))
    store.keep_trust_list("510000", 2, trust_list(2), None)
    code, out, err = _run(capsys, *base, "--trust-list", str(old))
    assert code == 1 and not out
    assert "trust list refused" in err and "older than the version this node holds" in err
    code, out, err = _run(capsys, *base, "--trust-list", str(new))
    assert json.loads(out)["trust_lists"][0]["version"] == 2
    code, out, err = _run(capsys, *base[:-1], "--trust-list", str(new))  # for people
    assert code == 1 and "trust list: 510000 version 2, valid until 20" in out
    assert "status unknown: no status list 510000-1 held" in out


def test_offline_verify_shows_the_status_lists_age_and_takes_a_maximum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        capsys,
        "license",
        "verify",
        _compact(),
        "--offline",
        "--data-dir",
        str(tmp_path),
        "--max-status-age",
        "six hours",
    )
    assert code == 64 and "--max-status-age" in err
