"""``tongban license``: usage errors and offline verification from files, without a server.

The two-node flow is ``test_license_walkthrough.py``; here each bad input gets exit 64 (usage)
or 1 (refused, invalid) with a message naming what is wrong.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pytest

from api.cli import main
from licenses.compact import document_digest, encode_compact
from licenses.identifiers import make_identifier
from licenses.qr import decode_qr_png
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
