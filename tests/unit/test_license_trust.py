"""Regional trust lists (``licenses/trust.py``, docs/license.md §7.1)."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import canonical
from ledger.envelope import seal
from ledger.suites import Ed25519Signer
from licenses.errors import LicenseError
from licenses.trust import (
    TRUST_LIST_CONTEXT,
    LicenseKeyEntry,
    Recognition,
    TrustListRejected,
    TrustStore,
    UntrustedLicenseKey,
    build_trust_list,
    day_bounds,
    parse_trust_list,
)

ROOT = Ed25519Signer.from_seed(hashlib.sha256(b"trust-root-330000").digest())
OTHER_ROOT = Ed25519Signer.from_seed(hashlib.sha256(b"trust-root-510000").digest())
LICENSE_KEY = Ed25519Signer.from_seed(hashlib.sha256(b"trust-license-key").digest())
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
DAY = 86_400_000_000
TYPE = "11100000TB0000010H001"
USCC = "11330105002500287C"


def _entry(**changes: Any) -> LicenseKeyEntry:
    fields: dict[str, Any] = {
        "kid": LICENSE_KEY.key_id,
        "suite": LICENSE_KEY.suite,
        "public_key": LICENSE_KEY.public_key,
        "body_id": "330105-RS",
        "issuer_code": USCC,
        "valid_from": T0,
        "valid_until": None,
        "revoked_since": None,
    }
    fields.update(changes)
    return LicenseKeyEntry(**fields)


def _build(signer: Ed25519Signer = ROOT, **changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "region": "330000",
        "version": 1,
        "issued_at": T0,
        "valid_until": T0 + 30 * DAY,
        "license_keys": [_entry()],
        "recognition": [Recognition(TYPE, frozenset({"330000", "510000"}))],
    }
    fields.update(changes)
    return build_trust_list(signer, **fields)


def _content(raw: bytes) -> dict[str, Any]:
    value: dict[str, Any] = canonical.decode(canonical.decode(raw)[0])
    return value


def _resealed(content: dict[str, Any], signer: Ed25519Signer = ROOT) -> bytes:
    body = {k: v for k, v in content.items() if k not in {"v", "suite", "kid"}}
    return seal(body, signer)


def _refused(raw: bytes) -> TrustListRejected:
    with pytest.raises(TrustListRejected) as caught:
        parse_trust_list(raw)
    return caught.value


# -- the list --------------------------------------------------------------------------------


def test_round_trip_and_root_signature() -> None:
    trust_list = parse_trust_list(_build())
    assert trust_list.signed.context == TRUST_LIST_CONTEXT == "tongban/trust-list/v1"
    assert trust_list.region == "330000" and trust_list.version == 1
    assert trust_list.license_keys == (_entry(),)
    assert trust_list.accepts(TYPE, "510000") and not trust_list.accepts(TYPE, "110000")
    trust_list.verify(ROOT.public_key)


def test_a_list_signed_by_another_key_does_not_verify_under_the_root() -> None:
    trust_list = parse_trust_list(_build(OTHER_ROOT))
    with pytest.raises(TrustListRejected) as caught:
        trust_list.verify(ROOT.public_key)
    assert caught.value.reason == "wrong_key"


def test_an_altered_list_fails_its_signature() -> None:
    raw = _build()
    content_bytes, signature = canonical.decode(raw)
    content = canonical.decode(content_bytes)
    content["version"] = 9
    forged = canonical.encode([canonical.encode(content), signature])
    with pytest.raises(TrustListRejected) as caught:
        parse_trust_list(forged).verify(ROOT.public_key)
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c.update(region="33000"), "region"),
        (lambda c: c.update(version=0), "version"),
        (lambda c: c.update(valid_until=c["issued_at"]), "valid_until"),
        (lambda c: c.update(extra=1), "extra"),
        (lambda c: c.pop("recognition"), "recognition"),
        (lambda c: c["license_keys"][0].update(kid="0" * 32), "license_keys[0].kid"),
        (lambda c: c["license_keys"][0].update(issuer_code="11330105002500287D"), None),
        (
            lambda c: c["license_keys"][0].update(valid_until=c["license_keys"][0]["valid_from"]),
            None,
        ),
        (lambda c: c["license_keys"][0].pop("revoked_since"), "license_keys[0].revoked_since"),
        (lambda c: c["license_keys"].append(dict(c["license_keys"][0])), "license_keys"),
        (lambda c: c["recognition"][0].update(regions=[]), "recognition[0].regions"),
        (lambda c: c["recognition"][0].update(regions=["510000", "330000"]), None),
        (lambda c: c["recognition"][0].update(type="not-a-type"), "recognition[0].type"),
    ],
)
def test_malformed_lists_are_refused(change: Any, field: str | None) -> None:
    content = _content(_build())
    change(content)
    error = _refused(_resealed(content))
    assert error.reason == "malformed"
    if field is not None:
        assert error.field == field


def test_a_listed_key_of_an_unknown_suite_is_refused() -> None:
    content = _content(_build())
    content["license_keys"][0]["suite"] = "rsa-md5"
    assert _refused(_resealed(content)).reason == "unsupported_suite"


def test_an_object_of_another_kind_is_wrong_context() -> None:
    raw = seal({"ctx": "tongban/status-list/v1"}, ROOT)
    assert _refused(raw).reason == "wrong_context"
    assert isinstance(_refused(b"\x00"), LicenseError)


# -- the store -------------------------------------------------------------------------------


def _store() -> TrustStore:
    return TrustStore({"330000": ROOT.public_key, "510000": OTHER_ROOT.public_key})


def test_store_refuses_a_list_not_signed_by_its_regions_root() -> None:
    store = _store()
    with pytest.raises(TrustListRejected) as caught:
        store.add(_build(OTHER_ROOT))  # 510000's root signing 330000's list
    assert caught.value.reason == "wrong_key"
    assert store.get("330000") is None


def test_store_refuses_a_region_without_a_pinned_root() -> None:
    with pytest.raises(TrustListRejected) as caught:
        _store().add(_build(region="110000"))
    assert caught.value.reason == "unknown_region"


def test_store_keeps_the_newest_and_refuses_older_versions_as_stale() -> None:
    store = _store()
    store.add(_build(version=2))
    with pytest.raises(TrustListRejected) as caught:
        store.add(_build(version=1))
    assert caught.value.reason == "stale"
    store.add(_build(version=3, license_keys=[]))
    held = store.get("330000")
    assert held is not None and held.version == 3 and held.license_keys == ()


def test_same_version_same_bytes_is_accepted_other_bytes_conflict() -> None:
    store = _store()
    raw = _build(version=2)
    store.add(raw)
    assert store.add(raw).raw == raw
    with pytest.raises(TrustListRejected) as caught:
        store.add(_build(version=2, license_keys=[]))
    assert caught.value.reason == "conflict"


def test_a_region_may_pin_several_roots_during_rotation() -> None:
    store = TrustStore({"330000": [OTHER_ROOT.public_key, ROOT.public_key]})
    assert store.add(_build()).region == "330000"


def test_license_key_lookup() -> None:
    store = _store()
    store.add(
        _build(
            license_keys=[_entry(valid_from=T0 + 10 * DAY, valid_until=T0 + 20 * DAY)],
        )
    )
    day = date(2026, 1, 15)
    found = store.license_key(LICENSE_KEY.key_id, day)
    assert found.region == "330000" and found.entry.body_id == "330105-RS"
    for reason, kid, on in [
        ("unknown_issuer", "0" * 32, day),
        ("issuer_key_not_valid", LICENSE_KEY.key_id, date(2026, 1, 5)),
        ("issuer_key_not_valid", LICENSE_KEY.key_id, date(2026, 1, 25)),
    ]:
        with pytest.raises(UntrustedLicenseKey) as caught:
            store.license_key(kid, on)
        assert caught.value.reason == reason
    # A list past its valid_until vouches for nothing.
    with pytest.raises(UntrustedLicenseKey) as caught:
        store.license_key(LICENSE_KEY.key_id, day, now=T0 + 30 * DAY)
    assert caught.value.reason == "unknown_issuer"


def test_a_revoked_key_vouches_only_for_days_before_its_compromise() -> None:
    compromised = day_bounds(date(2026, 3, 1))[0] + 3_600_000_000  # 01:00 Beijing
    entry = _entry(revoked_since=compromised)
    assert entry.valid_on(date(2026, 2, 28))
    assert not entry.valid_on(date(2026, 3, 1))
    assert not entry.valid_on(date(2026, 3, 2))


def test_recognition_uses_the_verifiers_own_verified_list() -> None:
    store = _store()
    own = parse_trust_list(_build())
    assert store.recognizes(own, TYPE, "510000")
    assert not store.recognizes(own, TYPE, "110000")
    assert not store.recognizes(own, "11100000TB0000010H002", "510000")
    assert not store.recognizes(own, TYPE, "510000", now=own.valid_until)
    with pytest.raises(TrustListRejected):
        store.recognizes(parse_trust_list(_build(OTHER_ROOT)), TYPE, "510000")


def test_a_list_verified_once_is_remembered_by_its_exact_bytes_only() -> None:
    store = _store()
    genuine = parse_trust_list(_build())
    for _ in range(2):  # the second answer comes from the store's memory of the first
        assert store.recognizes(genuine, TYPE, "510000")
    outer = canonical.decode(genuine.raw)
    outer[1] = bytes([outer[1][0] ^ 1]) + outer[1][1:]  # the same content, a broken signature
    forged = parse_trust_list(canonical.encode(outer))
    for _ in range(2):
        with pytest.raises(TrustListRejected) as caught:
            store.recognizes(forged, TYPE, "510000")
        assert caught.value.reason == "bad_signature"
    # Another verifier, pinning another root for the region, is not told by the first.
    elsewhere = TrustStore({"330000": OTHER_ROOT.public_key})
    with pytest.raises(TrustListRejected) as caught:
        elsewhere.recognizes(genuine, TYPE, "510000")
    assert caught.value.reason == "wrong_key"


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, 60 * DAY),
    length=st.none() | st.integers(1, 60 * DAY),
    revoked=st.none() | st.integers(0, 60 * DAY),
    offset=st.integers(-5, 70),
)
def test_valid_on_means_valid_at_some_moment_of_the_day_before_any_compromise(
    start: int, length: int | None, revoked: int | None, offset: int
) -> None:
    entry = _entry(
        valid_from=T0 + start,
        valid_until=None if length is None else T0 + start + length,
        revoked_since=None if revoked is None else T0 + revoked,
    )
    day = date(2026, 1, 1) + timedelta(days=offset)
    day_start, day_end = day_bounds(day)
    assert day_end - day_start == DAY
    overlaps = entry.valid_from < day_end and (
        entry.valid_until is None or entry.valid_until > day_start
    )
    clean = entry.revoked_since is None or entry.revoked_since >= day_end
    assert entry.valid_on(day) == (overlaps and clean)


@settings(max_examples=30, deadline=None)
@given(
    regions=st.lists(
        st.from_regex(r"[1-9][0-9]{5}", fullmatch=True), min_size=1, max_size=5, unique=True
    ),
    version=st.integers(1, 2**40),
)
def test_recognition_round_trips(regions: list[str], version: int) -> None:
    raw = _build(version=version, recognition=[Recognition(TYPE, frozenset(regions))])
    trust_list = parse_trust_list(raw)
    assert trust_list.version == version
    assert trust_list.recognition == (Recognition(TYPE, frozenset(regions)),)
    assert all(trust_list.accepts(TYPE, region) for region in regions)
