"""Generate the license document test vectors in ``tests/vectors/license/``.

    .venv/bin/python tools/make_license_vectors.py            # (re)write the vector files
    .venv/bin/python tools/make_license_vectors.py --check    # exit 1 if a file would change

Keys come from fixed Ed25519 seeds and every date and time is fixed; Ed25519 is deterministic,
so the output is the same byte for byte on every run. The valid documents are made with the
library (``licenses.document.build_license``); each negative one is the first valid document's
content with exactly one defect, re-signed by the same license key so that the defect, not the
signature, is what a verifier must refuse (except ``neg-flipped-signature-bit``).

Besides the documents, ``license-registry.json`` holds the key records (region 330000: root,
issuing body, its license key) that certify the license key, with their receipt times.

JSON form: content maps are written as the JSON values they are (a license has no byte
strings); bytes elsewhere are lowercase hex.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script too

from ledger import canonical
from ledger.envelope import EVENT_CONTEXT, LICENSE_CONTEXT, ZERO_HASH, open_signed
from ledger.keys import KeyRegistry, build_key_record, parse_key_record
from ledger.suites import ED25519_SHA256, Ed25519Signer, get_suite, signing_input
from licenses.document import (
    Holder,
    InvalidLicense,
    Issuer,
    StatusEntry,
    build_license,
    parse_license,
    verify_issued_by,
    verify_signature,
)
from licenses.identifiers import HolderKind, make_identifier
from tools import vectorkit
from tools.vectorkit import seed

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "license"

START = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds
SECOND = 1_000_000
REGION = "330000"
LEDGER = "tongban/330000"
BODY_ID = "330105-RS"
# A real published issuer code (an issuer of a Zhejiang OFD license, tests of
# licenses/identifiers); the body's name here is illustrative, not that body's.
ISSUER_CODE = "11330105002500287C"
ISSUER_NAME = "杭州市拱墅区人力资源和社会保障局（示例）"
SOCIAL_SECURITY_CARD = "11100000TB0000010H001"  # 社会保障卡, provisional type code
EMPLOYMENT_CARD = "11100000TB0000010H002"  # 就业创业证
BUSINESS_LICENSE = "11100000MB0143028R001"  # 营业执照
# GB 11643's example citizen: the identity number every Chinese spec uses.
HOLDER_RIC = "11010519491231002X"
# Citizen IDs the one rule (ledger/citizen_id.py, license.md §3.5) refuses for their region
# and their birth date alone: the check character is right.
HOLDER_RIC_UNKNOWN_REGION = "11019919491231002X"
HOLDER_RIC_BEFORE_1800 = "110105179912310024"
HOLDER_USCC = "91110000600037341L"  # python-stdnum's USCC example
CASE_ID = uuid.UUID("7d0f4c1e-3b2a-4e5f-8a9b-0c1d2e3f4a5b")


SEEDS: dict[str, bytes] = {
    "root": seed("tongban-license-vector-root-330000"),
    "body": seed("tongban-license-vector-body-330105-RS"),
    "license": seed("tongban-license-vector-license-key-1"),
}
SIGNERS = {label: Ed25519Signer.from_seed(seed) for label, seed in SEEDS.items()}
LICENSE_KEY = SIGNERS["license"]


def signer_json(label: str) -> dict[str, str]:
    return vectorkit.signer_json(label, SEEDS[label])


# -- the registry that certifies the license key ----------------------------------------------


def registry_records() -> list[tuple[bytes, int, int]]:
    """(record bytes, receipt time, ledger index) of region 330000's first three records."""
    root, body, license_key = SIGNERS["root"], SIGNERS["body"], SIGNERS["license"]

    def key(signer: Ed25519Signer) -> dict[str, Any]:
        return {"public_key": signer.public_key, "key_suite": ED25519_SHA256, "valid_from": START}

    bodies: list[tuple[str, dict[str, Any]]] = [
        ("root_established", key(root)),
        (
            "body_registered",
            {
                **key(body),
                "body_id": BODY_ID,
                "name": ISSUER_NAME,
                "org": {"division": "330105", "level": "county", "sector": "人力资源社会保障"},
            },
        ),
        (
            "license_key_certified",
            {**key(license_key), "body_id": BODY_ID, "valid_until": START + 3650 * 86_400 * SECOND},
        ),
    ]
    records: list[tuple[bytes, int, int]] = []
    prev = ZERO_HASH
    for seq, (record_type, body_fields) in enumerate(bodies, start=1):
        raw = build_key_record(
            root,
            region=REGION,
            seq=seq,
            prev=prev,
            record_type=record_type,
            time=START + seq * SECOND,
            body=body_fields,
        )
        records.append((raw, START + seq * SECOND, seq))
        prev = parse_key_record(raw).hash
    return records


def registry() -> KeyRegistry:
    registry = KeyRegistry({REGION: SIGNERS["root"].public_key})
    for raw, received_at, index in registry_records():
        registry.apply(parse_key_record(raw), received_at, index)
    return registry


# -- the valid documents ----------------------------------------------------------------------

ISSUER = Issuer(name=ISSUER_NAME, code=ISSUER_CODE, body=BODY_ID)
# Verifiers check the key at the issuance event's receipt time (docs/license.md §5).
ISSUED_AT = START + 4 * 86_400 * SECOND + 3600 * SECOND  # 2026-01-05T01:00:00Z


def social_security_card() -> bytes:
    return build_license(
        LICENSE_KEY,
        identifier=make_identifier(SOCIAL_SECURITY_CARD, ISSUER_CODE, "2026010500000001", 1),
        name="社会保障卡",
        number="A12345678",
        holder=Holder(name="张三", code=HOLDER_RIC, code_type=HolderKind.RIC),
        issuer=ISSUER,
        issued_on=date(2026, 1, 5),
        valid_from=date(2026, 1, 5),
        valid_until=date(2036, 1, 4),
        jurisdiction="330105",
        face={
            "holder_name": "张三",
            "social_security_no": HOLDER_RIC,
            "card_no": "A12345678",
            "issued_on": "2026-01-05",
            "valid_until": "2036-01-04",
        },
        ledger=LEDGER,
        case_id=CASE_ID,
        issuance_index=42,
        status=StatusEntry(list="tongban/330000/status/1", index=7),
    )


def business_license() -> bytes:
    """A long-term (长期) license held under a USCC: ``valid_until`` is empty."""
    return build_license(
        LICENSE_KEY,
        identifier=make_identifier(BUSINESS_LICENSE, ISSUER_CODE, "20260105000000000002", 1),
        name="营业执照",
        number="330105000000002",
        holder=Holder(name="示例科技有限公司", code=HOLDER_USCC, code_type=HolderKind.USCC),
        issuer=ISSUER,
        issued_on=date(2026, 1, 5),
        valid_from=date(2026, 1, 5),
        valid_until=None,
        jurisdiction="330105",
        face={
            "uscc": HOLDER_USCC,
            "entity_name": "示例科技有限公司",
            "entity_type": "有限责任公司（自然人投资或控股）",
            "representative": "张三",
            "business_scope": "一般项目：技术服务、技术开发。\n（依法须经批准的项目除外）",
            "established_on": "2026-01-05",
            "operating_term": "长期",
            "address": "浙江省杭州市拱墅区示例路1号",
            "registration_authority": "杭州市拱墅区市场监督管理局（示例）",
            "registered_on": "2026-01-05",
        },
        ledger=LEDGER,
        case_id=uuid.UUID("7d0f4c1e-3b2a-4e5f-8a9b-0c1d2e3f4a5c"),
        issuance_index=43,
        status=StatusEntry(list="tongban/330000/status/1", index=8),
    )


def positive(name: str, description: str, raw: bytes) -> dict[str, Any]:
    document = parse_license(raw)
    verify_issued_by(document, registry(), moment=ISSUED_AT)
    signed = document.signed
    return {
        "name": name,
        "valid": True,
        "kind": "license",
        "context": LICENSE_CONTEXT,
        "description": description,
        "signer": signer_json("license"),
        "verified_at": ISSUED_AT,
        "content": signed.content,
        "expected": {
            "content": signed.content_bytes.hex(),
            "signing_input": signing_input(
                signed.context, signed.suite, signed.content_bytes
            ).hex(),
            "signature": signed.signature.hex(),
            "document": raw.hex(),
            "digest": document.digest.hex(),
            "kid": signed.key_id,
        },
    }


# -- the negative documents -------------------------------------------------------------------


def reseal(content: dict[str, Any], signer: Ed25519Signer = LICENSE_KEY) -> bytes:
    """Sign ``content`` exactly as given (ctx, suite and all), under Ed25519 with SHA-256."""
    content_bytes = canonical.encode(content)
    message = signing_input(str(content["ctx"]), get_suite(ED25519_SHA256), content_bytes)
    return canonical.encode([content_bytes, signer.sign(message)])


def _with(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A defect: set the dotted ``path`` to ``value`` (``None``: delete it)."""

    def change(content: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = content
        for part in parents:
            target = target[part]
        if value is None:
            del target[last]
        else:
            target[last] = value

    return change


def _bad_check(content: dict[str, Any]) -> None:
    text = content["id"]
    content["id"] = text[:-1] + ("1" if text[-1] != "1" else "2")


def _flip_signature(raw: bytes) -> bytes:
    content_bytes, signature = canonical.decode(raw)
    return canonical.encode([content_bytes, bytes([signature[0] ^ 1]) + signature[1:]])


# name, description, defect, reason, field
NEGATIVES: list[tuple[str, str, Callable[[dict[str, Any]], None], str, str | None]] = [
    (
        "neg-bad-check-character",
        "The id's GB/T 36904 check character (ISO/IEC 7064 MOD 37,36) is wrong.",
        _bad_check,
        "bad_check_character",
        "id",
    ),
    (
        "neg-type-mismatch",
        "type names 就业创业证 while the id's type part is 社会保障卡.",
        _with("type", EMPLOYMENT_CARD),
        "type_mismatch",
        "type",
    ),
    (
        "neg-holder-bad-check-digit",
        "holder.code is the example citizen ID with its GB 11643 check character changed.",
        _with("holder.code", HOLDER_RIC[:-1] + "1"),
        "bad_holder_code",
        "holder.code",
    ),
    (
        "neg-holder-unknown-region",
        "holder.code 11019919491231002X: right check character and date, but 110199 is no "
        "GB/T 2260 code of any year (license.md §3.5; the former province-only rule took it).",
        _with("holder.code", HOLDER_RIC_UNKNOWN_REGION),
        "bad_holder_code",
        "holder.code",
    ),
    (
        "neg-holder-born-before-1800",
        "holder.code has a right check character and a known region, born 1799-12-31 "
        "(license.md §3.5: birth dates from 1800-01-01 to today).",
        _with("holder.code", HOLDER_RIC_BEFORE_1800),
        "bad_holder_code",
        "holder.code",
    ),
    (
        "neg-holder-code-type",
        "holder.code_type is uscc, but a 社会保障卡 is held under a citizen ID (ric).",
        _with("holder.code_type", "uscc"),
        "bad_holder_code",
        "holder.code_type",
    ),
    (
        "neg-issuer-mismatch",
        "issuer.code is a valid USCC, but not the id's issuer part.",
        _with("issuer.code", HOLDER_USCC),
        "issuer_mismatch",
        "issuer.code",
    ),
    (
        "neg-not-a-date",
        "issued_on is 2026-02-30, not a calendar date.",
        _with("issued_on", "2026-02-30"),
        "bad_date",
        "issued_on",
    ),
    (
        "neg-valid-until-before-valid-from",
        "valid_until (2025-12-31) is before valid_from (2026-01-05).",
        _with("valid_until", "2025-12-31"),
        "bad_validity",
        "valid_until",
    ),
    (
        "neg-unknown-face-field",
        "face holds blood_type, which a 社会保障卡 does not have.",
        _with("face.blood_type", "A"),
        "bad_face",
        "face.blood_type",
    ),
    (
        "neg-missing-face-field",
        "face lacks card_no, a required face field of a 社会保障卡.",
        _with("face.card_no", None),
        "bad_face",
        "face.card_no",
    ),
    (
        "neg-unknown-field",
        "The content holds a field the format does not define (note).",
        _with("note", "x"),
        "malformed",
        "note",
    ),
    (
        "neg-status-index-out-of-range",
        "status.index is 8388608, one past the last entry of the largest status list "
        "(license-offline.md §1.1); the compact form has the same bound.",
        _with("status.index", 8_388_608),
        "malformed",
        "status.index",
    ),
    (
        "neg-status-index-true",
        "status.index is true (c3) where the integer 1 (01) belongs; a boolean is never an "
        "integer.",
        _with("status.index", True),
        "malformed",
        "status.index",
    ),
    (
        "neg-status-list-id-too-long",
        "status.list is 65 characters; a status list id is at most 64 "
        "(license-offline.md §1.3), so no list could answer for it.",
        _with("status.list", "a" * 65),
        "malformed",
        "status.list",
    ),
    (
        "neg-version-true",
        "v is true (c3). Python's True == 1, but a boolean is not the integer 1.",
        _with("v", True),
        "unsupported_version",
        "v",
    ),
    (
        "neg-draft",
        "issuance_index 0: a draft made before its issuance event, not an issued license.",
        _with("issuance_index", 0),
        "draft",
        "issuance_index",
    ),
    (
        "neg-wrong-context",
        "The license content signed under ctx tongban/event/v1, offered as a license.",
        _with("ctx", EVENT_CONTEXT),
        "wrong_context",
        "ctx",
    ),
    (
        "neg-suite-rsa-sha1",
        "suite rsa-sha1, which the format does not define (the signature does not matter: "
        "the suite is refused first).",
        _with("suite", "rsa-sha1"),
        "unsupported_suite",
        "suite",
    ),
]


def negative(
    name: str, description: str, raw: bytes, reason: str, field: str | None, refused_by: str
) -> dict[str, Any]:
    try:
        document = parse_license(raw)
        verify_signature(document, LICENSE_KEY.public_key)
    except InvalidLicense as refused:
        if (refused.reason, refused.field) != (reason, field):
            raise AssertionError(f"{name}: refused as {refused.reason} {refused.field}") from None
    else:
        raise AssertionError(f"{name} was accepted")
    return {
        "name": name,
        "valid": False,
        "kind": "license",
        "context": LICENSE_CONTEXT,
        "description": description,
        "public_key": LICENSE_KEY.public_key.hex(),
        "document": raw.hex(),
        "reason": reason,
        "field": field,
        "refused_by": refused_by,
    }


def vectors() -> dict[str, dict[str, Any]]:
    card = social_security_card()
    out = {
        "license-social-security-card": positive(
            "license-social-security-card",
            "A 社会保障卡 of GB 11643's example holder, issued by body 330105-RS of region 330000 "
            "and signed by its license key (license-registry.json certifies it). Verify the key "
            "at verified_at, the issuance event's receipt time.",
            card,
        ),
        "license-business-long-term": positive(
            "license-business-long-term",
            "A 营业执照 held under a USCC, valid for the long term (valid_until empty); a face "
            "value with a line feed.",
            business_license(),
        ),
    }
    base = open_signed(card, context=LICENSE_CONTEXT).content
    for name, description, defect, reason, field in NEGATIVES:
        content = json.loads(json.dumps(base))  # a deep copy: no bytes in a license
        defect(content)
        out[name] = negative(name, description, reseal(content), reason, field, "decoding")
    out["neg-flipped-signature-bit"] = negative(
        "neg-flipped-signature-bit",
        "The valid 社会保障卡 with the first bit of its signature flipped.",
        _flip_signature(card),
        "bad_signature",
        "signature",
        "signature",
    )
    out["license-registry"] = {
        "name": "license-registry",
        "description": "Region 330000's registry, seq 1-3: root_established, body_registered "
        "(330105-RS), license_key_certified (the license key of the vectors, valid ten years). "
        "Apply in order, each at its received_at, at ledger index = seq.",
        "region": REGION,
        "root": signer_json("root"),
        "body": signer_json("body"),
        "records": [
            {"record": raw.hex(), "received_at": at, "index": index}
            for raw, at, index in registry_records()
        ],
    }
    return out


def main(argv: list[str] | None = None) -> int:
    return vectorkit.run(
        argv,
        description=(__doc__ or "").splitlines()[0],
        out=OUT,
        vectors=lambda: {f"{name}.json": vector for name, vector in vectors().items()},
    )


if __name__ == "__main__":
    raise SystemExit(main())
