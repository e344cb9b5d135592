"""Generate the envelope and key-record test vectors in ``tests/vectors/envelope/``.

    .venv/bin/python tools/make_vectors.py            # (re)write the vector files
    .venv/bin/python tools/make_vectors.py --check    # exit 1 if a file would change

Every key comes from a fixed Ed25519 seed and every time is fixed, and Ed25519 signatures are
deterministic, so the output is the same byte for byte on every run. The vectors are made with
the library (``ledger.envelope``, ``ledger.keys``, ``ledger.receipts``); the negative ones are
the first valid event taken apart and rebuilt with exactly one defect each, re-signed so that
the defect, not the signature, is what a verifier must refuse.

The JSON form of a content map is described in ``tests/vectors/envelope/README.md``: byte
strings are written ``{"bin": "<hex>"}``, everything else as the JSON value it is.
"""

from __future__ import annotations

import hashlib
import struct
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script too

from ledger import canonical
from ledger.envelope import (
    EVENT_CONTEXT,
    KEY_PROOF_CONTEXT,
    KEY_RECORD_CONTEXT,
    RECEIPT_CONTEXT,
    ZERO_HASH,
    build_event,
    open_signed,
)
from ledger.keys import build_key_record, rotation_proof_input, sign_rotation_proof
from ledger.personal import applicant_ref, commit
from ledger.receipts import make_receipt
from ledger.suites import ED25519_SHA256, Ed25519Signer, get_suite, signing_input
from tools import vectorkit
from tools.vectorkit import seed, to_json

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "envelope"

START = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds
SECOND = 1_000_000
REGION = "510000"
LEDGER = "tongban/510000"
CASE_ID = uuid.UUID("0b5b3a52-7c1e-4c5e-9a0e-2f4d5c6b7a81")
BODY_ID = "510104-RS"
BODY_NAME = "成都市锦江区人力资源和社会保障局"
OFFICER_ID = "rs-001"
# A fixed reference (production draws 16 random bytes); commitments under a fixed secret.
APPLICANT_REF = applicant_ref(lambda size: bytes(range(1, size + 1)))
# A commitment secret is per applicant and never published; this one is for vectors only.
COMMITMENT_SECRET = hashlib.sha256(b"tongban-vector-applicant-secret").digest()


SEEDS: dict[str, bytes] = {
    "root": bytes(range(32)),
    "node": seed("tongban-vector-node"),
    "body": seed("tongban-vector-body"),
    "officer": seed("tongban-vector-officer"),
    "root-2": seed("tongban-vector-root-2"),
    "officer-laptop": seed("tongban-vector-officer-laptop"),
}
SIGNERS = {label: Ed25519Signer.from_seed(seed) for label, seed in SEEDS.items()}


# -- JSON form ------------------------------------------------------------------------------


def signer_json(label: str) -> dict[str, str]:
    return vectorkit.signer_json(label, SEEDS[label])


def positive(
    name: str, kind: str, description: str, signer: str, raw: bytes, **extra: Any
) -> dict[str, Any]:
    """A valid vector: the inputs and every intermediate value a verifier computes."""
    context = {"event": EVENT_CONTEXT, "receipt": RECEIPT_CONTEXT, "key_record": KEY_RECORD_CONTEXT}
    signed = open_signed(raw, context=context[kind])
    signed.verify(SIGNERS[signer].public_key)
    return {
        "name": name,
        "valid": True,
        "kind": kind,
        "context": signed.context,
        "description": description,
        "signer": signer_json(signer),
        "content": to_json(signed.content),
        "expected": {
            "content": signed.content_bytes.hex(),
            "signing_input": signing_input(
                signed.context, signed.suite, signed.content_bytes
            ).hex(),
            "signature": signed.signature.hex(),
            "envelope": raw.hex(),
            "hash": signed.hash.hex(),
            "kid": signed.key_id,
        },
        **extra,
    }


# -- the valid objects ----------------------------------------------------------------------


def key_body(label: str, valid_from: int = START, **more: Any) -> dict[str, Any]:
    return {
        "public_key": SIGNERS[label].public_key,
        "key_suite": ED25519_SHA256,
        "valid_from": valid_from,
        **more,
    }


def registry_vectors() -> list[dict[str, Any]]:
    """A region's registry from seq 1 to 7; each record's receipt time is its claimed time."""
    rotate_at = START + 3600 * SECOND
    proof = sign_rotation_proof(
        SIGNERS["root-2"], region=REGION, old_kid=SIGNERS["root"].key_id, valid_from=rotate_at
    )
    statement = {
        "region": REGION,
        "old": SIGNERS["root"].key_id,
        "public_key": SIGNERS["root-2"].public_key,
        "valid_from": rotate_at,
    }
    steps: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = [
        (
            "key-root-established",
            "root",
            "root_established",
            key_body("root"),
            {},
        ),
        (
            "key-node-key-certified",
            "root",
            "node_key_certified",
            key_body("node", node_id="node-1"),
            {},
        ),
        (
            "key-body-registered",
            "root",
            "body_registered",
            key_body(
                "body",
                body_id=BODY_ID,
                name=BODY_NAME,
                org={
                    "division": "510104",
                    "level": "county",
                    "sector": "人力资源社会保障",
                    "roles": ["handler"],
                },
            ),
            {},
        ),
        (
            "key-officer-certified",
            "body",
            "officer_certified",
            key_body("officer", body_id=BODY_ID, officer_id=OFFICER_ID),
            {},
        ),
        (
            "key-root-rotated",
            "root",
            "root_rotated",
            key_body("root-2", rotate_at, proof=proof),
            {
                "proof": {
                    "context": KEY_PROOF_CONTEXT,
                    "signer": signer_json("root-2"),
                    "statement": to_json(statement),
                    "statement_bytes": canonical.encode(statement).hex(),
                    "signing_input": rotation_proof_input(
                        REGION, SIGNERS["root"].key_id, SIGNERS["root-2"].public_key, rotate_at
                    ).hex(),
                    "signature": proof.hex(),
                }
            },
        ),
        (
            # The officer's second device: a key beside the first, both valid (docs/keys.md §5).
            "key-officer-second-device",
            "body",
            "officer_certified",
            key_body("officer-laptop", body_id=BODY_ID, officer_id=OFFICER_ID, device="laptop"),
            {},
        ),
        (
            "key-calendar-published",
            "root-2",
            "calendar_published",
            {
                "year": 2026,
                "holidays": ["2026-01-01", "2026-01-02", "2026-02-16", "2026-02-17"],
                "workdays": ["2026-01-04", "2026-02-14"],
                "divisions": [],
                "source": "国务院办公厅关于2026年部分节假日安排的通知 (excerpt)",
            },
            {},
        ),
        (
            # The body's own key publishes its hall; an empty field is not published (未公布).
            "key-hall-published",
            "body",
            "hall_published",
            {
                "body_id": BODY_ID,
                "address": "成都市锦江区东大街下东大街段 99 号",
                "hours": "周一至周五 9:00-12:00，13:30-17:30（法定节假日除外）",
                "phone": "028-12345",
                "appointment": "",
                "notice": "请携带身份证原件；\n代办须持委托书。",
            },
            {},
        ),
    ]
    vectors, prev = [], ZERO_HASH
    # After the rotation the new root signs, once its valid_from has come.
    times = {
        "key-calendar-published": rotate_at + SECOND,
        "key-hall-published": rotate_at + 2 * SECOND,
    }
    for seq, (name, signer, record_type, body, extra) in enumerate(steps, start=1):
        time = times.get(name, START + seq * SECOND)
        raw = build_key_record(
            SIGNERS[signer],
            region=REGION,
            seq=seq,
            prev=prev,
            record_type=record_type,
            time=time,
            body=body,
        )
        vector = positive(
            name,
            "key_record",
            f"Key record {seq} of region {REGION}'s registry: {record_type}, signed by the "
            f"{signer} key. Apply the records in order, each received at its claimed time, "
            f"at ledger index = seq.",
            signer,
            raw,
            received_at=time,
            index=seq,
            **extra,
        )
        vectors.append(vector)
        prev = get_suite(ED25519_SHA256).digest(raw)
    return vectors


def event_vectors() -> tuple[list[dict[str, Any]], bytes, bytes]:
    """Case events at seq 1 and 2 and the node's receipt for seq 2."""
    officer = SIGNERS["officer"]
    # A fictitious applicant (the ID number is the GB 11643 standard's own example).
    applicant = {"name": "张三", "id_number": "11010519491231002X"}
    commitments = {
        field: commit(COMMITMENT_SECRET, field, value) for field, value in applicant.items()
    }
    first_time = START + 2 * 3600 * SECOND
    first = build_event(
        officer,
        ledger=LEDGER,
        case_id=CASE_ID,
        seq=1,
        event_type="received",
        time=first_time,
        body_id=BODY_ID,
        officer_id=OFFICER_ID,
        prev=ZERO_HASH,
        body={
            # A proxy case of 社会保障卡补领、换领、换发 as the workflow checks it
            # (docs/workflows.md); the catalog version is a fixed example value.
            "item": "510000/2/23",
            "channel": "proxy",
            "coordination": "single",
            "catalog_version": hashlib.sha256(b"tongban-vector-catalog").hexdigest(),
            "applicant": {"ref": APPLICANT_REF, "commitments": commitments},
            "materials": [{"name": "申请表", "sha256": hashlib.sha256(b"form").digest()}],
            "home_body": "510104-RS",
            "jurisdiction": "510104",
            "origin_bodies": [],
        },
    )
    first_hash = get_suite(ED25519_SHA256).digest(first)
    second_time = first_time + 60 * SECOND
    second = build_event(
        officer,
        ledger=LEDGER,
        case_id=CASE_ID,
        seq=2,
        event_type="form_checked",
        time=second_time,
        body_id=BODY_ID,
        officer_id=OFFICER_ID,
        prev=first_hash,
        body={"complete": True},
    )
    second_hash = get_suite(ED25519_SHA256).digest(second)
    receipt_time = second_time + 250_000
    receipt = make_receipt(
        SIGNERS["node"],
        ledger=LEDGER,
        index=7,
        event_hash=second_hash,
        stream_id=CASE_ID,
        seq=2,
        time=receipt_time,
    )
    vectors = [
        positive(
            "event-seq1",
            "event",
            "The first event of a case: seq 1, prev = 32 zero bytes. The body carries an "
            "applicant reference and HMAC-SHA256 commitments, never the applicant's data.",
            "officer",
            first,
            received_at=first_time + 250_000,
            commitments={"secret": COMMITMENT_SECRET.hex(), "values": applicant},
        ),
        positive(
            "event-seq2",
            "event",
            "The second event of the same case: prev = expected.hash of event-seq1.",
            "officer",
            second,
            received_at=receipt_time,
        ),
        positive(
            "receipt-event-seq2",
            "receipt",
            "The node's receipt for event-seq2, at ledger index 7; event = expected.hash of "
            "event-seq2. Signed by the node key certified in key-node-key-certified.",
            "node",
            receipt,
        ),
    ]
    return vectors, first, receipt


# -- the negative vectors -------------------------------------------------------------------


def sign_bytes(content_bytes: bytes, context: str, signer: str = "officer") -> bytes:
    """A signature over any content bytes (canonical or not), as a careless signer would."""
    message = context.encode() + b"\x00" + hashlib.sha256(content_bytes).digest()
    return SIGNERS[signer].sign(message)


def wrap(content_bytes: bytes, context: str = EVENT_CONTEXT) -> bytes:
    return canonical.encode([content_bytes, sign_bytes(content_bytes, context)])


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, f"{old.hex()} occurs {data.count(old)} times"
    return data.replace(old, new)


def negative_vectors(first: bytes, receipt: bytes) -> list[dict[str, Any]]:
    signed = open_signed(first, context=EVENT_CONTEXT)
    content, content_bytes = signed.content, signed.content_bytes
    assert content_bytes[0] == 0x8C  # a fixmap of the 12 event fields
    seq_entry = b"\xa3seq\x01"
    time_entry = b"\xa4time" + b"\xcf" + struct.pack(">Q", content["time"])

    def resealed(change: Mapping[str, Any]) -> bytes:
        """The first event with ``change`` applied, canonical and validly signed."""
        return wrap(canonical.encode({**content, **change}), str(change.get("ctx", EVENT_CONTEXT)))

    unsorted = dict(sorted(content.items(), key=lambda item: item[0], reverse=True))
    flipped = bytearray(first)
    flipped[-1] ^= 0x01  # the last byte of the signature (the outer bytes end with it)
    outer_long_bin = replace_once(first, b"\xc4\x40", b"\xc5\x00\x40")

    cases: list[tuple[str, str, str, Callable[[], bytes]]] = [
        (
            "neg-unsorted-keys",
            "malformed",
            "event-seq1's content map with its keys in reverse order.",
            lambda: wrap(msgpack.packb(unsorted, use_bin_type=True)),
        ),
        (
            "neg-long-form-integer",
            "malformed",
            "seq = 1 written as uint8 (cc 01) instead of the positive fixint 01.",
            lambda: wrap(replace_once(content_bytes, seq_entry, b"\xa3seq\xcc\x01")),
        ),
        (
            "neg-float",
            "malformed",
            "time written as a float 64 (cb) of the same value; floats are never allowed.",
            lambda: wrap(
                replace_once(
                    content_bytes,
                    time_entry,
                    b"\xa4time\xcb" + struct.pack(">d", float(content["time"])),
                )
            ),
        ),
        (
            "neg-duplicate-key",
            "malformed",
            "The key seq twice (map header 8d, 13 entries, two of them seq = 1).",
            lambda: wrap(
                b"\x8d" + replace_once(content_bytes[1:], seq_entry, seq_entry + seq_entry)
            ),
        ),
        (
            "neg-trailing-byte-content",
            "malformed",
            "event-seq1's content bytes followed by one extra byte c0, signed as such.",
            lambda: wrap(content_bytes + b"\xc0"),
        ),
        (
            "neg-trailing-byte-envelope",
            "malformed",
            "event-seq1's exact envelope bytes followed by one extra byte 00.",
            lambda: first + b"\x00",
        ),
        (
            "neg-long-form-bin",
            "malformed",
            "event-seq1's envelope with the signature's length written as bin 16 (c5 00 40) "
            "instead of bin 8 (c4 40).",
            lambda: outer_long_bin,
        ),
        (
            "neg-suite-rsa-sha1",
            "unsupported_suite",
            "suite = rsa-sha1, which the format does not define.",
            lambda: resealed({"suite": "rsa-sha1"}),
        ),
        (
            "neg-version-2",
            "unsupported_version",
            "v = 2.",
            lambda: resealed({"v": 2}),
        ),
        (
            "neg-version-true",
            "unsupported_version",
            "v = true (c3). Python's True == 1, but a boolean is not the integer 1 (01).",
            lambda: resealed({"v": True}),
        ),
        (
            "neg-wrong-context",
            "wrong_context",
            "An event whose ctx is tongban/receipt/v1 (signed under that context), offered "
            "as a case event.",
            lambda: resealed({"ctx": RECEIPT_CONTEXT}),
        ),
        (
            "neg-receipt-as-event",
            "wrong_context",
            "The valid receipt receipt-event-seq2, offered as a case event.",
            lambda: receipt,
        ),
        (
            "neg-case-uppercase",
            "malformed",
            "case written in upper case; it must be the lowercase hyphenated UUID text.",
            lambda: resealed({"case": str(CASE_ID).upper()}),
        ),
        (
            "neg-seq-zero",
            "malformed",
            "seq = 0; seq starts at 1.",
            lambda: resealed({"seq": 0}),
        ),
        (
            "neg-seq-true",
            "malformed",
            "seq = true (c3) where the integer 1 (01) belongs; a boolean is never an integer.",
            lambda: resealed({"seq": True}),
        ),
        (
            "neg-prev-short",
            "malformed",
            "prev of 31 bytes; it must be one digest (32 bytes) long.",
            lambda: resealed({"prev": bytes(31)}),
        ),
        (
            "neg-unknown-field",
            "malformed",
            "An extra content field note; a case event has exactly its documented fields.",
            lambda: resealed({"note": "x"}),
        ),
        (
            "neg-flipped-signature-bit",
            "bad_signature",
            "event-seq1 with the lowest bit of the signature's last byte flipped. Well formed: "
            "refused only when the signature is checked against the officer's public key.",
            lambda: bytes(flipped),
        ),
    ]
    vectors = []
    for name, reason, description, make in cases:
        vectors.append(
            {
                "name": name,
                "valid": False,
                "kind": "event",
                "context": EVENT_CONTEXT,
                "description": description,
                "public_key": SIGNERS["officer"].public_key.hex(),
                "envelope": make().hex(),
                "reason": reason,
                "refused_by": "signature" if reason == "bad_signature" else "decoding",
            }
        )
    return vectors


def exact_field_vectors(registry: list[dict[str, Any]], receipt: bytes) -> list[dict[str, Any]]:
    """A receipt and key-root-established with one defect each, re-signed by their signer: a
    receipt holds exactly the fields of docs/envelope.md §6, a key record those of
    docs/keys.md §2 and its type's body fields of §3."""
    established = bytes.fromhex(registry[0]["expected"]["envelope"])
    content = open_signed(established, context=KEY_RECORD_CONTEXT).content
    receipt_content = open_signed(receipt, context=RECEIPT_CONTEXT).content

    def receipt_with(change: Mapping[str, Any]) -> bytes:
        content_bytes = canonical.encode({**receipt_content, **change})
        signature = sign_bytes(content_bytes, RECEIPT_CONTEXT, "node")
        return canonical.encode([content_bytes, signature])

    def resealed(change: Mapping[str, Any]) -> bytes:
        content_bytes = canonical.encode({**content, **change})
        signature = sign_bytes(content_bytes, KEY_RECORD_CONTEXT, "root")
        return canonical.encode([content_bytes, signature])

    cases = [
        (
            "neg-receipt-unknown-field",
            "receipt-event-seq2 with an extra content field note, re-signed by the node key.",
            receipt_with({"note": "x"}),
            "receipt",
            RECEIPT_CONTEXT,
            "node",
        ),
        (
            "neg-receipt-index-zero",
            "receipt-event-seq2 with index 0; ledger indexes start at 1.",
            receipt_with({"index": 0}),
            "receipt",
            RECEIPT_CONTEXT,
            "node",
        ),
        (
            "neg-receipt-event-short",
            "receipt-event-seq2 whose event is 31 bytes, not one digest.",
            receipt_with({"event": bytes(31)}),
            "receipt",
            RECEIPT_CONTEXT,
            "node",
        ),
        (
            "neg-key-unknown-field",
            "key-root-established with an extra content field note.",
            resealed({"note": "x"}),
            "key_record",
            KEY_RECORD_CONTEXT,
            "root",
        ),
        (
            "neg-key-unknown-body-field",
            "key-root-established whose body also holds node_id, a field of "
            "node_key_certified: each record type has exactly its own body fields.",
            resealed({"body": {**content["body"], "node_id": "node-1"}}),
            "key_record",
            KEY_RECORD_CONTEXT,
            "root",
        ),
    ]
    return [
        {
            "name": name,
            "valid": False,
            "kind": kind,
            "context": context,
            "description": description,
            "public_key": SIGNERS[signer].public_key.hex(),
            "envelope": raw.hex(),
            "reason": "malformed",
            "refused_by": "decoding",
        }
        for name, description, raw, kind, context, signer in cases
    ]


def all_vectors() -> dict[str, dict[str, Any]]:
    events, first, receipt = event_vectors()
    registry = registry_vectors()
    vectors = registry + events + negative_vectors(first, receipt)
    vectors += exact_field_vectors(registry, receipt)
    return {f"{vector['name']}.json": vector for vector in vectors}


def main(argv: list[str] | None = None) -> int:
    return vectorkit.run(argv, description=__doc__.splitlines()[0], out=OUT, vectors=all_vectors)


if __name__ == "__main__":
    sys.exit(main())
