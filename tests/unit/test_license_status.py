"""Status lists: 2-bit W3C Bitstring Status List entries in a signed ``tongban/status-list/v1``."""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import json
import random
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.envelope import RECEIPT_CONTEXT, seal
from ledger.suites import Ed25519Signer
from licenses.errors import LicenseError
from licenses.status import (
    MAX_ENTRIES,
    MIN_ENTRIES,
    STATUS_LIST_CONTEXT,
    LicenseStatus,
    SignedStatusList,
    StatusIndexError,
    StatusList,
    StatusListRejected,
    allocate_index,
    build_status_list,
    decode_encoded_list,
    encode_list,
    parse_status_list,
)

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "license-offline"
NODE = Ed25519Signer.from_seed(hashlib.sha256(b"test-node").digest())
OTHER = Ed25519Signer.from_seed(hashlib.sha256(b"test-other").digest())
T0 = 1_767_225_600_000_000
DAY = 86_400_000_000
STATUSES = st.sampled_from(list(LicenseStatus))


def _build(status_list: StatusList | None = None, **overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "list_id": "510000-1",
        "issuer": "tongban/510000",
        "version": 1,
        "issued_at": T0,
        "valid_until": T0 + DAY,
    }
    fields.update(overrides)
    return build_status_list(NODE, status_list or StatusList(), **fields)


def _content(**overrides: Any) -> dict[str, Any]:
    content: dict[str, Any] = {
        "ctx": STATUS_LIST_CONTEXT,
        "id": "510000-1",
        "issuer": "tongban/510000",
        "purpose": "status",
        "version": 1,
        "issued_at": T0,
        "valid_until": T0 + DAY,
        "encoded_list": StatusList().encode(),
    }
    content.update(overrides)
    return content


def _refused(raw: bytes) -> StatusListRejected:
    with pytest.raises(StatusListRejected) as caught:
        parse_status_list(raw)
    return caught.value


def _gzip_b64(data: bytes, *, prefix: str = "u") -> str:
    return prefix + base64.urlsafe_b64encode(gzip.compress(data, mtime=0)).decode().rstrip("=")


# -- the bitstring ---------------------------------------------------------------------------


def test_a_new_list_holds_at_least_131072_valid_entries() -> None:
    status_list = StatusList()
    assert status_list.size == MIN_ENTRIES == 131_072
    assert len(status_list.bitstring()) == 131_072 * 2 // 8
    assert status_list.get(0) is LicenseStatus.VALID
    assert status_list.get(MIN_ENTRIES - 1) is LicenseStatus.VALID
    with pytest.raises(ValueError):
        StatusList(MIN_ENTRIES - 4)
    with pytest.raises(ValueError):
        StatusList(MIN_ENTRIES + 1)  # not a whole number of bytes


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.integers(0, MIN_ENTRIES - 1), STATUSES, max_size=40))
def test_entries_round_trip_at_random_indexes(entries: dict[int, LicenseStatus]) -> None:
    status_list = StatusList()
    for index, status in entries.items():
        status_list.set(index, status)
    decoded = StatusList.from_bitstring(decode_encoded_list(status_list.encode()))
    for index, status in entries.items():
        assert status_list.get(index) is status
        assert decoded.get(index) is status
    # Nothing else changed: the non-valid entries are exactly those set.
    changed = {i for i, s in entries.items() if s is not LicenseStatus.VALID}
    bits = int.from_bytes(decoded.bitstring(), "big")
    found = set()
    while bits:
        low = (bits & -bits).bit_length() - 1
        found.add((MIN_ENTRIES * 2 - 1 - low) // 2)
        bits &= ~(0b11 << (low - low % 2))
    assert found == changed


@settings(max_examples=25, deadline=None)
@given(st.integers(0, MIN_ENTRIES - 1), STATUSES)
def test_signed_list_answers_the_status_set(index: int, status: LicenseStatus) -> None:
    status_list = StatusList()
    status_list.set(index, status)
    parsed = parse_status_list(_build(status_list))
    assert parsed.status_at(index) is status
    assert parsed.size == MIN_ENTRIES


def test_bit_order_is_w3c_left_most_first() -> None:
    status_list = StatusList()
    status_list.set(0, LicenseStatus.REVOKED)  # bits 0-1: 10
    status_list.set(3, LicenseStatus.SUSPENDED)  # bits 6-7: 01
    status_list.set(5, LicenseStatus.REVOKED)  # byte 1, bits 2-3: 10
    bits = status_list.bitstring()
    assert bits[0] == 0b1000_0001
    assert bits[1] == 0b0010_0000
    assert not any(bits[2:])


def test_encoded_list_is_multibase_base64url_of_gzip_as_w3c_describes() -> None:
    status_list = StatusList()
    status_list.set(12345, LicenseStatus.REVOKED)
    encoded = status_list.encode()
    assert encoded.startswith("u")  # multibase base64url
    body = encoded[1:]
    assert "=" not in body and "+" not in body and "/" not in body
    compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert compressed[:3] == b"\x1f\x8b\x08"  # GZIP (RFC 1952), deflate
    assert gzip.decompress(compressed) == status_list.bitstring()
    # An independent encoder's output (stdlib gzip, another header) decodes the same.
    assert decode_encoded_list(_gzip_b64(status_list.bitstring())) == status_list.bitstring()
    assert len(encoded) < 200  # mostly zeros: 32 KiB compresses to a few dozen bytes


def test_out_of_range_indexes_raise() -> None:
    status_list = StatusList()
    parsed = parse_status_list(_build())
    for bad in (-1, MIN_ENTRIES, MIN_ENTRIES + 10):
        with pytest.raises(StatusIndexError):
            status_list.get(bad)
        with pytest.raises(IndexError):
            status_list.set(bad, LicenseStatus.REVOKED)
        with pytest.raises(StatusIndexError) as caught:
            parsed.status_at(bad)
        assert isinstance(caught.value, LicenseError)


def test_revocation_is_final_suspension_is_not() -> None:
    status_list = StatusList()
    status_list.set(7, LicenseStatus.SUSPENDED)
    status_list.set(7, LicenseStatus.VALID)
    status_list.set(7, LicenseStatus.REVOKED)
    status_list.set(7, LicenseStatus.REVOKED)
    with pytest.raises(ValueError, match="final"):
        status_list.set(7, LicenseStatus.VALID)


# -- decoding encodedList strictly ----------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "detail"),
    [
        (_gzip_b64(bytes(32_768), prefix=""), "multibase"),
        (_gzip_b64(bytes(32_768)) + "=", "base64url"),
        (_gzip_b64(bytes(32_768))[:-1] + "+", "base64url"),
        (
            "u" + base64.urlsafe_b64encode(zlib.compress(bytes(32_768))).decode().rstrip("="),
            "GZIP",
        ),
        (_gzip_b64(bytes(32_768))[:-6], "truncated"),
        (
            "u"
            + base64.urlsafe_b64encode(gzip.compress(bytes(32_768), mtime=0) + b"\x00")
            .decode()
            .rstrip("="),
            "after the GZIP",
        ),
        (_gzip_b64(bytes(MIN_ENTRIES // 4 - 1)), "entries"),
        (_gzip_b64(bytes(MAX_ENTRIES // 4 + 1)), "inflates past"),
        (_gzip_b64(b"\xc0" + bytes(32_767)), "reserved value 3"),
    ],
    ids=[
        "no-u",
        "padding",
        "plus",
        "zlib-not-gzip",
        "truncated",
        "trailing",
        "too-small",
        "gzip-bomb",
        "value-3",
    ],
)
def test_bad_encoded_lists_are_malformed(encoded: str, detail: str) -> None:
    with pytest.raises(StatusListRejected, match=detail) as caught:
        decode_encoded_list(encoded)
    assert caught.value.reason == "malformed"
    assert caught.value.field == "encoded_list"


def test_non_canonical_base64url_trailing_bits_are_refused() -> None:
    good = StatusList().encode()
    body = good[1:]
    assert len(body) % 4 in (2, 3)  # a final partial group: its unused bits must be zero
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(body[-1])
    tweaked = "u" + body[:-1] + alphabet[last ^ 1]
    with pytest.raises(StatusListRejected, match="canonical"):
        decode_encoded_list(tweaked)


def test_encode_list_is_deterministic() -> None:
    bits = StatusList().bitstring()
    assert encode_list(bits) == encode_list(bits)


# -- the signed object -----------------------------------------------------------------------


def test_signed_list_carries_the_documented_fields_and_verifies() -> None:
    raw = _build(version=4)
    parsed = parse_status_list(raw)
    assert parsed.raw == raw
    assert set(parsed.signed.content) == {
        "v",
        "suite",
        "ctx",
        "kid",
        "id",
        "issuer",
        "purpose",
        "version",
        "issued_at",
        "valid_until",
        "encoded_list",
    }
    assert parsed.signed.context == STATUS_LIST_CONTEXT == "tongban/status-list/v1"
    assert (parsed.list_id, parsed.issuer, parsed.purpose) == (
        "510000-1",
        "tongban/510000",
        "status",
    )
    assert (parsed.version, parsed.issued_at, parsed.valid_until) == (4, T0, T0 + DAY)
    assert parsed.key_id == NODE.key_id
    parsed.verify(NODE.public_key)


def test_signature_covers_the_status_list_context() -> None:
    parsed = parse_status_list(_build())
    message = STATUS_LIST_CONTEXT.encode() + b"\x00"
    message += hashlib.sha256(parsed.signed.content_bytes).digest()
    assert NODE.sign(message) == parsed.signed.signature


def test_a_tampered_signature_is_refused() -> None:
    raw = bytearray(_build())
    raw[-1] ^= 1
    parsed = parse_status_list(bytes(raw))
    with pytest.raises(StatusListRejected) as caught:
        parsed.verify(NODE.public_key)
    assert caught.value.reason == "bad_signature"


def test_another_key_is_refused_before_the_signature_is_checked() -> None:
    parsed = parse_status_list(_build())
    with pytest.raises(StatusListRejected) as caught:
        parsed.verify(OTHER.public_key)
    assert caught.value.reason == "wrong_key"


def test_an_object_of_another_context_is_refused() -> None:
    assert _refused(seal(_content(ctx=RECEIPT_CONTEXT), NODE)).reason == "wrong_context"


def test_a_status_list_with_the_same_content_under_its_context_parses() -> None:
    parse_status_list(seal(_content(), NODE))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"extra": 1}, "extra"),
        ({"purpose": "revocation"}, "purpose"),
        ({"version": 0}, "version"),
        ({"version": True}, "version"),
        ({"issued_at": -1}, "issued_at"),
        ({"valid_until": T0}, "valid_until"),
        ({"id": "has space"}, "id"),
        ({"issuer": ""}, "issuer"),
        ({"encoded_list": b"u"}, "encoded_list"),
    ],
)
def test_malformed_status_lists_are_refused(overrides: dict[str, Any], field: str) -> None:
    error = _refused(seal(_content(**overrides), NODE))
    assert (error.reason, error.field) == ("malformed", field)


def test_undecodable_bytes_and_other_versions_are_refused() -> None:
    assert _refused(b"\x92\xc4").reason == "malformed"
    assert _refused(seal(_content(), NODE).replace(b"\xa1v\x01", b"\xa1v\x02")).reason == (
        "unsupported_version"
    )


def test_build_refuses_what_parse_would() -> None:
    with pytest.raises(StatusListRejected):
        _build(version=0)
    with pytest.raises(StatusListRejected):
        _build(valid_until=T0)
    with pytest.raises(StatusListRejected):
        _build(list_id="a b")


# -- freshness and caching -------------------------------------------------------------------


def test_a_stale_list_is_status_unavailable() -> None:
    parsed = parse_status_list(_build())
    parsed.check_fresh(T0)
    parsed.check_fresh(T0 + DAY - 1)
    for now in (T0 + DAY, T0 + 2 * DAY):
        with pytest.raises(StatusListRejected) as caught:
            parsed.check_fresh(now)
        assert caught.value.reason == "status_unavailable"


def test_a_newer_version_supersedes_the_cached_one() -> None:
    v1 = parse_status_list(_build(version=1))
    v2 = parse_status_list(_build(version=2))
    assert v2.supersedes(v1)
    assert not v1.supersedes(v2)
    assert not v1.supersedes(v1)
    with pytest.raises(ValueError):
        parse_status_list(_build(list_id="510000-2")).supersedes(v1)


# -- index allocation ------------------------------------------------------------------------


def test_allocation_is_random_unused_and_reproducible_with_a_seed() -> None:
    def draw(seed: int) -> list[int]:
        rng = random.Random(seed)
        allocated: set[int] = set()
        for _ in range(200):
            allocated.add(allocate_index(allocated, randbelow=rng.randrange))
        return sorted(allocated)

    first = draw(1)
    assert len(first) == 200 and first == draw(1) and first != draw(2)
    assert first[-1] - first[0] > MIN_ENTRIES // 2  # spread over the list, not sequential


def test_allocation_in_a_dense_list_still_finds_the_free_indexes() -> None:
    rng = random.Random(3)
    allocated = set(range(1000)) - {17, 999}
    picked = {allocate_index(allocated, 1000, randbelow=rng.randrange) for _ in range(50)}
    assert picked == {17, 999}
    with pytest.raises(ValueError):
        allocate_index(set(range(1000)), 1000, randbelow=rng.randrange)


def test_allocation_uses_a_secure_source_by_default() -> None:
    assert 0 <= allocate_index(set()) < MIN_ENTRIES


# -- vectors ---------------------------------------------------------------------------------


def _generator() -> ModuleType:
    path = ROOT / "tools" / "make_license_offline_vectors.py"
    spec = importlib.util.spec_from_file_location("make_license_offline_vectors", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vector_files_are_current() -> None:
    assert _generator().main(["--check", "--out", str(VECTORS)]) == 0


def test_status_list_vector_verifies_and_answers() -> None:
    vector = json.loads((VECTORS / "status-list.json").read_text(encoding="utf-8"))
    raw = bytes.fromhex(vector["expected"]["signed"])
    parsed: SignedStatusList = parse_status_list(raw)
    parsed.verify(bytes.fromhex(vector["signer"]["public_key"]))
    assert parsed.key_id == vector["signer"]["kid"]
    assert parsed.signed.content_bytes.hex() == vector["expected"]["content"]
    assert parsed.size == vector["entries"] >= MIN_ENTRIES
    assert hashlib.sha256(parsed.bits).hexdigest() == vector["bitstring_sha256"]
    not_valid = {entry["index"]: entry["status"] for entry in vector["not_valid"]}
    for index, status in not_valid.items():
        assert parsed.status_at(index) == status
    assert sum(parsed.status_at(i) != 0 for i in range(parsed.size)) == len(not_valid)
    parsed.check_fresh(vector["fresh_at"])
    with pytest.raises(StatusListRejected):
        parsed.check_fresh(vector["stale_at"])
    # Ed25519 is deterministic: the signing input and signature are reproducible.
    signer = Ed25519Signer.from_seed(bytes.fromhex(vector["signer"]["seed"]))
    assert (
        signer.sign(bytes.fromhex(vector["expected"]["signing_input"])).hex()
        == (vector["expected"]["signature"])
    )
