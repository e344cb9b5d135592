"""The compact offline form ``TB1:`` + Base45(zlib(canonical msgpack [payload, signature]))."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import zlib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import base45
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import canonical
from ledger.personal import mask_id_number, mask_name
from ledger.suites import Ed25519Signer, get_suite, signing_input
from licenses.compact import (
    COMPACT_CONTEXT,
    MAX_INFLATED,
    CompactLicense,
    CompactRejected,
    _b45decode,
    decode_compact,
    document_digest,
    encode_compact,
)
from licenses.identifiers import make_identifier
from licenses.status import LicenseStatus, StatusList, StatusListRejected, build_status_list
from licenses.status import parse_status_list as parse_list

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors" / "license-offline"
KEY = Ed25519Signer.from_seed(hashlib.sha256(b"test-license-key").digest())
OTHER = Ed25519Signer.from_seed(hashlib.sha256(b"test-other-key").digest())
NODE = Ed25519Signer.from_seed(hashlib.sha256(b"test-node").digest())
IDENTIFIER = make_identifier("13100000TB0000020C001", "12510104MB1234567A", "51010420260000123")
DOCUMENT = b"the full license document"
T0 = 1_767_225_600_000_000
DAY = 86_400_000_000


def _encode(**overrides: Any) -> str:
    fields: dict[str, Any] = {
        "identifier": IDENTIFIER,
        "valid_from": date(2026, 1, 15),
        "valid_until": date(2036, 1, 14),
        "status_list_id": "510000-1",
        "status_index": 98_765,
        "holder_name": "张三丰",
        "holder_id": "11010519491231002X",
        "document_digest": document_digest(DOCUMENT),
    }
    fields.update(overrides)
    return encode_compact(KEY, **fields)


def _payload(text: str) -> dict[str, Any]:
    decoded = decode_compact(text)
    value: dict[str, Any] = canonical.decode(decoded.payload)
    return value


def _text(outer: bytes) -> str:
    encoded: bytes = base45.b45encode(zlib.compress(outer, 9))
    return "TB1:" + encoded.decode()


def _resigned(payload: dict[str, Any] | bytes, signer: Ed25519Signer = KEY) -> str:
    payload_bytes = payload if isinstance(payload, bytes) else canonical.encode(payload)
    message = signing_input(COMPACT_CONTEXT, get_suite(signer.suite), payload_bytes)
    return _text(canonical.encode([payload_bytes, signer.sign(message)]))


def _refused(text: Any) -> CompactRejected:
    with pytest.raises(CompactRejected) as caught:
        decode_compact(text)
    return caught.value


# -- round trip ------------------------------------------------------------------------------


def test_round_trip_carries_only_what_an_offline_verifier_needs() -> None:
    text = _encode()
    assert text.startswith("TB1:")
    decoded = decode_compact(text)
    decoded.verify(KEY.public_key)
    assert decoded.identifier == IDENTIFIER
    assert decoded.type_code == IDENTIFIER.type_code
    assert decoded.issuer_code == IDENTIFIER.issuer_code
    assert decoded.key_id == KEY.key_id
    assert (decoded.valid_from, decoded.valid_until) == (date(2026, 1, 15), date(2036, 1, 14))
    assert (decoded.status_list_id, decoded.status_index) == ("510000-1", 98_765)
    assert (decoded.holder_name, decoded.holder_id) == ("张**", "1101**********002X")
    assert decoded.digest == hashlib.sha256(DOCUMENT).digest()
    assert _payload(text) == {
        "v": 1,
        "suite": "ed25519-sha256",
        "kid": KEY.key_id,
        "id": IDENTIFIER.text,
        "type": IDENTIFIER.type_code,
        "issuer": IDENTIFIER.issuer_code,
        "from": 20260115,
        "until": 20360114,
        "status": ["510000-1", 98_765],
        "holder": {"name": "张**", "id": "1101**********002X"},
        "digest": hashlib.sha256(DOCUMENT).digest(),
    }


def test_the_full_holder_data_never_reaches_the_text() -> None:
    text = _encode()
    inflated = zlib.decompress(base45.b45decode(text[4:]))
    assert "三丰".encode() not in inflated
    assert b"0519491231" not in inflated


def test_a_license_without_an_end_date_has_until_zero() -> None:
    text = _encode(valid_until=None, identifier=IDENTIFIER.text)
    assert _payload(text)["until"] == 0
    decoded = decode_compact(text)
    assert decoded.valid_until is None
    decoded.check_period(date(2999, 12, 31))


@settings(max_examples=30, deadline=None)
@given(
    index=st.integers(0, 8 * 1024 * 1024 - 1),
    start=st.dates(date(2000, 1, 1), date(2090, 1, 1)),
    days=st.one_of(st.none(), st.integers(0, 20_000)),
    name=st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=6),
)
def test_round_trip_property(index: int, start: date, days: int | None, name: str) -> None:
    until = None if days is None else start + timedelta(days=days)
    decoded = decode_compact(
        _encode(status_index=index, valid_from=start, valid_until=until, holder_name=name)
    )
    decoded.verify(KEY.public_key)
    assert (decoded.status_index, decoded.valid_from, decoded.valid_until) == (index, start, until)
    assert decoded.holder_name == (name[0] if len(name) > 1 else "*") + "*" * (len(name) - 1)


def test_the_signature_covers_context_nul_and_the_payload_digest() -> None:
    decoded = decode_compact(_encode())
    message = b"tongban/license-compact/v1\x00" + hashlib.sha256(decoded.payload).digest()
    assert KEY.sign(message) == decoded.signature


def test_realistic_size(capsys: pytest.CaptureFixture[str]) -> None:
    text = _encode()
    with capsys.disabled():
        print(f"\ncompact license: {len(text)} characters")
    # 64-byte signature + 32-byte digest + a 79-character identifier set the floor.
    assert len(text) <= 560


# -- verification ----------------------------------------------------------------------------


def test_verify_refuses_another_key_and_a_changed_signature() -> None:
    decoded = decode_compact(_encode())
    with pytest.raises(CompactRejected) as caught:
        decoded.verify(OTHER.public_key)
    assert caught.value.reason == "wrong_key"
    payload = canonical.decode(decoded.payload)
    forged = decode_compact(_resigned(payload, OTHER))  # OTHER signs, names KEY's kid
    with pytest.raises(CompactRejected) as caught:
        forged.verify(KEY.public_key)
    assert caught.value.reason == "bad_signature"


def test_a_signature_for_another_context_does_not_verify() -> None:
    decoded = decode_compact(_encode())
    message = signing_input("tongban/license/v1", get_suite(KEY.suite), decoded.payload)
    text = _text(canonical.encode([decoded.payload, KEY.sign(message)]))
    with pytest.raises(CompactRejected) as caught:
        decode_compact(text).verify(KEY.public_key)
    assert caught.value.reason == "bad_signature"


def test_check_period() -> None:
    decoded = decode_compact(_encode())
    decoded.check_period(date(2026, 1, 15))
    decoded.check_period(date(2036, 1, 14))
    for day, reason in ((date(2026, 1, 14), "not_yet_valid"), (date(2036, 1, 15), "expired")):
        with pytest.raises(CompactRejected) as caught:
            decoded.check_period(day)
        assert caught.value.reason == reason


def test_check_document_matches_by_digest_only() -> None:
    decoded = decode_compact(_encode())
    decoded.check_document(DOCUMENT)
    with pytest.raises(CompactRejected) as caught:
        decoded.check_document(DOCUMENT + b" ")
    assert caught.value.reason == "digest_mismatch"


def test_status_from_a_fresh_list() -> None:
    decoded = decode_compact(_encode())
    status_list = StatusList()

    def signed(version: int, **overrides: Any) -> Any:
        fields: dict[str, Any] = {
            "list_id": "510000-1",
            "issuer": "tongban/510000",
            "version": version,
            "issued_at": T0,
            "valid_until": T0 + DAY,
        }
        fields.update(overrides)
        return parse_list(build_status_list(NODE, status_list, **fields))

    assert decoded.status(signed(1), now=T0) is LicenseStatus.VALID
    status_list.set(98_765, LicenseStatus.SUSPENDED)
    assert decoded.status(signed(2), now=T0) is LicenseStatus.SUSPENDED
    status_list.set(98_765, LicenseStatus.REVOKED)
    assert decoded.status(signed(3), now=T0) is LicenseStatus.REVOKED
    for status_list_signed, now in ((signed(4), T0 + DAY), (signed(4, list_id="510000-2"), T0)):
        with pytest.raises(StatusListRejected) as caught:
            decoded.status(status_list_signed, now=now)
        assert caught.value.reason == "status_unavailable"


# -- refusals --------------------------------------------------------------------------------


def _good_payload() -> dict[str, Any]:
    return _payload(_encode())


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        (None, "starts with"),
        ("", "starts with"),
        ("TB2:" + _encode()[4:], "starts with"),
        (" " + _encode(), "starts with"),
        ("TB1:" + "0" * 8000, "longer than"),
        (_encode() + "a", "Base45 alphabet"),
        (_encode() + "\n", "Base45 alphabet"),
        ("TB1:0000", "Base45"),
        ("TB1:GGW", "Base45"),
        ("TB1:" + base45.b45encode(zlib.compress(b"\x90") + b"\x00").decode(), "after the zlib"),
        ("TB1:" + base45.b45encode(zlib.compress(b"x" * 200_000)).decode(), "inflates past"),
        ("TB1:" + base45.b45encode(zlib.compress(b"\x00" * 10_000)).decode(), "inflates past"),
        ("TB1:" + base45.b45encode(zlib.compress(b"\x90")[:-3]).decode(), "truncated"),
        ("TB1:" + base45.b45encode(b"\x92\xc4\x00\xc4\x00").decode(), "zlib"),
        (_text(b"\x92\xc4\x00"), "outer array"),
        (_text(canonical.encode([b"\x80"])), r"\[payload: bin, signature: bin\]"),
        (_text(canonical.encode([b"\x80", "sig"])), r"\[payload: bin, signature: bin\]"),
        (_text(canonical.encode([b"\x91\x01", b"sig"])), "payload must be a map"),
        (_text(canonical.encode([b"\x82\xa1b\x01\xa1a\x01", b"sig"])), "payload: not canonical"),
        (_text(canonical.encode([b"\xca\x00\x00\x00\x00", b"sig"])), "payload"),
    ],
    ids=[
        "not-text",
        "empty",
        "wrong-prefix",
        "leading-space",
        "too-long",
        "lowercase",
        "newline",
        "base45-length",
        "base45-overflow",
        "trailing-zlib",
        "bomb-text",
        "bomb-zeros",
        "zlib-truncated",
        "not-zlib",
        "outer-not-msgpack",
        "outer-one-element",
        "signature-not-bin",
        "payload-not-map",
        "payload-unsorted",
        "payload-float",
    ],
)
def test_undecodable_texts_are_malformed(text: Any, detail: str) -> None:
    error = _refused(text)
    assert error.reason == "malformed"
    assert re.search(detail, error.detail), error.detail


def test_the_inflated_size_cap_is_4_kib() -> None:
    assert MAX_INFLATED == 4096


def _mutations() -> list[tuple[str, Any, str]]:
    payload = _good_payload()
    return [
        ("unknown-field", {**payload, "name": "张三丰"}, "unknown fields"),
        ("missing-digest", {k: v for k, v in payload.items() if k != "digest"}, "missing"),
        ("kid-upper", {**payload, "kid": payload["kid"].upper()}, "kid"),
        ("kid-bin", {**payload, "kid": bytes(16)}, "kid"),
        ("id-bad-check", {**payload, "id": payload["id"][:-1] + "0"}, "id"),
        ("type-differs", {**payload, "type": "11100000MB0143028R001"}, "type"),
        ("issuer-differs", {**payload, "issuer": "11100000MB0143028R"}, "issuer"),
        ("from-not-a-date", {**payload, "from": 20260230}, "YYYYMMDD"),
        ("from-zero", {**payload, "from": 0}, "YYYYMMDD"),
        ("from-bool", {**payload, "from": True}, "from"),
        ("until-before-from", {**payload, "until": 20250101}, "before"),
        ("status-short", {**payload, "status": ["510000-1"]}, "status"),
        ("status-negative", {**payload, "status": ["510000-1", -1]}, "status"),
        ("status-huge", {**payload, "status": ["510000-1", 2**40]}, "status"),
        ("status-bad-list", {**payload, "status": ["a b", 1]}, "status"),
        ("holder-extra", {**payload, "holder": {**payload["holder"], "sex": "男"}}, "holder"),
        (
            "holder-name-full",
            {**payload, "holder": {**payload["holder"], "name": "张三"}},
            "masked",
        ),
        ("holder-name-empty", {**payload, "holder": {**payload["holder"], "name": ""}}, "masked"),
        (
            "holder-id-full",
            {**payload, "holder": {**payload["holder"], "id": "11010519491231002X"}},
            "masked",
        ),
        ("digest-short", {**payload, "digest": bytes(16)}, "digest"),
        ("digest-text", {**payload, "digest": "00" * 32}, "digest"),
    ]


@pytest.mark.parametrize(
    ("payload", "detail"),
    [(payload, detail) for _, payload, detail in _mutations()],
    ids=[name for name, _, _ in _mutations()],
)
def test_payloads_of_the_wrong_shape_are_malformed(payload: dict[str, Any], detail: str) -> None:
    error = _refused(_resigned(payload))
    assert error.reason == "malformed"
    assert detail in error.detail


def test_other_versions_and_suites_are_refused_with_their_reason() -> None:
    payload = _good_payload()
    assert _refused(_resigned({**payload, "v": 2})).reason == "unsupported_version"
    assert _refused(_resigned({k: v for k, v in payload.items() if k != "v"})).reason == (
        "unsupported_version"
    )
    assert _refused(_resigned({**payload, "suite": "rsa-sha1"})).reason == "unsupported_suite"
    assert _refused(_resigned({**payload, "suite": "rsa-sha1"})).reason == "unsupported_suite"


def test_encode_refuses_a_bad_identifier_or_what_decode_would_refuse() -> None:
    with pytest.raises(ValueError):
        _encode(identifier="1.2.156.3005.2.bad")
    with pytest.raises(CompactRejected):
        _encode(document_digest=b"short")
    with pytest.raises(CompactRejected):
        _encode(valid_until=date(2020, 1, 1))


# -- vectors ---------------------------------------------------------------------------------


def test_compact_vector_reproduces_byte_for_byte() -> None:
    vector = json.loads((VECTORS / "compact.json").read_text(encoding="utf-8"))
    signer = Ed25519Signer.from_seed(bytes.fromhex(vector["signer"]["seed"]))
    inputs, expected = vector["inputs"], vector["expected"]
    document = bytes.fromhex(inputs["document"])
    text = encode_compact(
        signer,
        identifier=inputs["identifier"],
        valid_from=date.fromisoformat(inputs["valid_from"]),
        valid_until=date.fromisoformat(inputs["valid_until"]),
        status_list_id=inputs["status"][0],
        status_index=inputs["status"][1],
        holder_name=inputs["holder_name"],
        holder_id=inputs["holder_id"],
        document_digest=document_digest(document),
    )
    assert text == expected["text"]
    assert len(text) == expected["sizes"]["text"]
    decoded: CompactLicense = decode_compact(expected["text"])
    assert decoded.payload.hex() == expected["payload"]
    assert decoded.signature.hex() == expected["signature"]
    assert canonical.encode([decoded.payload, decoded.signature]).hex() == expected["outer"]
    assert zlib.decompress(bytes.fromhex(expected["zlib"])).hex() == expected["outer"]
    assert (
        signing_input(COMPACT_CONTEXT, get_suite("ed25519-sha256"), decoded.payload).hex()
        == expected["signing_input"]
    )
    decoded.verify(bytes.fromhex(vector["signer"]["public_key"]))
    decoded.check_document(document)


def _negative_cases() -> list[dict[str, Any]]:
    vector = json.loads((VECTORS / "compact-negative.json").read_text(encoding="utf-8"))
    cases: list[dict[str, Any]] = vector["cases"]
    for case in cases:
        case["public_key"] = vector["public_key"]
    return cases


@pytest.mark.parametrize("case", _negative_cases(), ids=lambda case: case["name"])
def test_negative_vectors_are_refused_with_their_reason(case: dict[str, Any]) -> None:
    with pytest.raises(CompactRejected) as caught:
        decoded = decode_compact(case["text"])
        assert case["refused_by"] == "signature", "decoded what should have been refused"
        decoded.verify(bytes.fromhex(case["public_key"]))
    assert caught.value.reason == case["reason"]


def test_masking_vector_follows_the_documented_rule() -> None:
    """license-offline.md §4, as another implementer writes it: names in NFC code points,
    first kept, the rest ``*``, one character fully masked; ids first 4 and last 4 kept, 8
    characters or fewer fully masked. The library must give the same."""
    vector = json.loads((VECTORS / "masking.json").read_text(encoding="utf-8"))

    def name_rule(name: str) -> str:
        name = unicodedata.normalize("NFC", name)
        return "*" * len(name) if len(name) <= 1 else name[0] + "*" * (len(name) - 1)

    def id_rule(value: str) -> str:
        return (
            "*" * len(value) if len(value) <= 8 else value[:4] + "*" * (len(value) - 8) + value[-4:]
        )

    for case in vector["names"]:
        assert name_rule(case["input"]) == mask_name(case["input"]) == case["masked"]
    for case in vector["ids"]:
        assert id_rule(case["input"]) == mask_id_number(case["input"]) == case["masked"]


# -- Base45 -----------------------------------------------------------------------------------

B45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def _library_or_error(text: str) -> bytes | str:
    try:
        decoded: bytes = base45.b45decode(text)
        return decoded
    except ValueError as error:
        return str(error)


@given(st.binary(max_size=600))
def test_base45_decoding_inverts_the_library_encoding(data: bytes) -> None:
    assert _b45decode(base45.b45encode(data).decode("ascii")) == data


@given(st.text(alphabet=B45_ALPHABET, max_size=30))
def test_base45_decoding_answers_as_the_library_does(text: str) -> None:
    """Any text of the alphabet: the same bytes, or the same refusal (``ZZZ`` is over 0xFFFF,
    ``:;`` over 0xFF, a lone last character dangles)."""
    try:
        mine: bytes | str = _b45decode(text)
    except ValueError as error:
        mine = str(error)
    assert mine == _library_or_error(text)


@pytest.mark.parametrize("text", ["GGW", "::", "A", "ABCD", "00", "FGW:::"])
def test_base45_edge_groups(text: str) -> None:
    try:
        mine: bytes | str = _b45decode(text)
    except ValueError as error:
        mine = str(error)
    assert mine == _library_or_error(text)
