"""The license document (``docs/license.md``), its vectors in ``tests/vectors/license/``.

(a) With our library: the valid vectors are rebuilt byte for byte, their license key is
    certified by the vector registry, every negative vector is refused with its reason and field.
(b) With an independent minimal verifier written below from ``docs/license.md`` alone
    (msgpack, hashlib, cryptography, python-stdnum; nothing from ``ledger`` or ``licenses``;
    the face fields are read from the document's Appendix A).
(c) Hypothesis round trips, and the rules the vectors do not show.

Regenerate the vectors with ``.venv/bin/python tools/make_license_vectors.py``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import numdb
from stdnum.cn import ric, uscc
from stdnum.iso7064 import mod_37_36

ROOT_DIR = Path(__file__).resolve().parents[2]
VECTORS_DIR = ROOT_DIR / "tests" / "vectors" / "license"
DOC = ROOT_DIR / "docs" / "license.md"
VECTORS = {
    path.stem: json.loads(path.read_text(encoding="utf-8"))
    for path in sorted(VECTORS_DIR.glob("*.json"))
}
VALID = [v for v in VECTORS.values() if v.get("valid") is True]
INVALID = [v for v in VECTORS.values() if v.get("valid") is False]
CARD = VECTORS["license-social-security-card"]


def test_the_vector_set_is_complete() -> None:
    assert {v["name"] for v in VALID} == {
        "license-social-security-card",
        "license-business-long-term",
    }
    assert {
        "neg-bad-check-character",
        "neg-type-mismatch",
        "neg-holder-bad-check-digit",
        "neg-holder-unknown-region",
        "neg-holder-born-before-1800",
        "neg-valid-until-before-valid-from",
        "neg-unknown-face-field",
        "neg-wrong-context",
        "neg-flipped-signature-bit",
    } <= {v["name"] for v in INVALID}
    assert CARD["content"]["holder"]["code"] == "11010519491231002X"
    assert CARD["content"]["issuer"]["code"] == "11330105002500287C"


def test_the_vectors_are_what_the_generator_makes() -> None:
    path = ROOT_DIR / "tools" / "make_license_vectors.py"
    spec = importlib.util.spec_from_file_location("make_license_vectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0


# == (a) our library ==========================================================================


def _registry() -> Any:
    from ledger.keys import KeyRegistry, parse_key_record

    vector = VECTORS["license-registry"]
    registry = KeyRegistry({vector["region"]: bytes.fromhex(vector["root"]["public_key"])})
    for entry in vector["records"]:
        record = parse_key_record(bytes.fromhex(entry["record"]))
        registry.apply(record, entry["received_at"], entry["index"])
    return registry


def _rebuild(vector: dict[str, Any]) -> bytes:
    """The document rebuilt with ``build_license`` from the vector's content alone."""
    from ledger.suites import Ed25519Signer
    from licenses.document import Holder, Issuer, StatusEntry, build_license
    from licenses.identifiers import HolderKind, parse_identifier

    content = vector["content"]
    holder, issuer = content["holder"], content["issuer"]
    return build_license(
        Ed25519Signer.from_seed(bytes.fromhex(vector["signer"]["seed"])),
        identifier=parse_identifier(content["id"]),
        name=content["name"],
        number=content["number"],
        holder=Holder(holder["name"], holder["code"], HolderKind(holder["code_type"])),
        issuer=Issuer(issuer["name"], issuer["code"], issuer["body"]),
        issued_on=date.fromisoformat(content["issued_on"]),
        valid_from=date.fromisoformat(content["valid_from"]),
        valid_until=date.fromisoformat(content["valid_until"]) if content["valid_until"] else None,
        jurisdiction=content["jurisdiction"],
        face=content["face"],
        ledger=content["ledger"],
        case_id=uuid.UUID(content["case"]),
        issuance_index=content["issuance_index"],
        status=StatusEntry(content["status"]["list"], content["status"]["index"]),
    )


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["name"])
def test_library_reproduces_valid_vector(vector: dict[str, Any]) -> None:
    from ledger import canonical
    from licenses.document import parse_license, verify_issued_by

    expected = vector["expected"]
    raw = _rebuild(vector)
    assert raw.hex() == expected["document"]
    assert canonical.encode(vector["content"]).hex() == expected["content"]
    document = parse_license(raw)
    assert document.signed.content == vector["content"]
    assert document.digest.hex() == expected["digest"]
    assert document.key_id == expected["kid"] == vector["signer"]["kid"]
    assert document.signed.signature.hex() == expected["signature"]
    verify_issued_by(document, _registry(), moment=vector["verified_at"])


@pytest.mark.parametrize("vector", INVALID, ids=lambda v: v["name"])
def test_library_refuses_negative_vector(vector: dict[str, Any]) -> None:
    from licenses.document import InvalidLicense, parse_license, verify_signature

    with pytest.raises(InvalidLicense) as refused:
        document = parse_license(bytes.fromhex(vector["document"]))
        assert vector["refused_by"] == "signature", "decoding should have refused it"
        verify_signature(document, bytes.fromhex(vector["public_key"]))
    assert (refused.value.reason, refused.value.field) == (vector["reason"], vector["field"])


def test_library_key_lookup_reasons() -> None:
    from licenses.document import InvalidLicense, parse_license, verify_issued_by

    document = parse_license(bytes.fromhex(CARD["expected"]["document"]))
    registry = _registry()
    [*_, certified] = VECTORS["license-registry"]["records"]
    with pytest.raises(InvalidLicense) as too_early:
        verify_issued_by(document, registry, moment=certified["received_at"] - 10**12)
    assert (too_early.value.reason, too_early.value.field) == ("key_not_valid_at_time", "kid")
    from ledger.keys import KeyRegistry

    with pytest.raises(InvalidLicense) as unknown:
        verify_issued_by(document, KeyRegistry({}), moment=CARD["verified_at"])
    assert unknown.value.reason == "unknown_key"


# == (b) an independent verifier, from docs/license.md alone ==================================
#
# Nothing below imports ``ledger`` or ``licenses``.

CONTEXT = "tongban/license/v1"
SUITE = "ed25519-sha256"
FIELDS = {"v", "suite", "ctx", "kid", "id", "type", "name", "number", "holder", "issuer"}
FIELDS |= {"issued_on", "valid_from", "valid_until", "jurisdiction", "face", "ledger", "case"}
FIELDS |= {"issuance_index", "status"}
ROOT_PREFIX = "1.2.156.3005.2."
USCC_SHAPE = re.compile(r"[0-9]{8}[0-9ABCDEFGHJKLMNPQRTUWXY]{10}")
BODY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
LIST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# §3.5 step 4: every code stdnum's GB/T 2260 table lists in any year (a province line, then
# one of its county lines, whatever years the county line gives).
REGIONS = {
    f"{province:02d}{county:04d}"
    for length, low, high, props, children in numdb.get("cn/loc").prefixes
    if length == 2 and "province" in props
    for province in range(int(low), int(high) + 1)
    for sub_length, sub_low, sub_high, sub_props, _ in children
    if sub_length == 4 and "county" in sub_props
    for county in range(int(sub_low), int(sub_high) + 1)
}


class Refused(Exception):
    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"{reason} at {field}")
        self.reason, self.field = reason, field


def appendix_a() -> dict[str, tuple[str, list[tuple[str, str, bool]]]]:
    """type code -> (holder kind, [(key, kind, required)]) from the doc's Appendix A."""
    types = {}
    text = DOC.read_text(encoding="utf-8").split("## Appendix A.")[1]
    for line in text.splitlines():
        row = re.fullmatch(r"\| `(\w{21})` \| [^|]+ \| `(ric|uscc)` \| (.+) \|", line)
        if not row:
            continue
        fields = []
        for item in row.group(3).split(", "):
            found = re.fullmatch(
                r"`(\w+)` [^(*]+?(?: \((date|holder_code)\))?( \*optional\*)?", item
            )
            assert found, item
            fields.append((found.group(1), found.group(2) or "text", not found.group(3)))
        types[row.group(1)] = (row.group(2), fields)
    return types


TYPES = appendix_a()


def canon(value: Any) -> bytes:
    """Canonical msgpack for the values a license holds: shortest forms, keys sorted by UTF-8."""
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise Refused("malformed")
        keys = sorted(value, key=lambda k: k.encode("utf-8"))
        body = b"".join(canon(k) + canon(value[k]) for k in keys)
        return _map_head(len(value)) + body
    if isinstance(value, list):
        return _array_head(len(value)) + b"".join(canon(item) for item in value)
    if isinstance(value, float):
        raise Refused("malformed")
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def _map_head(n: int) -> bytes:
    return bytes([0x80 | n]) if n < 16 else b"\xde" + n.to_bytes(2, "big")


def _array_head(n: int) -> bytes:
    return bytes([0x90 | n]) if n < 16 else b"\xdc" + n.to_bytes(2, "big")


def canon_decode(data: bytes) -> Any:
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as error:
        raise Refused("malformed") from error
    if canon(value) != data:
        raise Refused("malformed")
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def text(value: Any, field: str, *, face: bool = False) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= (4096 if face else 256):
        raise Refused("malformed", field)
    for char in value:
        if char == "\n" and face:
            continue
        # Cc and Cf, spelled out as the doc says.
        if ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 or _is_format(char):
            raise Refused("malformed", field)
    return value


def _is_format(char: str) -> bool:
    import unicodedata  # the standard library's Unicode database: general category Cf

    return unicodedata.category(char) == "Cf"


def calendar_date(value: str) -> bool:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def exact(value: Any, keys: set[str], field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Refused("malformed", field)
    wrong = sorted(set(value) - keys) or sorted(keys - set(value))
    if wrong:
        raise Refused("malformed", f"{field}.{wrong[0]}" if field else wrong[0])
    return value


def check_identifier(value: Any) -> tuple[str, str]:
    """(type code, issuer code) of a valid GB/T 36904 identifier."""
    if not isinstance(value, str):
        raise Refused("malformed", "id")
    parts = value[len(ROOT_PREFIX) :].split(".") if value.startswith(ROOT_PREFIX) else []
    if len(parts) != 5:
        raise Refused("bad_identifier", "id")
    type_code, issuer, serial, version, check = parts
    ok = (
        len(type_code) == 21
        and USCC_SHAPE.fullmatch(type_code[:18])
        and uscc.is_valid(type_code[:18])
        and re.fullmatch(r"[0-9]{3}", type_code[18:])
        and USCC_SHAPE.fullmatch(issuer)
        and uscc.is_valid(issuer)
        and re.fullmatch(r"[0-9A-Z]{1,32}", serial)
        and re.fullmatch(r"[0-9]{3}", version)
        and re.fullmatch(r"[0-9A-Z]", check)
    )
    if not ok:
        raise Refused("bad_identifier", "id")
    if mod_37_36.calc_check_digit(type_code + issuer + serial + version) != check:
        raise Refused("bad_check_character", "id")
    return type_code, issuer


def valid_holder_code(code: str, kind: str) -> bool:
    if kind == "uscc":
        return bool(USCC_SHAPE.fullmatch(code)) and uscc.is_valid(code)
    if not re.fullmatch(r"[0-9]{17}[0-9X]", code) or ric.calc_check_digit(code) != code[-1]:
        return False
    born = f"{code[6:10]}-{code[10:12]}-{code[12:14]}"
    beijing_today = datetime.now(timezone(timedelta(hours=8))).date().isoformat()
    if not calendar_date(born) or not "1800-01-01" <= born <= beijing_today:
        return False
    return code[:6] in REGIONS


def check_license(content: dict[str, Any]) -> None:
    """Steps 7-24 of docs/license.md §4."""
    exact(content, FIELDS, "")
    type_code, issuer_code = check_identifier(content["id"])
    if not isinstance(content["type"], str):
        raise Refused("malformed", "type")
    if content["type"] != type_code:
        raise Refused("type_mismatch", "type")
    if type_code not in TYPES:
        raise Refused("unknown_type", "type")
    holder_kind, face_fields = TYPES[type_code]
    text(content["name"], "name")
    text(content["number"], "number")
    holder = exact(content["holder"], {"name", "code", "code_type"}, "holder")
    text(holder["name"], "holder.name")
    if holder["code_type"] not in ("ric", "uscc"):
        raise Refused("malformed", "holder.code_type")
    if holder["code_type"] != holder_kind:
        raise Refused("bad_holder_code", "holder.code_type")
    if not isinstance(holder["code"], str):
        raise Refused("malformed", "holder.code")
    if not valid_holder_code(holder["code"], holder["code_type"]):
        raise Refused("bad_holder_code", "holder.code")
    issuer = exact(content["issuer"], {"name", "code", "body"}, "issuer")
    text(issuer["name"], "issuer.name")
    if issuer["code"] != issuer_code:
        raise Refused("issuer_mismatch", "issuer.code")
    if not isinstance(issuer["body"], str) or not BODY_ID.fullmatch(issuer["body"]):
        raise Refused("malformed", "issuer.body")
    for field in ("issued_on", "valid_from", "valid_until"):
        value = content[field]
        if not isinstance(value, str):
            raise Refused("malformed", field)
        if not (calendar_date(value) or (field == "valid_until" and value == "")):
            raise Refused("bad_date", field)
    if content["valid_until"] and content["valid_until"] < content["valid_from"]:
        raise Refused("bad_validity", "valid_until")
    if not isinstance(content["jurisdiction"], str) or not re.fullmatch(
        r"[1-9][0-9]{5}", content["jurisdiction"]
    ):
        raise Refused("malformed", "jurisdiction")
    face = content["face"]
    if not isinstance(face, dict):
        raise Refused("malformed", "face")
    kinds = {key: kind for key, kind, _ in face_fields}
    unknown = sorted(set(face) - set(kinds))
    if unknown:
        raise Refused("bad_face", f"face.{unknown[0]}")
    missing = [key for key, _, required in face_fields if required and key not in face]
    if missing:
        raise Refused("bad_face", f"face.{missing[0]}")
    for key in sorted(face, key=lambda k: k.encode()):
        value = text(face[key], f"face.{key}", face=True)
        if kinds[key] == "date" and not calendar_date(value):
            raise Refused("bad_date", f"face.{key}")
        if kinds[key] == "holder_code" and value != holder["code"]:
            raise Refused("bad_holder_code", f"face.{key}")
    if not isinstance(content["ledger"], str) or not NAME.fullmatch(content["ledger"]):
        raise Refused("malformed", "ledger")
    if not isinstance(content["case"], str) or not UUID_TEXT.fullmatch(content["case"]):
        raise Refused("malformed", "case")
    if not is_int(content["issuance_index"]) or content["issuance_index"] < 0:
        raise Refused("malformed", "issuance_index")
    if content["issuance_index"] == 0:
        raise Refused("draft", "issuance_index")
    status = exact(content["status"], {"list", "index"}, "status")
    if not isinstance(status["list"], str) or not LIST_ID.fullmatch(status["list"]):
        raise Refused("malformed", "status.list")
    if not is_int(status["index"]) or not 0 <= status["index"] < 8_388_608:
        raise Refused("malformed", "status.index")


def independent_verify(raw: bytes, public_key: bytes) -> dict[str, Any]:
    outer = canon_decode(raw)
    if not (isinstance(outer, list) and len(outer) == 2 and all(type(p) is bytes for p in outer)):
        raise Refused("malformed")
    content_bytes, signature = outer
    content = canon_decode(content_bytes)
    if not isinstance(content, dict):
        raise Refused("malformed")
    if not is_int(content.get("v")) or content.get("v") != 1:
        raise Refused("unsupported_version", "v")
    if content.get("suite") != SUITE:
        raise Refused("unsupported_suite", "suite")
    if content.get("ctx") != CONTEXT:
        raise Refused("wrong_context", "ctx")
    if not isinstance(content.get("kid"), str):
        raise Refused("malformed", "kid")
    check_license(content)
    if content["kid"] != hashlib.sha256(SUITE.encode() + b"\x00" + public_key).digest()[:16].hex():
        raise Refused("unknown_key", "kid")
    message = CONTEXT.encode() + b"\x00" + hashlib.sha256(content_bytes).digest()
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature as error:
        raise Refused("bad_signature", "signature") from error
    return content


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["name"])
def test_independent_verifier_reproduces_valid_vector(vector: dict[str, Any]) -> None:
    expected = vector["expected"]
    private_key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["signer"]["seed"]))
    public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert public_key.hex() == vector["signer"]["public_key"]
    content_bytes = canon(vector["content"])
    assert content_bytes.hex() == expected["content"]
    message = CONTEXT.encode() + b"\x00" + hashlib.sha256(content_bytes).digest()
    assert message.hex() == expected["signing_input"]
    signature = private_key.sign(message)
    assert signature.hex() == expected["signature"]
    raw = canon([content_bytes, signature])
    assert raw.hex() == expected["document"]
    assert hashlib.sha256(raw).hexdigest() == expected["digest"]
    assert independent_verify(raw, public_key) == vector["content"]


@pytest.mark.parametrize("vector", INVALID, ids=lambda v: v["name"])
def test_independent_verifier_refuses_negative_vector(vector: dict[str, Any]) -> None:
    with pytest.raises(Refused) as refused:
        independent_verify(bytes.fromhex(vector["document"]), bytes.fromhex(vector["public_key"]))
    assert (refused.value.reason, refused.value.field) == (vector["reason"], vector["field"])


def test_the_registry_vector_certifies_the_license_key_independently() -> None:
    """The license_key_certified record names the signer's key, body and a validity."""
    registry = VECTORS["license-registry"]
    last = canon_decode(bytes.fromhex(registry["records"][-1]["record"]))
    content = canon_decode(last[0])
    assert content["type"] == "license_key_certified"
    assert content["body"]["public_key"].hex() == CARD["signer"]["public_key"]
    assert content["body"]["body_id"] == CARD["content"]["issuer"]["body"]
    assert content["body"]["valid_from"] <= CARD["verified_at"] < content["body"]["valid_until"]


def test_appendix_a_is_the_type_registry() -> None:
    from licenses.types import all_types

    assert {
        t.code: (t.holder_kind.value, [(f.key, f.kind, f.required) for f in t.face_fields])
        for t in all_types()
    } == TYPES


# == (c) round trips and the rules the vectors do not show ====================================


def _card_fields(**changes: Any) -> dict[str, Any]:
    from licenses.document import Holder, Issuer, StatusEntry
    from licenses.identifiers import HolderKind, parse_identifier

    content = CARD["content"]
    fields: dict[str, Any] = {
        "identifier": parse_identifier(content["id"]),
        "name": content["name"],
        "number": content["number"],
        "holder": Holder("张三", "11010519491231002X", HolderKind.RIC),
        "issuer": Issuer(**content["issuer"]),
        "issued_on": date(2026, 1, 5),
        "valid_from": date(2026, 1, 5),
        "valid_until": date(2036, 1, 4),
        "jurisdiction": "330105",
        "face": dict(content["face"]),
        "ledger": "tongban/330000",
        "case_id": uuid.UUID(content["case"]),
        "issuance_index": 42,
        "status": StatusEntry("tongban/330000/status/1", 7),
    }
    fields.update(changes)
    return fields


def _signer() -> Any:
    from ledger.suites import Ed25519Signer

    return Ed25519Signer.from_seed(bytes.fromhex(CARD["signer"]["seed"]))


texts = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs")), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    name=texts,
    number=texts,
    card_no=texts,
    serial=st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=32),
    version=st.integers(0, 999),
    valid_from=st.dates(date(1900, 1, 1), date(2100, 1, 1)),
    days=st.none() | st.integers(0, 20_000),
    index=st.integers(1, 2**63),
    status_index=st.integers(0, 131_071),
    case_id=st.uuids(),
)
def test_round_trip(
    name: str,
    number: str,
    card_no: str,
    serial: str,
    version: int,
    valid_from: date,
    days: int | None,
    index: int,
    status_index: int,
    case_id: uuid.UUID,
) -> None:
    from datetime import timedelta

    from licenses.document import Holder, StatusEntry, build_license, parse_license
    from licenses.identifiers import HolderKind, make_identifier

    identifier = make_identifier("11100000TB0000010H001", "11330105002500287C", serial, version)
    valid_until = None if days is None else valid_from + timedelta(days=days)
    face = {
        "holder_name": name,
        "social_security_no": "11010519491231002X",
        "card_no": card_no,
        "issued_on": valid_from.isoformat(),
    }
    fields = _card_fields(
        identifier=identifier,
        number=number,
        holder=Holder(name, "11010519491231002X", HolderKind.RIC),
        valid_from=valid_from,
        issued_on=valid_from,
        valid_until=valid_until,
        face=face,
        case_id=case_id,
        issuance_index=index,
        status=StatusEntry("s-1", status_index),
    )
    raw = build_license(_signer(), **fields)
    document = parse_license(raw)
    assert document.id == identifier and document.type == identifier.type_code
    assert (document.name, document.number, document.holder) == (
        fields["name"],
        number,
        fields["holder"],
    )
    assert (document.valid_from, document.valid_until, document.issued_on) == (
        valid_from,
        valid_until,
        valid_from,
    )
    assert (document.face, document.case_id, document.issuance_index) == (face, case_id, index)
    assert document.status == fields["status"]
    assert document.digest == hashlib.sha256(raw).digest()
    # The independent verifier agrees on every document the library makes.
    assert independent_verify(raw, _signer().public_key) == document.signed.content


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"name": "社会\u202e保障卡"}, "malformed", "name"),
        ({"number": ""}, "malformed", "number"),
        ({"jurisdiction": "33010"}, "malformed", "jurisdiction"),
        ({"ledger": "tongban 330000"}, "malformed", "ledger"),
        ({"issuance_index": -1}, "malformed", "issuance_index"),
        ({"face_extra": ("issued_on", "2026-1-5")}, "bad_date", "face.issued_on"),
        (
            {"face_extra": ("social_security_no", "11010519491231001X")},
            "bad_holder_code",
            "face.social_security_no",
        ),
        ({"face_extra": ("card_no", "A\n1")}, None, None),
        ({"valid_until": date(2026, 1, 5)}, None, None),
    ],
)
def test_shape_rules(changes: dict[str, Any], reason: str | None, field: str | None) -> None:
    from licenses.document import InvalidLicense, build_license

    face_change = changes.pop("face_extra", None)
    fields = _card_fields(**changes)
    if face_change:
        fields["face"][face_change[0]] = face_change[1]
    if reason is None:
        build_license(_signer(), **fields)
        return
    with pytest.raises(InvalidLicense) as refused:
        build_license(_signer(), **fields)
    assert (refused.value.reason, refused.value.field) == (reason, field)


def test_drafts_are_built_but_not_accepted_as_licenses() -> None:
    from licenses.document import InvalidLicense, parse_license
    from licenses.document import build_license as build

    raw = build(_signer(), **_card_fields(issuance_index=0))
    assert parse_license(raw, allow_draft=True).is_draft
    with pytest.raises(InvalidLicense) as refused:
        parse_license(raw)
    assert refused.value.reason == "draft"


def test_a_boolean_is_not_an_index() -> None:
    from ledger.envelope import LICENSE_CONTEXT, open_signed, seal
    from licenses.document import InvalidLicense, build_license, parse_license

    content = dict(
        open_signed(build_license(_signer(), **_card_fields()), context=LICENSE_CONTEXT).content
    )
    content["issuance_index"] = True
    with pytest.raises(InvalidLicense) as refused:
        parse_license(seal(content, _signer()))
    assert (refused.value.reason, refused.value.field) == ("malformed", "issuance_index")


def test_reprs_mask_personal_data() -> None:
    from licenses.document import parse_license

    document = parse_license(bytes.fromhex(CARD["expected"]["document"]))
    shown = repr(document)
    assert "11010519491231002X" not in shown and "张三" not in shown
    assert "1101**********002X" in shown


def test_unknown_reasons_are_a_programming_error() -> None:
    from licenses.document import InvalidLicense
    from licenses.errors import LicenseError

    with pytest.raises(ValueError):
        InvalidLicense("nope", "x")
    assert isinstance(InvalidLicense("malformed", "x", field="id"), LicenseError)
