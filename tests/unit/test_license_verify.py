"""One verdict for a presented license (``licenses/verify.py``, docs/license.md §7.2)."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
import zlib
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import base45
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import canonical
from ledger.suites import Ed25519Signer, get_suite, signer_from_seed, signing_input
from licenses.compact import COMPACT_CONTEXT, decode_compact, document_digest, encode_compact
from licenses.document import Holder, Issuer, StatusEntry, build_license, parse_license
from licenses.errors import InvalidIdentifier
from licenses.identifiers import HolderKind, make_identifier, parse_holder_code
from licenses.status import (
    LicenseStatus,
    SignedStatusList,
    StatusList,
    build_status_list,
    parse_status_list,
)
from licenses.trust import (
    BEIJING,
    LicenseKeyEntry,
    Recognition,
    TrustList,
    TrustStore,
    build_trust_list,
    parse_trust_list,
)
from licenses.verify import VERDICT_REASONS, ListUsed, Verdict, verify_license
from tests.support.suite_variants import FORGERY_SUITE_VARIABLE

# The suite of every key here; tests/reliability/test_license_forgery_sm2.py loads this module
# (and the forgery corpus on top of it) a second time with sm2-sm3.
KEY_SUITE = os.environ.get(FORGERY_SUITE_VARIABLE, "ed25519-sha256")


def _key(name: str) -> Ed25519Signer:
    signer = signer_from_seed(KEY_SUITE, hashlib.sha256(name.encode()).digest())
    return signer  # type: ignore[return-value]  # an SM2 signer stands in for one here


ROOT_ZJ = _key("verify-root-330000")  # the issuing region
ROOT_SC = _key("verify-root-510000")  # the verifier's region
LICENSE_KEY = _key("verify-license-key")
UNTRUSTED = _key("verify-untrusted")
NODE = _key("verify-node")

TYPE = "11100000TB0000010H001"  # 社会保障卡
USCC = "11330105002500287C"
BODY = "330105-RS"
HOLDER_ID = "11010519491231002X"
LIST_ID = "tongban/330000/status/1"
INDEX = 7
IDENTIFIER = make_identifier(TYPE, USCC, "2026010500000001")
DAY = 86_400_000_000


def _moment(day: date, hour: int = 12) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=BEIJING).timestamp()) * 10**6


NOW = _moment(date(2026, 6, 1))


def _entry(**changes: Any) -> LicenseKeyEntry:
    fields: dict[str, Any] = {
        "kid": LICENSE_KEY.key_id,
        "suite": LICENSE_KEY.suite,
        "public_key": LICENSE_KEY.public_key,
        "body_id": BODY,
        "issuer_code": USCC,
        "valid_from": _moment(date(2025, 12, 1)),
        "valid_until": None,
        "revoked_since": None,
    }
    fields.update(changes)
    return LicenseKeyEntry(**fields)


def _trust_list(
    root: Ed25519Signer, region: str, *, keys: list[LicenseKeyEntry], recognized: bool = True
) -> bytes:
    return build_trust_list(
        root,
        region=region,
        version=1,
        issued_at=0,
        valid_until=_moment(date(2040, 1, 1)),
        license_keys=keys,
        recognition=[Recognition(TYPE, frozenset({"330000"}))] if recognized else [],
    )


def _world(entry: LicenseKeyEntry | None = None, *, recognized: bool = True) -> dict[str, Any]:
    """The keyword arguments of verify_license, all checks passing for the default license."""
    store = TrustStore({"330000": ROOT_ZJ.public_key, "510000": ROOT_SC.public_key})
    store.add(_trust_list(ROOT_ZJ, "330000", keys=[entry or _entry()]))
    own = store.add(_trust_list(ROOT_SC, "510000", keys=[], recognized=recognized))
    return {"trust": store, "recognition": own, "status": _status(), "now": NOW}


@cache
def _status(
    state: LicenseStatus = LicenseStatus.VALID, valid_until: int = NOW + DAY
) -> SignedStatusList:
    status_list = StatusList()
    status_list.set(INDEX, state)
    raw = build_status_list(
        NODE,
        status_list,
        list_id=LIST_ID,
        issuer="tongban/330000",
        version=1,
        issued_at=valid_until - 2 * DAY,
        valid_until=valid_until,
    )
    return parse_status_list(raw)


def _document(signer: Ed25519Signer = LICENSE_KEY, **changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "identifier": IDENTIFIER,
        "name": "社会保障卡",
        "number": "A12345678",
        "holder": Holder("张三", HOLDER_ID, HolderKind.RIC),
        "issuer": Issuer("杭州市拱墅区人力资源和社会保障局（示例）", USCC, BODY),
        "issued_on": date(2026, 1, 5),
        "valid_from": date(2026, 1, 5),
        "valid_until": date(2036, 1, 4),
        "jurisdiction": "330105",
        "face": {
            "card_no": "A12345678",
            "holder_name": "张三",
            "issued_on": "2026-01-05",
            "social_security_no": HOLDER_ID,
        },
        "ledger": "tongban/330000",
        "case_id": uuid.UUID("7d0f4c1e-3b2a-4e5f-8a9b-0c1d2e3f4a5b"),
        "issuance_index": 42,
        "status": StatusEntry(LIST_ID, INDEX),
    }
    fields.update(changes)
    return build_license(signer, **fields)


def _compact(signer: Ed25519Signer = LICENSE_KEY, **changes: Any) -> str:
    fields: dict[str, Any] = {
        "identifier": IDENTIFIER,
        "valid_from": date(2026, 1, 5),
        "valid_until": date(2036, 1, 4),
        "status_list_id": LIST_ID,
        "status_index": INDEX,
        "holder_name": "张三",
        "holder_id": HOLDER_ID,
        "document_digest": document_digest(_document()),
    }
    fields.update(changes)
    return encode_compact(signer, **fields)


DOCUMENT = _document()
COMPACT = _compact()
FORMS = pytest.mark.parametrize("presented", [DOCUMENT, COMPACT], ids=["document", "compact"])


def _verify(presented: bytes | str, **changes: Any) -> Verdict:
    arguments = _world()
    arguments.update(changes)
    return verify_license(presented, **arguments)


def _refused(verdict: Verdict, *failed: str) -> None:
    assert (verdict.valid, verdict.primary, verdict.failed) == (False, failed[0], failed)


def _with_content(raw: bytes, signer: Ed25519Signer | None = None, **changes: Any) -> bytes:
    """The document with content fields changed: re-signed by ``signer``, or keeping the
    original signature (an altered document) when ``signer`` is None."""
    content_bytes, signature = canonical.decode(raw)
    content = {**canonical.decode(content_bytes), **changes}
    content_bytes = canonical.encode(content)
    if signer is not None:
        message = signing_input(content["ctx"], get_suite(content["suite"]), content_bytes)
        signature = signer.sign(message)
    return canonical.encode([content_bytes, signature])


def _with_payload(text: str, signer: Ed25519Signer | None = None, **changes: Any) -> str:
    decoded = decode_compact(text)
    payload_bytes = canonical.encode({**canonical.decode(decoded.payload), **changes})
    signature = decoded.signature
    if signer is not None:
        signature = signer.sign(signing_input(COMPACT_CONTEXT, decoded.suite, payload_bytes))
    outer = canonical.encode([payload_bytes, signature])
    encoded: bytes = base45.b45encode(zlib.compress(outer, 9))
    return "TB1:" + encoded.decode()


# -- a valid license -------------------------------------------------------------------------


@FORMS
def test_a_valid_license_has_no_failed_check(presented: bytes | str) -> None:
    verdict = _verify(presented)
    assert (verdict.valid, verdict.primary, verdict.failed) == (True, None, ())
    assert _verify(presented, holder_code=HOLDER_ID.lower()).valid


def test_decoded_forms_are_accepted_too() -> None:
    assert _verify(parse_license(DOCUMENT)).valid  # type: ignore[arg-type]
    assert _verify(decode_compact(COMPACT)).valid  # type: ignore[arg-type]


# -- one test per reason ---------------------------------------------------------------------


def test_malformed_truncated_compact_text() -> None:
    _refused(_verify(COMPACT[:-12]), "malformed")


def test_malformed_document_bytes_and_drafts() -> None:
    _refused(_verify(DOCUMENT[:-1]), "malformed")
    _refused(_verify(_document(issuance_index=0)), "malformed")


def test_unsupported_suite() -> None:
    _refused(_verify(_with_content(DOCUMENT, suite="rsa-sha1")), "unsupported_suite")
    _refused(_verify(_with_payload(COMPACT, LICENSE_KEY, suite="rsa-md5")), "unsupported_suite")


def _bad_check(identifier: str) -> str:
    last = identifier[-1]
    return identifier[:-1] + ("A" if last != "A" else "B")


def test_bad_check_character_in_either_form() -> None:
    forged_document = _with_content(DOCUMENT, LICENSE_KEY, id=_bad_check(IDENTIFIER.text))
    _refused(_verify(forged_document), "bad_check_character")
    forged_compact = _with_payload(COMPACT, LICENSE_KEY, id=_bad_check(IDENTIFIER.text))
    _refused(_verify(forged_compact), "bad_check_character")


def test_forged_with_an_untrusted_key_is_unknown_issuer() -> None:
    _refused(_verify(_document(UNTRUSTED)), "unknown_issuer")
    _refused(_verify(_compact(UNTRUSTED)), "unknown_issuer")


def test_a_trusted_key_of_another_body_is_unknown_issuer() -> None:
    world = _world(_entry(body_id="330105-OTHER"))
    _refused(verify_license(DOCUMENT, **world), "unknown_issuer")
    world = _world(_entry(issuer_code="12510104MB1234567A"))
    _refused(verify_license(COMPACT, **world), "unknown_issuer")


@FORMS
def test_a_key_not_valid_on_the_signing_day(presented: bytes | str) -> None:
    late = _world(_entry(valid_from=_moment(date(2026, 2, 1))))
    _refused(verify_license(presented, **late), "issuer_key_not_valid")
    compromised = _world(_entry(revoked_since=_moment(date(2026, 1, 5), hour=9)))
    _refused(verify_license(presented, **compromised), "issuer_key_not_valid")


def test_one_altered_field_breaks_the_signature() -> None:
    _refused(_verify(_with_content(DOCUMENT, number="B99999999")), "bad_signature")
    _refused(_verify(_with_payload(COMPACT, until=20460104)), "bad_signature")


@FORMS
@pytest.mark.parametrize(
    ("state", "reason"),
    [(LicenseStatus.REVOKED, "revoked"), (LicenseStatus.SUSPENDED, "suspended")],
)
def test_status_from_the_cached_list(
    presented: bytes | str, state: LicenseStatus, reason: str
) -> None:
    _refused(_verify(presented, status=_status(state)), reason)


@FORMS
def test_expired_and_not_yet_valid_by_the_beijing_day(presented: bytes | str) -> None:
    last_day = _moment(date(2036, 1, 4), hour=23)
    assert _verify(presented, now=last_day, status=_status(valid_until=last_day + 1)).valid
    after = _moment(date(2036, 1, 5), hour=0)
    _refused(_verify(presented, now=after, status=_status(valid_until=after + 1)), "expired")
    before = _moment(date(2026, 1, 4), hour=23)
    _refused(
        _verify(presented, now=before, status=_status(valid_until=before + 1)), "not_yet_valid"
    )


@FORMS
def test_a_type_the_verifiers_region_does_not_accept(presented: bytes | str) -> None:
    _refused(verify_license(presented, **_world(recognized=False)), "not_recognized")


def test_a_recognition_list_of_another_region_is_not_trusted() -> None:
    impostor = parse_trust_list(_trust_list(UNTRUSTED, "510000", keys=[]))
    _refused(_verify(DOCUMENT, recognition=impostor), "not_recognized")


@FORMS
def test_wrong_holder(presented: bytes | str) -> None:
    _refused(_verify(presented, holder_code="110101199003070011"), "holder_mismatch")
    _refused(_verify(presented, holder_code="not an id"), "holder_mismatch")


def _same_mask_other_id() -> str:
    """A valid citizen ID other than HOLDER_ID with the same first 4 and last 4 characters."""
    for days in range(1, 4000):
        born = date(1960, 1, 1) + timedelta(days=days)
        candidate = f"110106{born:%Y%m%d}002X"
        try:
            parse_holder_code(candidate, HolderKind.RIC)
        except InvalidIdentifier:
            continue
        return candidate
    raise AssertionError("no such id")  # pragma: no cover


def test_the_compact_form_matches_only_the_masked_holder_id() -> None:
    other = _same_mask_other_id()
    assert other != HOLDER_ID
    _refused(_verify(DOCUMENT, holder_code=other), "holder_mismatch")
    # The compact form keeps only 1101**********002X: it cannot tell the two apart.
    assert _verify(COMPACT, holder_code=other).valid


@FORMS
def test_stale_or_missing_status_is_unavailable(presented: bytes | str) -> None:
    _refused(_verify(presented, status=_status(valid_until=NOW)), "status_unavailable")
    _refused(_verify(presented, status=None), "status_unavailable")


@FORMS
def test_the_verdict_says_how_old_the_status_list_is(presented: bytes | str) -> None:
    verdict = _verify(presented)
    assert verdict.status_source == "status_list"
    assert verdict.status_list == ListUsed(LIST_ID, 1, NOW - DAY, NOW + DAY)
    assert [(used.id, used.version) for used in verdict.trust_lists] == [
        ("330000", 1),
        ("510000", 1),
    ]
    shown = verdict.to_json()
    assert shown["status_list"] == {
        "id": LIST_ID,
        "version": 1,
        "issued_at": NOW - DAY,
        "valid_until": NOW + DAY,
    }


@FORMS
def test_a_list_past_valid_until_is_unknown_and_named(presented: bytes | str) -> None:
    # Revoked on the list, but the list has expired: not "revoked", not "valid": unknown.
    verdict = _verify(presented, status=_status(LicenseStatus.VALID, valid_until=NOW))
    _refused(verdict, "status_unavailable")
    assert verdict.status_source is None
    assert verdict.status_list is not None and verdict.status_list.valid_until == NOW
    assert "expired" in (verdict.status_detail or "")


@FORMS
def test_a_verifier_may_set_a_maximum_status_list_age(presented: bytes | str) -> None:
    # The default list was issued a day before NOW and is valid for another day.
    assert _verify(presented, max_status_age=DAY).valid
    verdict = _verify(presented, max_status_age=DAY - 1)
    _refused(verdict, "status_unavailable")
    assert "maximum age" in (verdict.status_detail or "")
    assert verdict.status_list is not None and verdict.status_list.issued_at == NOW - DAY


def test_a_status_list_other_than_the_licenses_is_unavailable() -> None:
    other = StatusList()
    raw = build_status_list(
        NODE,
        other,
        list_id="tongban/330000/status/2",
        issuer="tongban/330000",
        version=1,
        issued_at=0,
        valid_until=NOW + DAY,
    )
    _refused(_verify(DOCUMENT, status=parse_status_list(raw)), "status_unavailable")


def test_online_status_is_asked_first_and_the_cache_answers_when_it_cannot() -> None:
    asked: list[tuple[str, int]] = []

    def revoked(list_id: str, index: int) -> LicenseStatus:
        asked.append((list_id, index))
        return LicenseStatus.REVOKED

    _refused(_verify(COMPACT, online_status=revoked), "revoked")
    assert asked == [(LIST_ID, INDEX)]

    def offline(list_id: str, index: int) -> LicenseStatus:
        raise OSError("no route to host")

    assert _verify(DOCUMENT, online_status=offline).valid
    _refused(
        _verify(DOCUMENT, online_status=lambda _list, _index: None, status=None),
        "status_unavailable",
    )


# -- precedence ------------------------------------------------------------------------------


def test_precedence_lists_every_failure_and_picks_the_highest() -> None:
    after = _moment(date(2036, 2, 1))
    verdict = verify_license(
        _document(UNTRUSTED),
        trust=_world()["trust"],
        recognition=_world()["recognition"],
        status=_status(LicenseStatus.REVOKED, valid_until=after + DAY),
        now=after,
        holder_code="110101199003070011",
    )
    # Recognition needs the issuing region, which an unknown key does not give.
    _refused(verdict, "unknown_issuer", "revoked", "expired", "holder_mismatch")


def test_precedence_among_authority_status_time_and_policy() -> None:
    world = _world(_entry(valid_from=_moment(date(2026, 2, 1))), recognized=False)
    before = _moment(date(2026, 1, 1))
    world.update(now=before, status=_status(LicenseStatus.SUSPENDED, valid_until=before + DAY))
    verdict = verify_license(_with_payload(COMPACT, until=20460104), **world)
    _refused(
        verdict,
        "issuer_key_not_valid",
        "bad_signature",
        "suspended",
        "not_yet_valid",
        "not_recognized",
    )
    world.update(status=_status(valid_until=before))
    verdict = verify_license(COMPACT, holder_code="110101199003070011", **world)
    _refused(
        verdict,
        "issuer_key_not_valid",
        "not_yet_valid",
        "not_recognized",
        "holder_mismatch",
        "status_unavailable",
    )


def test_the_precedence_is_the_documented_one() -> None:
    """The order other provinces implement is docs/license.md §11's table: code and doc agree."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "license.md").read_text("utf-8")
    section = doc[doc.index("## 11. Verification precedence") :]
    rows = re.findall(r"^\| (\d+) \| `([a-z_]+)` \|", section, flags=re.MULTILINE)
    assert [int(rank) for rank, _ in rows] == list(range(1, len(rows) + 1))
    assert tuple(reason for _, reason in rows) == VERDICT_REASONS


@settings(max_examples=40, deadline=None)
@given(failed=st.sets(st.sampled_from(VERDICT_REASONS)))
def test_verdict_orders_by_precedence(failed: set[str]) -> None:
    verdict = Verdict.of(failed)
    assert set(verdict.failed) == failed and verdict.valid == (not failed)
    assert list(verdict.failed) == sorted(failed, key=VERDICT_REASONS.index)
    assert verdict.primary == (verdict.failed[0] if failed else None)


@settings(max_examples=40, deadline=None)
@given(
    compact=st.booleans(),
    state=st.sampled_from(LicenseStatus),
    day=st.dates(date(2025, 12, 1), date(2036, 2, 1)),
    right_holder=st.none() | st.booleans(),
    recognized=st.booleans(),
)
def test_independent_checks_combine(
    compact: bool, state: LicenseStatus, day: date, right_holder: bool | None, recognized: bool
) -> None:
    now = _moment(day)
    world = _world(recognized=recognized)
    world.update(now=now, status=_status(state, valid_until=now + DAY))
    if right_holder is not None:
        world["holder_code"] = HOLDER_ID if right_holder else "110101199003070011"
    verdict = verify_license(COMPACT if compact else DOCUMENT, **world)
    expected = {
        LicenseStatus.REVOKED: {"revoked"},
        LicenseStatus.SUSPENDED: {"suspended"},
        LicenseStatus.VALID: set(),
    }[state]
    if day > date(2036, 1, 4):
        expected.add("expired")
    if day < date(2026, 1, 5):
        expected.add("not_yet_valid")
    if not recognized:
        expected.add("not_recognized")
    if right_holder is False:
        expected.add("holder_mismatch")
    assert set(verdict.failed) == expected
    assert verdict.failed == Verdict.of(expected).failed


def test_trust_list_type_is_the_verifiers_own() -> None:
    assert isinstance(_world()["recognition"], TrustList)


def test_an_issuing_regions_trust_list_past_valid_until_vouches_for_nothing() -> None:
    after = _moment(date(2040, 1, 2))
    verdict = _verify(DOCUMENT, now=after, status=_status(valid_until=after + DAY))
    # The verifier's own list is stale too, but recognition needs the (unknown) region.
    _refused(verdict, "unknown_issuer", "expired")
