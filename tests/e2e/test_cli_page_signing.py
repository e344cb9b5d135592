"""``tongban login sign`` and ``tongban case sign-draft``: what an officer whose key is SM2 runs
in a terminal for the pages (docs/cli.md, docs/pages.md). Good input is signed and printed;
a bad flag or value is exit 64, content that is not a canonical event content for this key is
refused (exit 1), and nothing reaches standard output then."""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from pathlib import Path
from typing import Any

import msgpack
import pytest

from adapters.keyfiles import write_key
from api.cli import main
from ledger import canonical
from ledger.envelope import EVENT_CONTEXT, parse_event
from ledger.login import LOGIN_CONTEXT, Challenge, parse_login
from ledger.sm2 import SM2_SM3
from ledger.suites import SoftwareSigner, get_suite, signing_input
from tests.support.world import START, seeded, seeded_in

ORIGIN = "https://tongban.sc.gov.example:8443"
NONCE = bytes(range(32))
CHALLENGE = Challenge(ORIGIN, NONCE, START, START + 300_000_000)
CASE = uuid.UUID("0b4a2c9e-3f1d-4e5a-9b7c-2d8e6f1a0c35")


@pytest.fixture
def sm2(tmp_path: Path) -> tuple[SoftwareSigner, Path]:
    signer = seeded_in(SM2_SM3, "officer/510104-RS/rs-sm2")
    key_file = tmp_path / "rs-sm2.key"
    write_key(key_file, signer)
    return signer, key_file


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _login(key_file: Path, challenge: str, *more: str) -> list[str]:
    return [
        "login",
        "sign",
        "--key",
        str(key_file),
        "--body-id",
        "510104-RS",
        "--officer-id",
        "rs-sm2",
        "--challenge",
        challenge,
        *more,
    ]


def test_login_sign_prints_a_proof_of_the_challenge_and_says_for_which_origin(
    sm2: tuple[SoftwareSigner, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    signer, key_file = sm2
    text = CHALLENGE.as_text()
    assert text == f"TBL1/{NONCE.hex()}/{START}/{START + 300_000_000}/{ORIGIN}"
    code, out, err = _run(capsys, *_login(key_file, text))
    assert code == 0, err
    proof = parse_login(base64.b64decode(out.strip()))
    proof.signed.verify(signer.public_key)
    assert proof.signed.suite.name == SM2_SM3 and proof.key_id == signer.key_id
    assert (proof.origin, proof.nonce, proof.issued_at) == (ORIGIN, NONCE, START)
    assert (proof.body_id, proof.officer_id) == ("510104-RS", "rs-sm2")
    # The officer is told where the proof logs in, and until when.
    assert ORIGIN in err and "2026-01-01T08:05:00+08:00" in err


def test_login_sign_reads_the_challenge_from_standard_input(
    sm2: tuple[SoftwareSigner, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, key_file = sm2
    monkeypatch.setattr("sys.stdin", io.StringIO("  " + CHALLENGE.as_text() + "\n"))
    code, out, err = _run(capsys, *_login(key_file, "-"))
    assert code == 0, err
    assert parse_login(base64.b64decode(out)).nonce == NONCE


@pytest.mark.parametrize(
    ("challenge", "named"),
    [
        ("", "--challenge is empty"),
        (f"TBL2/{NONCE.hex()}/{START}/{START + 1}/{ORIGIN}", "TBL1/"),
        (f"TBL1/{NONCE.hex()[:20]}/{START}/{START + 1}/{ORIGIN}", "nonce"),
        (f"TBL1/{NONCE.hex().upper()}/{START}/{START + 1}/{ORIGIN}", "nonce"),
        (f"TBL1/{NONCE.hex()}/-1/{START + 1}/{ORIGIN}", "issued_at"),
        (f"TBL1/{NONCE.hex()}/{START}/{START + 300_000_001}/{ORIGIN}", "expires_at"),
        (f"TBL1/{NONCE.hex()}/{START}/{START + 1}/{ORIGIN}/pages/login", "origin"),
        (f"TBL1/{NONCE.hex()}/{START}/{START + 1}/javascript:alert(1)", "origin"),
        (f"TBL1/{NONCE.hex()}/{START}/{START + 1}", "TBL1/"),
    ],
)
def test_login_sign_refuses_a_challenge_text_that_is_not_one(
    challenge: str,
    named: str,
    sm2: tuple[SoftwareSigner, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, key_file = sm2
    code, out, err = _run(capsys, *_login(key_file, challenge))
    assert code == 64, err
    assert out == "" and named in err


def test_login_sign_usage_errors(
    sm2: tuple[SoftwareSigner, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, key_file = sm2
    text = CHALLENGE.as_text()
    argv = _login(key_file, text)
    bad_body = [*argv[:5], "510104 RS", *argv[6:]]
    code, out, err = _run(capsys, *bad_body)
    assert code == 64 and out == "" and "--body-id" in err
    missing = _login(tmp_path / "nowhere.key", text)
    code, out, err = _run(capsys, *missing)
    assert code == 64 and out == "" and "nowhere.key" in err
    monkeypatch.delenv("TONGBAN_KEY_FILE", raising=False)
    code, out, err = _run(capsys, *argv[:2], *argv[4:])  # no --key
    assert code == 64 and out == ""


def _content(signer: SoftwareSigner, **changes: Any) -> bytes:
    content: dict[str, Any] = {
        "v": 1,
        "suite": signer.suite,
        "ctx": EVENT_CONTEXT,
        "kid": signer.key_id,
        "ledger": "tongban/510000",
        "case": str(CASE),
        "seq": 4,
        "type": "arrived",
        "time": START,
        "actor": {"body": "510104-RS", "officer": "rs-sm2"},
        "prev": hashlib.sha256(b"the head").digest(),
        "body": {"note": "材料已收到，齐全"},
    }
    content.update(changes)
    return canonical.encode(content)


def _sign_draft(key_file: Path, content: bytes | str) -> list[str]:
    text = content if isinstance(content, str) else base64.b64encode(content).decode()
    return ["case", "sign-draft", "--key", str(key_file), "--content", text]


def test_sign_draft_shows_the_step_and_prints_its_signed_envelope(
    sm2: tuple[SoftwareSigner, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    signer, key_file = sm2
    content = _content(signer)
    code, out, err = _run(capsys, *_sign_draft(key_file, content))
    assert code == 0, err
    envelope = parse_event(base64.b64decode(out.strip()))
    assert envelope.signed.content_bytes == content
    envelope.signed.verify(signer.public_key)
    assert envelope.signed.suite.name == SM2_SM3
    # What it signs, on standard error: type, case, seq, who, when, every body field.
    assert f"step arrived of case {CASE}, seq 4, ledger tongban/510000" in err
    assert "rs-sm2 of 510104-RS" in err and "2026-01-01T08:00:00+08:00" in err
    assert "note: 材料已收到，齐全" in err


def test_sign_draft_reads_standard_input_and_ignores_line_breaks(
    sm2: tuple[SoftwareSigner, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signer, key_file = sm2
    content = _content(signer)
    wrapped = base64.encodebytes(content).decode()  # lines of 76 characters, as a paste may be
    assert "\n" in wrapped.strip()
    monkeypatch.setattr("sys.stdin", io.StringIO(wrapped))
    code, out, err = _run(capsys, *_sign_draft(key_file, "-"))
    assert code == 0, err
    assert parse_event(base64.b64decode(out)).signed.content_bytes == content


def test_sign_draft_signs_for_an_ed25519_key_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signer = seeded("officer/510104-RS/rs-001")
    key_file = tmp_path / "rs-001.key"
    write_key(key_file, signer)
    code, out, err = _run(capsys, *_sign_draft(key_file, _content(signer)))
    assert code == 0, err
    parse_event(base64.b64decode(out)).signed.verify(signer.public_key)


def test_sign_draft_refuses_what_is_not_base64(
    sm2: tuple[SoftwareSigner, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, key_file = sm2
    for text in ("not base64!", "   "):
        code, out, err = _run(capsys, *_sign_draft(key_file, text))
        assert code == 64 and out == "" and "--content" in err, err


def _refusals(signer: SoftwareSigner) -> dict[str, tuple[bytes, str]]:
    """Bytes that are not a canonical event content for ``signer``, and what the refusal
    names: the command signs none of them."""
    good = _content(signer)
    other = seeded_in(SM2_SM3, "somebody else")
    login = canonical.encode(
        {
            "v": 1,
            "suite": SM2_SM3,
            "ctx": LOGIN_CONTEXT,
            "kid": signer.key_id,
            "origin": ORIGIN,
            "nonce": NONCE,
            "issued_at": START,
            "expires_at": START + 1,
            "body_id": "510104-RS",
            "officer_id": "rs-sm2",
        }
    )
    digest = hashlib.sha256(good).digest()
    # The same map with its keys in reverse order: not the canonical encoding.
    unsorted = msgpack.packb(dict(reversed(canonical.decode(good).items())), use_bin_type=True)
    return {
        "a digest": (digest, "malformed"),
        "a signing input": (signing_input(EVENT_CONTEXT, get_suite(SM2_SM3), good), "malformed"),
        "a signed envelope": (canonical.encode([good, b"\x01" * 64]), "malformed"),
        "a login proof's content": (login, "wrong_context"),
        "non-canonical msgpack": (unsorted, "malformed"),
        "trailing bytes": (good + b"\x00", "malformed"),
        "another key's content": (_content(other), "(field kid)"),
        "another suite's content": (
            _content(signer, suite="ed25519-sha256"),
            "(field suite)",
        ),
        "a field the step does not have": (
            _content(signer, body={"note": "", "id_number": "11010519491231002X"}),
            "(field body.id_number)",
        ),
        "a step type nobody knows": (_content(signer, type="approved_quietly"), "(field type)"),
        "a case id in upper case": (_content(signer, case=str(CASE).upper()), "(field case)"),
    }


@pytest.mark.parametrize(
    "what",
    [
        "a digest",
        "a signing input",
        "a signed envelope",
        "a login proof's content",
        "non-canonical msgpack",
        "trailing bytes",
        "another key's content",
        "another suite's content",
        "a field the step does not have",
        "a step type nobody knows",
        "a case id in upper case",
    ],
)
def test_sign_draft_refuses_what_is_not_a_canonical_event_content_for_this_key(
    what: str, sm2: tuple[SoftwareSigner, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    signer, key_file = sm2
    content, named = _refusals(signer)[what]
    code, out, err = _run(capsys, *_sign_draft(key_file, content))
    assert code == 1, err
    assert out == "", "nothing is printed for the officer to paste"
    assert err.startswith("tongban: refused: ") and named in err, err
