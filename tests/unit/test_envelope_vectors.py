"""The vectors in ``tests/vectors/envelope/``, checked twice.

(a) With our library: every valid vector's bytes are reproduced exactly from its inputs, the
    registry records apply in order and certify the keys the events and the receipt use, and
    every negative vector is refused with its stated reason.
(b) With an independent minimal verifier written below from ``docs/envelope.md`` alone
    (msgpack, hashlib and cryptography; nothing imported from ``ledger``): if it agrees with
    the vectors, the document is enough to implement a verifier.

Regenerate the vectors with ``.venv/bin/python tools/make_vectors.py`` (deterministic).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

VECTORS_DIR = Path(__file__).resolve().parent.parent / "vectors" / "envelope"


def load_vectors() -> list[dict[str, Any]]:
    return [
        json.loads(path.read_text(encoding="utf-8")) for path in sorted(VECTORS_DIR.glob("*.json"))
    ]


VECTORS = load_vectors()
VALID = [v for v in VECTORS if v["valid"]]
INVALID = [v for v in VECTORS if not v["valid"]]
BY_NAME = {v["name"]: v for v in VECTORS}


def from_json(value: Any) -> Any:
    """The vectors' JSON form back to msgpack values: ``{"bin": hex}`` is a byte string."""
    if isinstance(value, dict):
        if set(value) == {"bin"} and isinstance(value["bin"], str):
            return bytes.fromhex(value["bin"])
        return {key: from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json(item) for item in value]
    return value


def test_the_vector_set_is_complete() -> None:
    names = set(BY_NAME)
    assert {"event-seq1", "event-seq2", "receipt-event-seq2"} <= names
    assert {"key-body-registered", "key-root-rotated"} <= names
    reasons = {v["reason"] for v in INVALID}
    assert reasons == {
        "malformed",
        "unsupported_suite",
        "unsupported_version",
        "wrong_context",
        "bad_signature",
    }
    for expected in (
        "neg-unsorted-keys",
        "neg-long-form-integer",
        "neg-float",
        "neg-duplicate-key",
        "neg-trailing-byte-content",
        "neg-suite-rsa-sha1",
        "neg-version-2",
        "neg-version-true",
        "neg-seq-true",
        "neg-wrong-context",
        "neg-flipped-signature-bit",
    ):
        assert expected in names


def test_the_vectors_are_what_the_generator_makes() -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "tools" / "make_vectors.py"
    spec = importlib.util.spec_from_file_location("make_vectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0


# == (a) our library ==========================================================================


def _library_parse(kind: str, raw: bytes) -> Any:
    from ledger.envelope import parse_event
    from ledger.keys import parse_key_record
    from ledger.receipts import parse_receipt

    return {"event": parse_event, "receipt": parse_receipt, "key_record": parse_key_record}[kind](
        raw
    )


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["name"])
def test_library_reproduces_valid_vector(vector: dict[str, Any]) -> None:
    from ledger import canonical
    from ledger.envelope import seal
    from ledger.suites import Ed25519Signer, get_suite, signing_input

    expected = {name: value for name, value in vector["expected"].items()}
    signer = Ed25519Signer.from_seed(bytes.fromhex(vector["signer"]["seed"]))
    assert signer.public_key.hex() == vector["signer"]["public_key"]
    assert signer.key_id == vector["signer"]["kid"] == expected["kid"]

    content = from_json(vector["content"])
    content_bytes = canonical.encode(content)
    assert content_bytes.hex() == expected["content"]
    message = signing_input(vector["context"], get_suite(content["suite"]), content_bytes)
    assert message.hex() == expected["signing_input"]
    assert signer.sign(message).hex() == expected["signature"]
    unsigned = {k: v for k, v in content.items() if k not in {"v", "suite", "kid"}}
    raw = seal(unsigned, signer)
    assert raw.hex() == expected["envelope"]

    parsed = _library_parse(vector["kind"], raw)
    assert parsed.signed.content == content
    assert parsed.signed.hash.hex() == expected["hash"]
    assert parsed.signed.key_id == expected["kid"]
    parsed.signed.verify(signer.public_key)


def test_library_chain_links_and_receipt() -> None:
    from ledger.envelope import ZERO_HASH, parse_event
    from ledger.receipts import parse_receipt

    first = parse_event(bytes.fromhex(BY_NAME["event-seq1"]["expected"]["envelope"]))
    second = parse_event(bytes.fromhex(BY_NAME["event-seq2"]["expected"]["envelope"]))
    receipt = parse_receipt(bytes.fromhex(BY_NAME["receipt-event-seq2"]["expected"]["envelope"]))
    assert (first.seq, first.prev) == (1, ZERO_HASH)
    assert (second.seq, second.prev) == (2, first.hash)
    assert second.case_id == first.case_id == receipt.stream_id
    assert (receipt.event_hash, receipt.seq, receipt.ledger) == (second.hash, 2, second.ledger)


def test_library_registry_certifies_the_vector_keys() -> None:
    from ledger.envelope import parse_event
    from ledger.keys import KeyRegistry, parse_key_record
    from ledger.receipts import parse_receipt
    from ledger.suites import key_id

    records = [v for v in VALID if v["kind"] == "key_record"]
    root = BY_NAME["key-root-established"]["signer"]["public_key"]
    registry = KeyRegistry({"510000": bytes.fromhex(root)})
    for vector in sorted(records, key=lambda v: v["index"]):
        record = parse_key_record(bytes.fromhex(vector["expected"]["envelope"]))
        registry.apply(record, vector["received_at"], vector["index"])
    assert registry.head("510000") == (
        8,
        bytes.fromhex(BY_NAME["key-hall-published"]["expected"]["hash"]),
    )
    assert registry.halls["510104-RS"].appointment == ""  # published empty: 未公布
    published = registry.calendars.get("510000", 2026)
    assert published is not None and date(2026, 2, 14) in published.workdays
    # The second device's key is valid beside the first, which signs the events below.
    laptop = BY_NAME["key-officer-second-device"]["content"]["body"]
    laptop_kid = key_id("ed25519-sha256", bytes.fromhex(laptop["public_key"]["bin"]))
    assert registry.officer_key_at(
        laptop_kid, BY_NAME["event-seq2"]["received_at"], body_id="510104-RS", officer_id="rs-001"
    ).public_key == bytes.fromhex(laptop["public_key"]["bin"])

    for name in ("event-seq1", "event-seq2"):
        event = parse_event(bytes.fromhex(BY_NAME[name]["expected"]["envelope"]))
        key = registry.officer_key_at(
            event.key_id,
            BY_NAME[name]["received_at"],
            body_id=event.body_id,
            officer_id=event.officer_id,
        )
        event.signed.verify(key.public_key)
    receipt = parse_receipt(bytes.fromhex(BY_NAME["receipt-event-seq2"]["expected"]["envelope"]))
    receipt.signed.verify(registry.node_key_at(receipt.key_id, receipt.time).public_key)


def test_library_root_rotation_proof() -> None:
    from ledger.keys import rotation_proof_input, sign_rotation_proof
    from ledger.suites import Ed25519Signer

    vector = BY_NAME["key-root-rotated"]
    proof = vector["proof"]
    statement = from_json(proof["statement"])
    message = rotation_proof_input(
        statement["region"], statement["old"], statement["public_key"], statement["valid_from"]
    )
    assert message.hex() == proof["signing_input"]
    new_root = Ed25519Signer.from_seed(bytes.fromhex(proof["signer"]["seed"]))
    signature = sign_rotation_proof(
        new_root,
        region=statement["region"],
        old_kid=statement["old"],
        valid_from=statement["valid_from"],
    )
    assert signature.hex() == proof["signature"]
    assert from_json(vector["content"])["body"]["proof"] == signature


def test_library_commitments() -> None:
    from ledger.personal import commit

    vector = BY_NAME["event-seq1"]
    secret = bytes.fromhex(vector["commitments"]["secret"])
    committed = from_json(vector["content"])["body"]["applicant"]["commitments"]
    for field, value in vector["commitments"]["values"].items():
        assert commit(secret, field, value) == committed[field]


@pytest.mark.parametrize("vector", INVALID, ids=lambda v: v["name"])
def test_library_refuses_negative_vector(vector: dict[str, Any]) -> None:
    from ledger.errors import LedgerError

    raw = bytes.fromhex(vector["envelope"])
    with pytest.raises(LedgerError) as refused:
        parsed = _library_parse(vector["kind"], raw)
        assert vector["refused_by"] == "signature", "decoding should have refused it"
        parsed.signed.verify(bytes.fromhex(vector["public_key"]))
    assert refused.value.reason == vector["reason"]


# == (b) an independent verifier, from docs/envelope.md alone =================================
#
# Nothing below imports ``ledger``. It is deliberately small and literal: a second province
# would write the same in its own language.

SUITE = "ed25519-sha256"
DIGEST_SIZE = 32
MAX_DEPTH = 32
CASE_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
TYPE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
EVENT_FIELDS = {"v", "suite", "ctx", "kid", "ledger", "case", "seq", "type", "time", "actor"}
EVENT_FIELDS |= {"prev", "body"}


class Refused(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def _head(value: int, fix_limit: int, fix_base: int, codes: tuple[int, int, int]) -> bytes:
    """A length header: fix form, else the 8/16/32-bit form (``codes[0]`` may be 0: none)."""
    if value <= fix_limit:
        return bytes([fix_base | value])
    for code, size, fmt in zip(codes, (0xFF, 0xFFFF, 0xFFFFFFFF), (">B", ">H", ">I"), strict=True):
        if code and value <= size:
            return bytes([code]) + struct.pack(fmt, value)
    raise Refused("malformed", "too long")


def canon(value: Any, depth: int = 0) -> bytes:
    """Canonical msgpack, byte by byte as the document's Encoding section states it."""
    if depth > MAX_DEPTH:
        raise Refused("malformed", "nesting")
    if value is None:
        return b"\xc0"
    if value is True or value is False:
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        if 0 <= value <= 0x7F:
            return bytes([value])
        if -32 <= value < 0:
            return struct.pack(">b", value)
        if value > 0:
            for code, fmt, top in ((0xCC, ">B", 2**8), (0xCD, ">H", 2**16), (0xCE, ">I", 2**32)):
                if value < top:
                    return bytes([code]) + struct.pack(fmt, value)
            if value < 2**64:
                return b"\xcf" + struct.pack(">Q", value)
        else:
            for code, fmt, bottom in ((0xD0, ">b", -(2**7)), (0xD1, ">h", -(2**15))):
                if value >= bottom:
                    return bytes([code]) + struct.pack(fmt, value)
            if value >= -(2**31):
                return b"\xd2" + struct.pack(">i", value)
            if value >= -(2**63):
                return b"\xd3" + struct.pack(">q", value)
        raise Refused("malformed", "integer out of range")
    if isinstance(value, str):
        data = value.encode("utf-8")
        return _head(len(data), 31, 0xA0, (0xD9, 0xDA, 0xDB)) + data
    if isinstance(value, bytes):
        if len(value) <= 0xFF:
            return b"\xc4" + bytes([len(value)]) + value
        if len(value) <= 0xFFFF:
            return b"\xc5" + struct.pack(">H", len(value)) + value
        return b"\xc6" + struct.pack(">I", len(value)) + value
    if isinstance(value, list):
        items = b"".join(canon(item, depth + 1) for item in value)
        return _head(len(value), 15, 0x90, (0, 0xDC, 0xDD)) + items
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise Refused("malformed", "map key is not text")
        keys = sorted(value, key=lambda key: key.encode("utf-8"))
        pairs = b"".join(canon(key, depth + 1) + canon(value[key], depth + 1) for key in keys)
        return _head(len(value), 15, 0x80, (0, 0xDE, 0xDF)) + pairs
    raise Refused("malformed", f"{type(value).__name__} is not allowed")


def canon_decode(data: bytes) -> Any:
    """Decode, re-encode, compare: anything but the canonical bytes is refused."""
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as error:
        raise Refused("malformed", f"not msgpack: {error}") from error
    if canon(value) != data:
        raise Refused("malformed", "not canonical")
    return value


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(SUITE.encode() + b"\x00" + public_key).digest()[:16].hex()


def signing_message(context: str, content: bytes) -> bytes:
    return context.encode() + b"\x00" + hashlib.sha256(content).digest()


def open_object(raw: bytes, context: str) -> tuple[dict[str, Any], bytes, bytes]:
    """Steps 1-4 of "Verifying a signed object": content map, content bytes, signature."""
    outer = canon_decode(raw)
    if not (
        isinstance(outer, list)
        and len(outer) == 2
        and all(isinstance(part, bytes) for part in outer)
    ):
        raise Refused("malformed", "not [content, signature]")
    content = canon_decode(outer[0])
    if not isinstance(content, dict):
        raise Refused("malformed", "content is not a map")
    version = content.get("v")
    if not isinstance(version, int) or isinstance(version, bool) or version != 1:
        raise Refused("unsupported_version")
    if content.get("suite") != SUITE:
        raise Refused("unsupported_suite")
    if content.get("ctx") != context:
        raise Refused("wrong_context")
    if not isinstance(content.get("kid"), str):
        raise Refused("malformed", "kid")
    return content, outer[0], outer[1]


def check_event_fields(content: dict[str, Any]) -> None:
    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    actor = content.get("actor")
    checks = [
        set(content) <= EVENT_FIELDS,
        isinstance(actor, dict) and set(actor) == {"body", "officer"},
        is_int(content.get("seq")) and content["seq"] >= 1,
        isinstance(content.get("prev"), bytes) and len(content["prev"]) == DIGEST_SIZE,
        isinstance(content.get("type"), str) and TYPE_PATTERN.fullmatch(content["type"]),
        is_int(content.get("time")) and content["time"] >= 0,
        isinstance(content.get("ledger"), str),
        isinstance(content.get("case"), str) and CASE_PATTERN.fullmatch(content["case"]),
        isinstance(actor, dict)
        and all(isinstance(actor[k], str) and ID_PATTERN.fullmatch(actor[k]) for k in actor),
        isinstance(content.get("body"), dict),
    ]
    failed = [number for number, ok in enumerate(checks) if not ok]
    if failed:
        raise Refused("malformed", f"event field check {failed[0]}")


RECEIPT_FIELDS = {"v", "suite", "ctx", "kid", "ledger", "index", "event", "stream", "seq", "time"}
KEY_RECORD_FIELDS = {"v", "suite", "ctx", "kid", "region", "seq", "prev", "type", "time", "body"}
KEY_FIELDS = {"public_key", "key_suite", "valid_from"}
KEY_BODY_FIELDS = {  # keys.md §3, the optional fields included
    "root_established": KEY_FIELDS,
    "root_rotated": KEY_FIELDS | {"proof"},
    "body_registered": KEY_FIELDS | {"body_id", "name", "org"},
    "body_key_rotated": KEY_FIELDS | {"body_id"},
    "officer_certified": KEY_FIELDS | {"body_id", "officer_id", "device", "head"},
    "node_key_certified": KEY_FIELDS | {"node_id"},
    "key_revoked": {"kid", "compromised_since", "reason"},
    "finding_resolved": {"case", "seq", "reason", "resolution", "note"},
    "catalog_amended": {"base_version", "changes"},
    "license_key_certified": KEY_FIELDS | {"body_id", "valid_until"},
    "calendar_published": {"year", "holidays", "workdays", "divisions", "source"},
    "hall_published": {"body_id", "address", "hours", "phone", "appointment", "notice"},
}


def check_key_record_fields(content: dict[str, Any]) -> None:
    body = content.get("body")
    if (
        not set(content) <= KEY_RECORD_FIELDS
        or content.get("type") not in KEY_BODY_FIELDS
        or not isinstance(body, dict)
        or not set(body) <= KEY_BODY_FIELDS[content["type"]]
    ):
        raise Refused("malformed", "key record fields")


def verify_signature(public_key: bytes, context: str, content: bytes, signature: bytes) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, signing_message(context, content)
        )
    except (InvalidSignature, ValueError) as error:
        raise Refused("bad_signature") from error


def independent_verify(raw: bytes, kind: str, context: str, public_key: bytes) -> dict[str, Any]:
    content, content_bytes, signature = open_object(raw, context)
    if kind == "event":
        check_event_fields(content)
    elif kind == "key_record":
        check_key_record_fields(content)
    elif kind == "receipt" and not (
        set(content) <= RECEIPT_FIELDS
        and all(
            isinstance(content.get(name), int)
            and not isinstance(content[name], bool)
            and content[name] >= 1
            for name in ("index", "seq")
        )
        and isinstance(content.get("event"), bytes)
        and len(content["event"]) == DIGEST_SIZE
    ):
        raise Refused("malformed", "receipt fields")
    if content["kid"] != key_id(public_key):
        raise Refused("unknown_key")
    verify_signature(public_key, context, content_bytes, signature)
    return content


def test_independent_canon_matches_the_doc_examples() -> None:
    # The Encoding section's examples, byte for byte.
    assert canon({"b": 1, "a": [True, None, -1]}).hex() == "82a16193c3c0ffa16201"
    assert canon(200).hex() == "ccc8"
    assert canon(-33).hex() == "d0df"
    assert canon(b"\x01").hex() == "c40101"
    assert canon("通").hex() == "a3e9809a"
    assert canon(1_767_225_600_000_000).hex() == "cf0006474846204000"


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["name"])
def test_independent_verifier_reproduces_valid_vector(vector: dict[str, Any]) -> None:
    expected = vector["expected"]
    seed = bytes.fromhex(vector["signer"]["seed"])
    private_key = Ed25519PrivateKey.from_private_bytes(seed)
    public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert public_key.hex() == vector["signer"]["public_key"]
    assert key_id(public_key) == expected["kid"]

    content = from_json(vector["content"])
    content_bytes = canon(content)
    assert content_bytes.hex() == expected["content"]
    message = signing_message(vector["context"], content_bytes)
    assert message.hex() == expected["signing_input"]
    signature = private_key.sign(message)
    assert signature.hex() == expected["signature"]
    raw = canon([content_bytes, signature])
    assert raw.hex() == expected["envelope"]
    assert hashlib.sha256(raw).hexdigest() == expected["hash"]
    assert independent_verify(raw, vector["kind"], vector["context"], public_key) == content


@pytest.mark.parametrize("vector", INVALID, ids=lambda v: v["name"])
def test_independent_verifier_refuses_negative_vector(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["envelope"])
    with pytest.raises(Refused) as refused:
        independent_verify(
            raw, vector["kind"], vector["context"], bytes.fromhex(vector["public_key"])
        )
    assert refused.value.reason == vector["reason"]


def test_independent_chain_and_receipt() -> None:
    first = BY_NAME["event-seq1"]
    second = BY_NAME["event-seq2"]
    receipt = from_json(BY_NAME["receipt-event-seq2"]["content"])
    first_content = from_json(first["content"])
    second_content = from_json(second["content"])
    first_hash = hashlib.sha256(bytes.fromhex(first["expected"]["envelope"])).digest()
    second_hash = hashlib.sha256(bytes.fromhex(second["expected"]["envelope"])).digest()
    assert first_content["prev"] == bytes(32)
    assert second_content["prev"] == first_hash
    assert second_content["seq"] == first_content["seq"] + 1 == 2
    assert receipt["event"] == second_hash
    assert (receipt["stream"], receipt["seq"]) == (second_content["case"], 2)
    assert receipt["ledger"] == second_content["ledger"]
    assert str(uuid.UUID(receipt["stream"])) == receipt["stream"]


def test_independent_registry_chain_and_key_ids() -> None:
    records = sorted((v for v in VALID if v["kind"] == "key_record"), key=lambda v: v["index"])
    prev = bytes(32)
    kids: dict[str, str] = {}  # kid -> role it was registered for
    for vector in records:
        content = from_json(vector["content"])
        assert (content["seq"], content["prev"]) == (vector["index"], prev)
        body = content["body"]
        if "public_key" in body:  # a record that registers a key
            kids[key_id(body["public_key"])] = content["type"]
        # Every record is signed by a key registered before it (seq 1: by the key it registers).
        assert content["kid"] in kids
        prev = hashlib.sha256(bytes.fromhex(vector["expected"]["envelope"])).digest()
    assert from_json(BY_NAME["event-seq1"]["content"])["kid"] in kids
    assert from_json(BY_NAME["receipt-event-seq2"]["content"])["kid"] in kids


def test_independent_root_rotation_proof() -> None:
    vector = BY_NAME["key-root-rotated"]
    content = from_json(vector["content"])
    body = content["body"]
    statement = {
        "region": content["region"],
        "old": content["kid"],
        "public_key": body["public_key"],
        "valid_from": body["valid_from"],
    }
    statement_bytes = canon(statement)
    assert statement_bytes.hex() == vector["proof"]["statement_bytes"]
    message = signing_message("tongban/key-proof/v1", statement_bytes)
    assert message.hex() == vector["proof"]["signing_input"]
    verify_signature(body["public_key"], "tongban/key-proof/v1", statement_bytes, body["proof"])


def test_independent_commitments() -> None:
    import hmac
    import unicodedata

    vector = BY_NAME["event-seq1"]
    secret = bytes.fromhex(vector["commitments"]["secret"])
    committed = from_json(vector["content"])["body"]["applicant"]["commitments"]
    for field, value in vector["commitments"]["values"].items():
        message = field.encode() + b"\x00" + unicodedata.normalize("NFC", value).encode()
        assert hmac.new(secret, message, hashlib.sha256).digest() == committed[field]
