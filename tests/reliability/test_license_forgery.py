"""A forgery corpus for licenses: every forged or unusable license is refused with its reason,
and none is accepted (``licenses/verify.py``, ``docs/license.md`` §11,
``docs/license-offline.md`` §2.3).

The corpus, on the full document and on the compact ``TB1:`` text alike: signed by an
untrusted key; signed by another key under the trusted key's ``kid``; every field of the
document and of the compact payload altered one at a time under the original signature;
every wrong check character; expired, not yet valid, revoked, suspended, status unknown; a
type the verifier's region does not recognize, and one nobody registered; the wrong holder;
every truncation of the compact text and of the document. Then hypothesis mutates the text,
the bytes and the signed payload: a mutation is refused, or it decodes to the very bytes that
were signed (zlib output is not unique, ``docs/license-offline.md`` §2.1).

The trust lists, keys and the valid license come from ``tests/unit/test_license_verify.py``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import date
from typing import Any

import base45
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import canonical
from licenses.compact import decode_compact, document_digest
from licenses.document import LICENSE_FIELDS, parse_license
from licenses.errors import LicenseError
from licenses.identifiers import ALPHABET, make_identifier
from licenses.status import LicenseStatus, parse_status_list
from licenses.trust import TrustStore
from licenses.verify import Verdict
from tests.unit.test_license_verify import (
    COMPACT,
    DOCUMENT,
    HOLDER_ID,
    IDENTIFIER,
    LICENSE_KEY,
    NODE,
    ROOT_ZJ,
    TYPE,
    UNTRUSTED,
    USCC,
    _compact,
    _document,
    _entry,
    _moment,
    _status,
    _trust_list,
    _verify,
    _with_content,
    _with_payload,
    _world,
)

# Loosely typed: the corpus passes any field by name, the signer included.
with_content: Callable[..., bytes] = _with_content
with_payload: Callable[..., str] = _with_payload

OTHER_ID = make_identifier(TYPE, USCC, "2026010500000002")  # valid, another serial
OTHER_HOLDER = "110101199003070011"  # a valid citizen ID, not the holder's
UNREGISTERED_TYPE = TYPE[:-3] + "999"  # the defining body's code with an unused number


def _refused(verdict: Verdict, reason: str) -> None:
    assert not verdict.valid, verdict
    assert verdict.primary == reason, verdict


# -- every field altered, the signature kept ----------------------------------------------

DOCUMENT_CONTENT = canonical.decode(canonical.decode(DOCUMENT)[0])

#: (field path, altered value, primary reason): every content field of the document.
DOCUMENT_ALTERATIONS: list[tuple[str, Any, str]] = [
    ("v", 2, "malformed"),  # unsupported_version
    ("suite", "rsa-sha1", "unsupported_suite"),
    ("ctx", "tongban/license-compact/v1", "malformed"),  # wrong_context
    ("kid", UNTRUSTED.key_id, "unknown_issuer"),
    ("id", OTHER_ID.text, "bad_signature"),
    ("type", UNREGISTERED_TYPE, "malformed"),  # type_mismatch
    ("name", "居民身份证", "bad_signature"),
    ("number", "B99999999", "bad_signature"),
    ("holder.name", "李四", "bad_signature"),
    ("holder.code", OTHER_HOLDER, "malformed"),  # bad_holder_code: not the face's number
    ("holder.code_type", "uscc", "malformed"),  # bad_holder_code
    ("issuer.name", "另一个机构", "bad_signature"),
    ("issuer.code", "12510104MB1234567A", "malformed"),  # issuer_mismatch
    ("issuer.body", "330105-OTHER", "unknown_issuer"),  # not the key's body
    ("issued_on", "2026-01-06", "bad_signature"),
    ("valid_from", "2026-01-04", "bad_signature"),
    ("valid_until", "2046-01-04", "bad_signature"),
    ("jurisdiction", "330106", "bad_signature"),
    ("face.card_no", "B99999999", "bad_signature"),
    ("face.holder_name", "李四", "bad_signature"),
    ("face.issued_on", "2026-01-06", "bad_signature"),
    ("face.social_security_no", OTHER_HOLDER, "malformed"),  # bad_holder_code, likewise
    ("ledger", "tongban/510000", "bad_signature"),
    ("case", "00000000-0000-4000-8000-000000000001", "bad_signature"),
    ("issuance_index", 43, "bad_signature"),
    ("status.list", "tongban/330000/status/2", "bad_signature"),
    ("status.index", 8, "bad_signature"),
]

COMPACT_PAYLOAD = canonical.decode(decode_compact(COMPACT).payload)

#: The same for every field of the compact payload.
COMPACT_ALTERATIONS: list[tuple[str, Any, str]] = [
    ("v", 2, "malformed"),  # unsupported_version
    ("suite", "rsa-md5", "unsupported_suite"),
    ("kid", UNTRUSTED.key_id, "unknown_issuer"),
    ("id", OTHER_ID.text, "bad_signature"),
    ("type", UNREGISTERED_TYPE, "malformed"),  # not id's type part
    ("issuer", "12510104MB1234567A", "malformed"),  # not id's issuer part
    ("from", 20260104, "bad_signature"),
    ("until", 20460104, "bad_signature"),
    ("status.0", "tongban/330000/status/2", "bad_signature"),
    ("status.1", 8, "bad_signature"),
    ("holder.name", "李*", "bad_signature"),
    ("holder.id", "1101**********0011", "bad_signature"),
    ("digest", document_digest(b"another document"), "bad_signature"),
]


def _paths(value: Any, prefix: str = "") -> set[str]:
    """Every leaf field path of a decoded map (list items by position)."""
    if isinstance(value, dict):
        return {p for k, v in value.items() for p in _paths(v, f"{prefix}{k}.")}
    if isinstance(value, list):
        return {p for i, v in enumerate(value) for p in _paths(v, f"{prefix}{i}.")}
    return {prefix.rstrip(".")}


def _altered(content: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``content`` with the field at ``path`` replaced (top-level key returned)."""
    head, _, rest = path.partition(".")
    if not rest:
        return {head: value}
    inner = content[head]
    if isinstance(inner, list):
        items = list(inner)
        items[int(rest)] = value
        return {head: items}
    return {head: {**inner, **_altered(inner, rest, value)}}


def test_the_alterations_cover_every_field() -> None:
    assert {p.split(".")[0] for p, _, _ in DOCUMENT_ALTERATIONS} == LICENSE_FIELDS
    assert {p for p, _, _ in DOCUMENT_ALTERATIONS} == _paths(DOCUMENT_CONTENT)
    assert {p for p, _, _ in COMPACT_ALTERATIONS} == _paths(COMPACT_PAYLOAD)


@pytest.mark.parametrize(("path", "value", "reason"), DOCUMENT_ALTERATIONS)
def test_a_document_with_one_altered_field_is_refused(path: str, value: Any, reason: str) -> None:
    changes = _altered(DOCUMENT_CONTENT, path, value)
    forged = with_content(DOCUMENT, **changes)
    assert forged != DOCUMENT
    _refused(_verify(forged), reason)


@pytest.mark.parametrize(("path", "value", "reason"), COMPACT_ALTERATIONS)
def test_a_compact_license_with_one_altered_field_is_refused(
    path: str, value: Any, reason: str
) -> None:
    changes = _altered(COMPACT_PAYLOAD, path, value)
    forged = with_payload(COMPACT, **changes)
    assert forged != COMPACT
    _refused(_verify(forged), reason)


# -- forged signatures, the check character, status, time and policy ----------------------


def _corpus() -> list[tuple[str, bytes | str, dict[str, Any], str]]:
    """(name, presented, changes to the verifier's arguments, primary reason)."""
    expired = _moment(date(2036, 1, 5), hour=0)
    early = _moment(date(2026, 1, 4), hour=23)
    entries: list[tuple[str, bytes | str, dict[str, Any], str]] = []
    resign: Callable[..., Any]
    valid: Any
    for form, valid, resign in (
        ("document", DOCUMENT, with_content),
        ("compact", COMPACT, with_payload),
    ):
        make: Callable[..., Any] = _document if form == "document" else _compact
        entries += [
            (f"{form}: untrusted key", make(UNTRUSTED), {}, "unknown_issuer"),
            (
                f"{form}: another key under the trusted kid",
                resign(valid, UNTRUSTED, kid=LICENSE_KEY.key_id),
                {},
                "bad_signature",
            ),
            (
                f"{form}: the trusted key of another body",
                valid,
                _world(_entry(body_id="330105-OTHER", issuer_code="12330105MB0000001Y")),
                "unknown_issuer",
            ),
            (
                f"{form}: a key not yet valid on the signing day",
                valid,
                _world(_entry(valid_from=_moment(date(2026, 2, 1)))),
                "issuer_key_not_valid",
            ),
            (
                f"{form}: a key compromised before the signing day",
                valid,
                _world(_entry(revoked_since=_moment(date(2026, 1, 1)))),
                "issuer_key_not_valid",
            ),
            (
                f"{form}: expired",
                valid,
                {"now": expired, "status": _status(valid_until=expired + 1)},
                "expired",
            ),
            (
                f"{form}: not yet valid",
                valid,
                {"now": early, "status": _status(valid_until=early + 1)},
                "not_yet_valid",
            ),
            (f"{form}: revoked", valid, {"status": _status(LicenseStatus.REVOKED)}, "revoked"),
            (
                f"{form}: suspended",
                valid,
                {"status": _status(LicenseStatus.SUSPENDED)},
                "suspended",
            ),
            (f"{form}: no status list", valid, {"status": None}, "status_unavailable"),
            (
                f"{form}: a type this region does not recognize",
                valid,
                _world(recognized=False),
                "not_recognized",
            ),
            (f"{form}: wrong holder", valid, {"holder_code": OTHER_HOLDER}, "holder_mismatch"),
            (f"{form}: no valid holder id", valid, {"holder_code": "X"}, "holder_mismatch"),
        ]
        for check in ALPHABET:
            if check != IDENTIFIER.text[-1]:
                wrong = IDENTIFIER.text[:-1] + check
                entries.append(
                    (
                        f"{form}: check character {check}",
                        resign(valid, LICENSE_KEY, id=wrong),
                        {},
                        "bad_check_character",
                    )
                )
    unregistered = make_identifier(UNREGISTERED_TYPE, USCC, "2026010500000001")
    other_holder = {
        "holder": {**DOCUMENT_CONTENT["holder"], "code": OTHER_HOLDER},
        "face": {**DOCUMENT_CONTENT["face"], "social_security_no": OTHER_HOLDER},
    }
    entries += [
        # a suite that is not text was a TypeError out of the verifier (ledger/suites.py)
        ("document: suite not text", with_content(DOCUMENT, suite=["x"]), {}, "unsupported_suite"),
        ("compact: suite not text", with_payload(COMPACT, suite={}), {}, "unsupported_suite"),
        # a date number past C's int was an OverflowError out of the verifier (compact.py)
        ("compact: huge from", with_payload(COMPACT, **{"from": 2**41 * 10_000}), {}, "malformed"),
        ("compact: huge until", with_payload(COMPACT, until=-(2**63)), {}, "malformed"),
        # the holder's number changed consistently, in holder and face
        ("document: another holder", with_content(DOCUMENT, **other_holder), {}, "bad_signature"),
        # a full document of a type nobody registered does not even parse
        (
            "document: unregistered type",
            with_content(DOCUMENT, LICENSE_KEY, id=unregistered.text, type=UNREGISTERED_TYPE),
            {},
            "malformed",
        ),
        # the compact form does not name the type's rules: no region recognizes it
        ("compact: unregistered type", _compact(identifier=unregistered), {}, "not_recognized"),
    ]
    return entries


CORPUS = _corpus()


@pytest.mark.parametrize(
    ("presented", "changes", "reason"),
    [entry[1:] for entry in CORPUS],
    ids=[entry[0] for entry in CORPUS],
)
def test_the_forgery_corpus_is_refused(
    presented: bytes | str, changes: dict[str, Any], reason: str
) -> None:
    _refused(_verify(presented, **changes), reason)


def test_the_valid_license_passes_the_same_checks() -> None:
    """The corpus's baseline: without the forgery, the same license is valid."""
    for presented in (DOCUMENT, COMPACT):
        verdict = _verify(presented)
        assert (verdict.valid, verdict.primary, verdict.failed) == (True, None, ())
        assert _verify(presented, holder_code=HOLDER_ID).valid


# -- truncation ------------------------------------------------------------------------------


def test_every_truncation_of_the_compact_text_is_refused() -> None:
    for length in range(len(COMPACT)):
        _refused(_verify(COMPACT[:length]), "malformed")


def test_every_truncation_of_the_document_is_refused() -> None:
    for length in range(len(DOCUMENT)):
        _refused(_verify(DOCUMENT[:length]), "malformed")


# -- mutation --------------------------------------------------------------------------------

ORIGINAL_OUTER = zlib.decompress(base45.b45decode(COMPACT[4:]))
TEXT_CHARS = st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:a\n\x00é")


def _outer(text: str) -> bytes | None:
    try:
        return zlib.decompress(base45.b45decode(text[4:]))
    except (ValueError, zlib.error):
        return None


@st.composite
def _mutated_text(draw: st.DrawFn) -> str:
    text = COMPACT
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        char = draw(TEXT_CHARS)
        if op == "replace" and at < len(text):
            text = text[:at] + char + text[at + 1 :]
        elif op == "insert":
            text = text[:at] + char + text[at:]
        else:
            text = text[:at] + text[at + 1 :]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_mutated_text())
def test_a_mutated_compact_text_is_refused_or_the_same_signed_bytes(text: str) -> None:
    verdict = _verify(text)
    if verdict.valid:
        assert _outer(text) == ORIGINAL_OUTER, text


def _mutated_bytes(data: st.DataObject, original: bytes) -> bytes:
    raw = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if op == "flip":
            raw[at] ^= data.draw(st.integers(1, 255))
        elif op == "insert":
            raw.insert(at, data.draw(st.integers(0, 255)))
        else:
            del raw[at]
    return bytes(raw)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_mutated_document_is_refused_or_identical(data: st.DataObject) -> None:
    mutated = _mutated_bytes(data, DOCUMENT)
    if _verify(mutated).valid:
        assert mutated == DOCUMENT


STATUS_LIST = _status().raw
TRUST_LIST = _trust_list(ROOT_ZJ, "330000", keys=[_entry()])


@settings(max_examples=200, deadline=None)
@given(data=st.data(), status=st.booleans())
def test_a_mutated_status_or_trust_list_is_refused_or_identical(
    data: st.DataObject, status: bool
) -> None:
    """What a verifier caches to check licenses offline: refused (a ``LicenseError``, never
    another exception) unless unchanged."""
    original = STATUS_LIST if status else TRUST_LIST
    mutated = _mutated_bytes(data, original)
    try:
        if status:
            parse_status_list(mutated).verify(NODE.public_key)
        else:
            TrustStore({"330000": ROOT_ZJ.public_key}).add(mutated)
    except LicenseError:
        return
    assert mutated == original


def _leaf_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(-(2**64), 2**64),
        st.text(max_size=40),
        st.binary(max_size=40),
        st.booleans(),
        st.none(),
        st.lists(st.integers(0, 2**17), max_size=3),
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_mutated_signed_payload_is_refused_or_identical(data: st.DataObject) -> None:
    """Any field of either form set to any value, under the original signature."""
    compact = data.draw(st.booleans())
    content = COMPACT_PAYLOAD if compact else DOCUMENT_CONTENT
    path = data.draw(st.sampled_from(sorted(_paths(content))))
    changes = _altered(content, path, data.draw(_leaf_values()))
    try:
        forged: bytes | str = (
            with_payload(COMPACT, **changes) if compact else with_content(DOCUMENT, **changes)
        )
    except Exception:  # the value cannot even be encoded canonically: nothing to present
        return
    if _verify(forged).valid:
        assert forged == (COMPACT if compact else DOCUMENT) or (
            compact
            and isinstance(forged, str)
            and decode_compact(forged).payload == decode_compact(COMPACT).payload
        )


def test_the_unit_fixtures_agree_with_the_corpus() -> None:
    """The corpus rests on the unit tests' valid license: it must parse as that license."""
    assert parse_license(DOCUMENT).id == IDENTIFIER
    assert decode_compact(COMPACT).identifier == IDENTIFIER
