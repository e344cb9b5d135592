"""The sm2-sm3 vectors (tests/vectors/sm2/) against the library, the OpenSSL command line,
GmSSL (gmssl-pyx) and a plain-Python verifier; OpenSSL's and GB/T 32918.2's published SM2
examples; and the vector files against their generator."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import gmssl_pyx
import pytest
from gmalglib.sm2 import SM2

from ledger import merkle
from ledger.envelope import open_signed
from ledger.errors import LedgerError
from ledger.notes import (
    NOTE_SM2,
    Witness,
    cosignature_message,
    parse_note,
    verified_cosigners,
    verify_note,
)
from ledger.notes import key_id as notes_key_id
from ledger.sm2 import SM2_SIGNER_ID, Sm2Sm3, check_public_key, check_signature, sm3
from ledger.suites import get_suite, key_id, signing_input
from tests.support.sm2_reference import SM2_CURVE, Curve, z_a
from tests.support.sm2_reference import verify as reference_verify
from tools import make_sm2_vectors

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "sm2"
POSITIVE = [
    json.loads(path.read_text())
    for path in sorted(VECTORS.glob("*.json"))
    if json.loads(path.read_text()).get("valid") is True
]
NEGATIVE = json.loads((VECTORS / "negative.json").read_text())["vectors"]
OTHER_REASONS = json.loads((VECTORS / "wrong-for-other-reasons.json").read_text())["vectors"]
EXTERNAL = json.loads((VECTORS / "external.json").read_text())
SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
OBJECTS = [vector for vector in POSITIVE if "object" in vector]
KINDS = {"event", "receipt", "key_record", "license", "grant", "trust_list", "status_list"}
KINDS |= {"checkpoint_note", "cosignature"}


def _der(signature: bytes) -> bytes:
    def integer(value: bytes) -> bytes:
        value = value.lstrip(b"\x00") or b"\x00"
        return b"\x02" + bytes([len(value) + (value[0] >> 7)]) + b"\x00" * (value[0] >> 7) + value

    body = integer(signature[:32]) + integer(signature[32:])
    return b"\x30" + bytes([len(body)]) + body


def _openssl_verifies(
    tmp_path: Path, public_key: str, message: str, signature: bytes, distid: str
) -> bool:
    """``openssl pkeyutl -verify -rawin -digest sm3 -pkeyopt distid:<id>``: True if it says
    the signature verifies (a key OpenSSL cannot load counts as not verified)."""
    pem = tmp_path / "key.pem"
    spki = SPKI_PREFIX + bytes.fromhex(public_key)
    pem.write_text(
        "-----BEGIN PUBLIC KEY-----\n"
        + base64.encodebytes(spki).decode()
        + "-----END PUBLIC KEY-----\n"
    )
    (tmp_path / "msg").write_bytes(bytes.fromhex(message))
    (tmp_path / "sig").write_bytes(signature)
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pem), "-rawin"]
    command += ["-digest", "sm3", "-in", str(tmp_path / "msg"), "-sigfile", str(tmp_path / "sig")]
    if distid:
        command += ["-pkeyopt", f"distid:{distid}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return done.returncode == 0 and "Signature Verified Successfully" in done.stdout


# Skipped only on a developer's machine without the CLI; in CI (.ci/run installs it) a missing
# openssl fails these tests instead.
needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None and not os.environ.get("CI"), reason="no openssl CLI"
)


def test_every_signed_object_kind_has_a_vector() -> None:
    assert {vector["kind"] for vector in POSITIVE} == KINDS
    assert {v["name"].split("/")[0] for v in NEGATIVE} == {v["name"] for v in POSITIVE}


def test_vector_files_are_current() -> None:
    assert make_sm2_vectors.main(["--check"]) == 0


@pytest.mark.parametrize("vector", OBJECTS, ids=lambda v: v["name"])
def test_library_reproduces_positive_vector(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["object"])
    signed = open_signed(raw, context=vector["context"])
    assert signed.suite.name == "sm2-sm3"
    assert signed.content_bytes.hex() == vector["content"]
    assert (
        signing_input(signed.context, signed.suite, signed.content_bytes).hex()
        == (vector["signing_input"])
    )
    assert signed.signature.hex() == vector["signature"]
    assert key_id("sm2-sm3", bytes.fromhex(vector["public_key"])) == vector["kid"] == signed.key_id
    assert get_suite("sm2-sm3").digest(raw).hex() == vector["hash"]
    signed.verify(bytes.fromhex(vector["public_key"]))


@needs_openssl
@pytest.mark.parametrize("vector", POSITIVE, ids=lambda v: v["name"])
def test_openssl_verifies_positive_vector(vector: dict[str, Any], tmp_path: Path) -> None:
    signature = _der(bytes.fromhex(vector["signature"]))
    args = (tmp_path, vector["public_key"], vector["signing_input"], signature)
    assert _openssl_verifies(*args, distid="1234567812345678")
    # OpenSSL 3's own default ID is not GM/T 0009's: without distid the signature fails.
    assert not _openssl_verifies(*args, distid="")


@pytest.mark.parametrize("vector", POSITIVE, ids=lambda v: v["name"])
def test_gmssl_and_reference_verify_positive_vector(vector: dict[str, Any]) -> None:
    public_key, message = (
        bytes.fromhex(vector["public_key"]),
        bytes.fromhex(vector["signing_input"]),
    )
    signature = bytes.fromhex(vector["signature"])
    assert gmssl_pyx.sm2_verify(public_key[1:], message, _der(signature), signer_id=SM2_SIGNER_ID)
    assert reference_verify(SM2_CURVE, SM2_SIGNER_ID, public_key, message, signature)


def _library_refuses(vector: dict[str, Any]) -> bool:
    try:
        Sm2Sm3().verify(
            bytes.fromhex(vector["public_key"]),
            bytes.fromhex(vector["signing_input"]),
            bytes.fromhex(vector["signature"]),
        )
    except LedgerError as error:
        assert error.reason == "bad_signature"
        return True
    return False


@pytest.mark.parametrize("vector", NEGATIVE, ids=lambda v: v["name"])
def test_negative_vector_refused_by_library_and_reference(vector: dict[str, Any]) -> None:
    assert vector["valid"] is False
    assert _library_refuses(vector)
    assert not reference_verify(
        SM2_CURVE,
        SM2_SIGNER_ID,
        bytes.fromhex(vector["public_key"]),
        bytes.fromhex(vector["signing_input"]),
        bytes.fromhex(vector["signature"]),
    )


@needs_openssl
@pytest.mark.parametrize(
    "vector",
    [v for v in NEGATIVE if v["name"].startswith("event-seq2/")],
    ids=lambda v: v["name"],
)
def test_openssl_refuses_negative_vector(vector: dict[str, Any], tmp_path: Path) -> None:
    signature = bytes.fromhex(vector["signature"])
    # OpenSSL reads DER; the 64-byte r || s is what Tongban carries, so each is given in DER
    # when it has 64 bytes (a DER-encoded one is refused by Tongban for its encoding alone).
    der = _der(signature) if len(signature) == 64 else signature
    if vector["name"].endswith("/der-encoded"):
        assert _openssl_verifies(
            tmp_path, vector["public_key"], vector["signing_input"], der, "1234567812345678"
        ), "the DER spelling is the same signature: refused for its encoding only"
        return
    assert not _openssl_verifies(
        tmp_path, vector["public_key"], vector["signing_input"], der, "1234567812345678"
    )


@needs_openssl
@pytest.mark.parametrize("vector", OTHER_REASONS, ids=lambda v: v["name"])
def test_wrong_for_other_reasons_verify_mathematically(
    vector: dict[str, Any], tmp_path: Path
) -> None:
    assert vector["valid"] is False and vector["signature_verifies"] is True
    signature = _der(bytes.fromhex(vector["signature"]))
    args = (tmp_path, vector["public_key"], vector["signing_input"], signature)
    assert _openssl_verifies(*args, distid=vector["signer_id"])
    # Under this suite's one ID, only the other-ID signature fails.
    assert _library_refuses(vector) == (vector["signer_id"] != "1234567812345678")


def test_wrong_context_vector_is_refused_as_an_object() -> None:
    (wrong,) = [v for v in OTHER_REASONS if v["name"] == "wrong-context"]
    (event,) = [v for v in POSITIVE if v["name"] == "event-seq2"]
    content = bytes.fromhex(event["content"])
    from ledger import canonical

    raw = canonical.encode([content, bytes.fromhex(wrong["signature"])])
    with pytest.raises(LedgerError) as refused:
        open_signed(raw, context="tongban/receipt/v1")
    assert refused.value.reason == "wrong_context"
    signed = open_signed(raw, context="tongban/event/v1")
    with pytest.raises(LedgerError) as bad:
        signed.verify(bytes.fromhex(event["public_key"]))
    assert bad.value.reason == "bad_signature"


@pytest.mark.parametrize("vector", EXTERNAL["openssl_evppkey_sm2"], ids=lambda v: v["digest"][:8])
def test_openssl_published_vector(vector: dict[str, str]) -> None:
    der = bytes.fromhex(vector["signature_der"])
    r_length = der[3]
    r = int.from_bytes(der[4 : 4 + r_length], "big")
    s = int.from_bytes(der[6 + r_length :], "big")
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    public_key = bytes.fromhex(vector["public_key"])
    check_public_key(public_key)
    check_signature(signature)
    digest = bytes.fromhex(vector["digest"])
    assert SM2(pk=public_key, uid=SM2_SIGNER_ID).verify_digest(digest, signature)
    assert gmssl_pyx.sm2_verify_sm3_digest(public_key[1:], digest, der)
    assert not SM2(pk=public_key, uid=SM2_SIGNER_ID).verify_digest(digest[::-1], signature)


def test_gbt32918_annex_example() -> None:
    example = EXTERNAL["gbt32918_annex_a2"]
    curve = Curve(**{name: int(value, 16) for name, value in example["curve"].items()})
    public_key = bytes.fromhex(example["public_key"])
    x, y = int.from_bytes(public_key[1:33], "big"), int.from_bytes(public_key[33:], "big")
    assert curve.multiply(int(example["private_key"], 16), (curve.gx, curve.gy)) == (x, y)
    signer_id = example["signer_id"].encode()
    assert z_a(curve, signer_id, x, y).hex() == example["z_a"]
    message = example["message"].encode()
    signature = bytes.fromhex(example["signature"])
    assert reference_verify(curve, signer_id, public_key, message, signature)
    assert not reference_verify(curve, b"1234567812345678", public_key, message, signature)


def test_checkpoint_note_and_cosignature_vectors() -> None:
    note_vector = json.loads((VECTORS / "checkpoint-note.json").read_text())
    cosignature = json.loads((VECTORS / "checkpoint-cosignature.json").read_text())
    note = parse_note(note_vector["note"])
    assert note.text.encode().hex() == note_vector["signing_input"]
    log_key = bytes.fromhex(note_vector["public_key"])
    assert notes_key_id(note_vector["key_name"], NOTE_SM2, log_key).hex() == note_vector["key_id"]
    assert note_vector["signature_type"] == NOTE_SM2.hex() and NOTE_SM2[0] == 0xFF
    verify_note(note, note_vector["key_name"], log_key)
    witness = Witness(cosignature["key_name"], bytes.fromhex(cosignature["public_key"]))
    assert verified_cosigners(note, [witness]) == [
        (cosignature["key_name"], cosignature["timestamp"])
    ]
    assert (
        cosignature_message(note.text, cosignature["timestamp"]).hex()
        == (cosignature["signing_input"])
    )


def test_hash_vectors() -> None:
    hashes = json.loads((VECTORS / "hashes.json").read_text())
    object_hash = sm3(bytes.fromhex(hashes["object"]))
    assert object_hash.hex() == hashes["object_hash_sm3"] == hashes["merkle_leaf_input"]
    assert merkle.leaf_hash(object_hash).hex() == hashes["merkle_leaf_hash_sha256"]
    assert hashlib.sha256(b"\x00" + object_hash).hexdigest() == hashes["merkle_leaf_hash_sha256"]
    secret = bytes.fromhex(hashes["commitment_secret"])
    for field, item in hashes["commitments_hmac_sha256"].items():
        message = field.encode() + b"\x00" + item["value"].encode()
        assert hmac.new(secret, message, hashlib.sha256).hexdigest() == item["commitment"]
        assert hashes["body_commitments"][field] == item["commitment"]
    assert hashes["body_materials"][0]["sha256"] == hashes["material"]["sha256"]


# -- the OpenSSL recipe of docs/envelope.md §3.2, run as it is written ------------------------

needs_openssl_jq_xxd = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("openssl", "jq", "xxd"))
    and not os.environ.get("CI"),
    reason="no openssl, jq or xxd",
)


def _documented_recipe() -> str:
    """The ``sh`` block under "Checking SM2 signatures with OpenSSL" in docs/envelope.md."""
    text = (VECTORS.parents[2] / "docs" / "envelope.md").read_text(encoding="utf-8")
    section = text[text.index("**Checking SM2 signatures with OpenSSL.**") :]
    return section.split("```sh\n", 1)[1].split("\n```", 1)[0]


def _run_recipe(repository: Path) -> list[str]:
    """Run the recipe with ``sh`` from ``repository`` (which holds tests/vectors/sm2)."""
    done = subprocess.run(
        ["sh", "-c", _documented_recipe()],
        cwd=repository,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.stderr == "", done.stderr
    return done.stdout.splitlines()


@needs_openssl_jq_xxd
def test_the_documented_openssl_recipe_verifies_every_vector(tmp_path: Path) -> None:
    shutil.copytree(VECTORS, tmp_path / "tests" / "vectors" / "sm2")
    names = sorted(path.name for path in VECTORS.glob("*.json"))
    valid = [name for name in names if json.loads((VECTORS / name).read_text()).get("valid")]
    assert len(valid) == len(POSITIVE) == 18
    assert _run_recipe(tmp_path) == [f"{name}: Signature Verified Successfully" for name in valid]


@needs_openssl_jq_xxd
def test_the_documented_openssl_recipe_reports_a_bad_signature_and_a_good_negative(
    tmp_path: Path,
) -> None:
    """The recipe can fail: a valid vector with a flipped bit is not verified, and a
    "negative" that holds a valid signature is printed."""
    copy = tmp_path / "tests" / "vectors" / "sm2"
    shutil.copytree(VECTORS, copy)
    grant = json.loads((copy / "grant.json").read_text())
    good = dict(grant)
    signature = bytearray(bytes.fromhex(grant["signature"]))
    signature[63] ^= 1
    grant["signature"] = signature.hex()
    (copy / "grant.json").write_text(json.dumps(grant))
    negative = json.loads((copy / "negative.json").read_text())
    negative["vectors"] = negative["vectors"][:3]  # the recipe spawns four processes each
    planted = {key: good[key] for key in ("public_key", "signing_input", "signature")}
    negative["vectors"][0] |= planted
    (copy / "negative.json").write_text(json.dumps(negative))
    lines = _run_recipe(tmp_path)
    assert "grant.json: Signature Verification Failure" in lines
    assert "grant.json: Signature Verified Successfully" not in lines
    assert [line for line in lines if line.startswith("verified: ")] == [
        f"verified: {json.dumps(negative['vectors'][0], separators=(',', ':'))}"
    ]
