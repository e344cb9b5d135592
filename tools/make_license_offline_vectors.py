"""Generate the offline-license test vectors in ``tests/vectors/license-offline/``.

    .venv/bin/python tools/make_license_offline_vectors.py            # (re)write the files
    .venv/bin/python tools/make_license_offline_vectors.py --check    # exit 1 if one would change

Keys come from fixed Ed25519 seeds, times are fixed and status indexes are drawn from a seeded
``random.Random``, and Ed25519 is deterministic, so every run writes the same bytes (GZIP and
zlib output is fixed for one zlib build; see ``docs/license-offline.md``, Test vectors).

- ``status-list.json``: one signed status list, its fields, the entries that are not valid,
  and the times at which it is fresh and stale.
- ``compact.json``: one compact license, every intermediate byte string, its QR version.
- ``compact-negative.json``: texts a decoder must refuse, each with its reason.
"""

from __future__ import annotations

import hashlib
import random
import sys
import zlib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import base45

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script too

from ledger import canonical
from ledger.personal import mask_id_number, mask_name
from ledger.suites import Ed25519Signer, get_suite, signing_input
from licenses.compact import (
    COMPACT_CONTEXT,
    COMPACT_PREFIX,
    decode_compact,
    document_digest,
    encode_compact,
)
from licenses.identifiers import make_identifier
from licenses.qr import qr_version
from licenses.status import (
    LicenseStatus,
    StatusList,
    allocate_index,
    build_status_list,
    parse_status_list,
)
from tools import vectorkit
from tools.vectorkit import seed, to_json

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "license-offline"

START = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds
DAY = 86_400 * 1_000_000
LEDGER = "tongban/510000"
LIST_ID = "510000-1"
# 残疾人证 (a provisional demo type code), issued by a made-up Chengdu body.
TYPE_CODE = "13100000TB0000020C001"
ISSUER_CODE = "12510104MB1234567A"
SERIAL = "51010420260000123"
HOLDER_NAME = "张三丰"
HOLDER_ID = "11010519491231002X"  # GB 11643's example number, not a person's
DOCUMENT = "电子证照 test vector: the full license document's bytes stand here".encode()


# The node seed is the one of tests/vectors/envelope; the license key is new.
NODE = Ed25519Signer.from_seed(seed("tongban-vector-node"))
LICENSE_KEY = Ed25519Signer.from_seed(seed("tongban-vector-license"))


def _signer(signer: Ed25519Signer) -> dict[str, str]:
    return {
        "seed": signer.private_seed().hex(),
        "public_key": signer.public_key.hex(),
        "suite": signer.suite,
        "kid": signer.key_id,
    }


def status_entries() -> tuple[int, dict[int, LicenseStatus]]:
    """The index of the vector's license and the non-valid entries of the vector's list."""
    rng = random.Random(20260101)
    allocated: set[int] = set()
    for _ in range(6):
        allocated.add(allocate_index(allocated, randbelow=rng.randrange))
    license_index, *others = sorted(allocated)
    statuses = [LicenseStatus.REVOKED, LicenseStatus.SUSPENDED]
    return license_index, {index: statuses[n % 2] for n, index in enumerate(others)}


def status_list_vector() -> dict[str, Any]:
    _, entries = status_entries()
    status_list = StatusList()
    for index, status in entries.items():
        status_list.set(index, status)
    raw = build_status_list(
        NODE,
        status_list,
        list_id=LIST_ID,
        issuer=LEDGER,
        version=3,
        issued_at=START,
        valid_until=START + DAY,
    )
    parsed = parse_status_list(raw)
    content = dict(parsed.signed.content)
    suite = get_suite(NODE.suite)
    return {
        "description": "a signed status list (tongban/status-list/v1) with 2-bit entries",
        "signer": _signer(NODE),
        "content": content,
        "entries": parsed.size,
        "bitstring_bytes": len(parsed.bits),
        "bitstring_sha256": hashlib.sha256(parsed.bits).hexdigest(),
        "not_valid": [
            {"index": index, "status": status.value, "name": status.name.lower()}
            for index, status in sorted(entries.items())
        ],
        "fresh_at": START + DAY - 1,
        "stale_at": START + DAY,
        "expected": {
            "content": parsed.signed.content_bytes.hex(),
            "signing_input": signing_input(
                parsed.signed.context, suite, parsed.signed.content_bytes
            ).hex(),
            "signature": parsed.signed.signature.hex(),
            "signed": raw.hex(),
            "signed_bytes": len(raw),
        },
    }


def compact_vector() -> dict[str, Any]:
    index, _ = status_entries()
    identifier = make_identifier(TYPE_CODE, ISSUER_CODE, SERIAL, 1)
    digest = document_digest(DOCUMENT)
    text = encode_compact(
        LICENSE_KEY,
        identifier=identifier,
        valid_from=date(2026, 1, 15),
        valid_until=date(2036, 1, 14),
        status_list_id=LIST_ID,
        status_index=index,
        holder_name=HOLDER_NAME,
        holder_id=HOLDER_ID,
        document_digest=digest,
    )
    decoded = decode_compact(text)
    outer = canonical.encode([decoded.payload, decoded.signature])
    compressed = zlib.compress(outer, 9)
    suite = get_suite(LICENSE_KEY.suite)
    return {
        "description": "a compact offline license (TB1:), signed by a license key",
        "signer": _signer(LICENSE_KEY),
        "inputs": {
            "identifier": identifier.text,
            "valid_from": "2026-01-15",
            "valid_until": "2036-01-14",
            "status": [LIST_ID, index],
            "holder_name": HOLDER_NAME,
            "holder_id": HOLDER_ID,
            "document": DOCUMENT.hex(),
        },
        "payload": canonical.decode(decoded.payload),
        "expected": {
            "payload": decoded.payload.hex(),
            "signing_input": signing_input(COMPACT_CONTEXT, suite, decoded.payload).hex(),
            "signature": decoded.signature.hex(),
            "outer": outer.hex(),
            "zlib": compressed.hex(),
            "text": text,
            "sizes": {
                "payload": len(decoded.payload),
                "outer": len(outer),
                "zlib": len(compressed),
                "text": len(text),
            },
            "qr_version": qr_version(text),
            "qr_error_correction": "M",
        },
    }


def _text(outer: bytes) -> str:
    encoded: bytes = base45.b45encode(zlib.compress(outer, 9))
    return COMPACT_PREFIX + encoded.decode()


def _signed(payload: Mapping[str, Any] | bytes) -> bytes:
    """``[payload, signature]`` re-signed, so the defect is what a decoder must refuse."""
    payload_bytes = payload if isinstance(payload, bytes) else canonical.encode(payload)
    suite = get_suite(LICENSE_KEY.suite)
    signature = LICENSE_KEY.sign(signing_input(COMPACT_CONTEXT, suite, payload_bytes))
    return canonical.encode([payload_bytes, signature])


def _other_check(identifier: str) -> str:
    """A check character other than the identifier's own."""
    return "1" if identifier[-1] != "1" else "2"


def compact_negative_vectors() -> dict[str, Any]:
    good = compact_vector()
    text: str = good["expected"]["text"]
    payload: dict[str, Any] = canonical.decode(bytes.fromhex(good["expected"]["payload"]))
    signature = bytes.fromhex(good["expected"]["signature"])
    payload_bytes = bytes.fromhex(good["expected"]["payload"])
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    cases: list[tuple[str, str, str, str]] = [
        ("wrong-prefix", "HC1:" + text[4:], "malformed", "prefix is not TB1:"),
        ("lowercase-prefix", "tb1:" + text[4:], "malformed", "prefix is case-sensitive"),
        ("bad-base45-char", text[:-1] + "a", "malformed", "lowercase is not Base45"),
        ("bad-base45-length", text + "0", "malformed", "Base45 length 1 mod 3"),
        ("bad-base45-triple", text + "GGW", "malformed", "GGW is 65536, over 16 bits"),
        ("trailing-newline", text + "\n", "malformed", "newline is not Base45"),
        (
            "zlib-bomb",
            COMPACT_PREFIX + base45.b45encode(zlib.compress(bytes(1 << 20), 9)).decode(),
            "malformed",
            "inflates to 1 MiB, past the 4096-byte cap",
        ),
        (
            "not-zlib",
            COMPACT_PREFIX + base45.b45encode(_signed(payload)).decode(),
            "malformed",
            "msgpack without zlib",
        ),
        (
            "trailing-after-zlib",
            COMPACT_PREFIX + base45.b45encode(zlib.compress(_signed(payload)) + b"\x00").decode(),
            "malformed",
            "a byte after the zlib stream",
        ),
        (
            "non-canonical-outer",
            _text(
                b"\x92\xc6"
                + len(payload_bytes).to_bytes(4, "big")
                + payload_bytes
                + canonical.encode(signature)
            ),
            "malformed",
            "payload in a bin 32 header where bin 16 fits",
        ),
        (
            "non-canonical-payload",
            _text(_signed(b"\xde\x00" + bytes([len(payload)]) + canonical.encode(payload)[1:])),
            "malformed",
            "map 16 header where fixmap fits",
        ),
        (
            "unknown-field",
            _text(_signed({**payload, "name": "张三丰"})),
            "malformed",
            "a field v1 does not define",
        ),
        (
            "missing-field",
            _text(_signed({k: v for k, v in payload.items() if k != "digest"})),
            "malformed",
            "no digest",
        ),
        (
            "unmasked-holder",
            _text(_signed({**payload, "holder": {"name": HOLDER_NAME, "id": HOLDER_ID}})),
            "malformed",
            "holder data not masked",
        ),
        (
            "type-not-in-id",
            _text(_signed({**payload, "type": "11100000MB0143028R001"})),
            "malformed",
            "type differs from the type code inside id",
        ),
        (
            "version-2",
            _text(_signed({**payload, "v": 2})),
            "unsupported_version",
            "v is 2",
        ),
        (
            "version-true",
            _text(_signed({**payload, "v": True})),
            "unsupported_version",
            "v is true (c3), not the integer 1",
        ),
        (
            "status-index-true",
            _text(_signed({**payload, "status": [payload["status"][0], True]})),
            "malformed",
            "the status index is true (c3), not an integer",
        ),
        (
            "status-index-past-max",
            _text(_signed({**payload, "status": [payload["status"][0], 8_388_608]})),
            "malformed",
            "the status index is 8388608, past the largest list (§1.1)",
        ),
        (
            "status-list-id-too-long",
            _text(_signed({**payload, "status": ["a" * 65, payload["status"][1]]})),
            "malformed",
            "the status list id is 65 characters, at most 64 (§1.3)",
        ),
        (
            "bad-check-character",
            _text(_signed({**payload, "id": payload["id"][:-1] + _other_check(payload["id"])})),
            "malformed",
            "id's check character is wrong; a verdict reports bad_check_character (§2.3)",
        ),
        (
            "two-character-name-unmasked",
            _text(_signed({**payload, "holder": {**payload["holder"], "name": "张三"}})),
            "malformed",
            "a two-character name keeps only its first character: 张*",
        ),
        (
            "short-id-partly-masked",
            _text(_signed({**payload, "holder": {**payload["holder"], "id": "1234**78"}})),
            "malformed",
            "an id of 8 characters or fewer is fully masked: ********",
        ),
        (
            "name-not-nfc",
            _text(_signed({**payload, "holder": {**payload["holder"], "name": "e\u0301*"}})),
            "malformed",
            "a masked name is in NFC: é* written as e + U+0301 is not",
        ),
        (
            "suite-rsa-sha1",
            _text(_signed({**payload, "suite": "rsa-sha1"})),
            "unsupported_suite",
            "a suite the format does not define",
        ),
        (
            "flipped-signature-bit",
            _text(canonical.encode([payload_bytes, flipped])),
            "bad_signature",
            "well-formed; refused by verify",
        ),
    ]
    return {
        "description": "compact texts a verifier must refuse; refused_by says at which step",
        "public_key": LICENSE_KEY.public_key.hex(),
        "cases": [
            {
                "name": name,
                "text": bad,
                "reason": reason,
                "refused_by": "signature" if reason == "bad_signature" else "decoding",
                "why": why,
            }
            for name, bad, reason, why in cases
        ],
    }


def masking_vector() -> dict[str, Any]:
    """What the holder's name and id become in the compact form (§4), short ones included."""
    names = ["", "张", "张三", "张三丰", "欧阳娜娜", "e\u0301", "Li"]
    ids = ["", "1234", "12345678", "123456789", "11010519491231002X"]
    return {
        "description": "holder masking (license-offline.md §4): input → the masked form",
        "names": [{"input": name, "masked": mask_name(name)} for name in names],
        "ids": [{"input": value, "masked": mask_id_number(value)} for value in ids],
    }


def all_vectors() -> dict[str, dict[str, Any]]:
    return {
        "masking.json": masking_vector(),
        "status-list.json": status_list_vector(),
        "compact.json": compact_vector(),
        "compact-negative.json": compact_negative_vectors(),
    }


def main(argv: list[str] | None = None) -> int:
    return vectorkit.run(
        argv,
        description=(__doc__ or "").splitlines()[0],
        out=OUT,
        vectors=lambda: {name: to_json(vector) for name, vector in all_vectors().items()},
    )


if __name__ == "__main__":
    sys.exit(main())
