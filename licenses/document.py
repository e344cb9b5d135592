"""The license document: an electronic license (电子证照) as a Tongban signed object.

Normative text: ``docs/license.md``. A license document is a signed object
(``docs/envelope.md`` §2) with context ``tongban/license/v1``, signed by a **license key** of
the issuing body (a ``license_key_certified`` key of the key registry, ``ledger/keys.py``). Its
content is the GB/T 36903 metadata of the license and its face data (照面信息), plus where it
was issued from: the ledger, the case and the ledger index of the issuance event, and the
license's place in a status list.

- :func:`build_license` signs a document and returns its exact bytes;
- :func:`parse_license` decodes bytes and checks every shape rule (no key needed), raising
  :class:`InvalidLicense` with a ``reason`` from :data:`LICENSE_REASONS` and the ``field``;
- :func:`verify_signature` checks the signature under a public key the caller trusts;
  :func:`verify_issued_by` looks the key up in a key registry first (a license key of the
  issuing body, valid at a given moment).

The document carries the holder's name and code in clear: it is the holder's credential and
useless without them. It is therefore never appended to the ledger (the issuance event will
carry its digest), and ``repr`` masks both.

Errors (``InvalidLicense`` belongs under ``LicenseError`` in ``licenses/errors.py``; it is
defined here until that module takes it)::

    LicenseError
    └── InvalidLicense     reason (LICENSE_REASONS), field (dotted path, or None)
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from ledger.envelope import (
    LICENSE_CONTEXT,
    SignedObject,
    SignedView,
    check_identifier,
    open_signed,
    parse_case_id,
    seal,
)
from ledger.errors import LedgerError
from ledger.keys import KeyRegistry
from ledger.personal import mask_id_number, mask_name
from ledger.suites import Signer
from licenses.errors import InvalidIdentifier, LicenseError, UnknownLicenseType
from licenses.identifiers import HolderKind, LicenseIdentifier, parse_holder_code, parse_identifier
from licenses.status import MAX_ENTRIES
from licenses.types import LicenseType, get_type

__all__ = [
    "LICENSE_FIELDS",
    "LICENSE_REASONS",
    "STATUS_LIST_SIZE",
    "Holder",
    "InvalidLicense",
    "Issuer",
    "LicenseDocument",
    "StatusEntry",
    "build_license",
    "parse_license",
    "verify_issued_by",
    "verify_signature",
]

#: Every ``InvalidLicense.reason``; other provinces may switch on them (docs/license.md §6).
LICENSE_REASONS: Final[frozenset[str]] = frozenset(
    {
        # opening the signed object (docs/envelope.md §2.5)
        "malformed",  # not canonical, not [content, signature], a field missing/unknown/mistyped
        "unsupported_version",  # v is not 1
        "unsupported_suite",  # a suite this node does not implement
        "wrong_context",  # ctx is not tongban/license/v1
        # the license's own rules
        "bad_check_character",  # id's GB/T 36904 check character does not match
        "bad_identifier",  # id is not a GB/T 36904 identifier for any other reason
        "type_mismatch",  # type is not the identifier's type part
        "unknown_type",  # no license type registered under type
        "bad_holder_code",  # holder code invalid, not canonical, or not the type's kind
        "issuer_mismatch",  # issuer.code is not the identifier's issuer part
        "bad_date",  # not a calendar date written YYYY-MM-DD
        "bad_validity",  # valid_until before valid_from
        "bad_face",  # a required face field missing, or one the type does not have
        "draft",  # issuance_index 0: a draft, not an issued license
        # keys and signatures
        "unknown_key",  # the signing key is not a license key of the issuing body
        "key_not_valid_at_time",
        "key_revoked",
        "bad_signature",
    }
)

#: The content fields of a license document, exactly (docs/license.md §3).
LICENSE_FIELDS: Final = frozenset(
    {
        "v",
        "suite",
        "ctx",
        "kid",
        "id",
        "type",
        "name",
        "number",
        "holder",
        "issuer",
        "issued_on",
        "valid_from",
        "valid_until",
        "jurisdiction",
        "face",
        "ledger",
        "case",
        "issuance_index",
        "status",
    }
)
#: A license's ``status.index`` is below this: the most entries a status list may hold
#: (docs/license-offline.md §1.1), the same bound as the compact form's. Whether the entry
#: exists is the named list's business (its size), judged when the status is looked up.
STATUS_LIST_SIZE: Final = MAX_ENTRIES
MAX_TEXT_CHARS: Final = 256
MAX_FACE_CHARS: Final = 4096

_HOLDER_FIELDS: Final = frozenset({"name", "code", "code_type"})
_ISSUER_FIELDS: Final = frozenset({"name", "code", "body"})
_STATUS_FIELDS: Final = frozenset({"list", "index"})
# Explicit ASCII classes: \d would also match other scripts' digits.
_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIVISION: Final = re.compile(r"[1-9][0-9]{5}")
# Ledger names (tongban/510000): printable ASCII, no spaces.
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
# A status list id is at most 64 characters, as the status list itself says (no longer id
# could ever name a list that parses: docs/license-offline.md §1.3).
_LIST_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")


class InvalidLicense(LicenseError, ValueError):
    """A license document is refused.

    ``reason`` is one of :data:`LICENSE_REASONS`; ``field`` is the dotted path of the content
    field that is wrong (``"id"``, ``"holder.code"``, ``"face.card_no"``) or ``None`` when the
    bytes as a whole are unusable.
    """

    def __init__(self, reason: str, detail: str, *, field: str | None = None) -> None:
        if reason not in LICENSE_REASONS:
            raise ValueError(f"unknown InvalidLicense reason {reason!r}")
        super().__init__(f"{reason}: {detail}" + (f" (field {field})" if field else ""))
        self.reason = reason
        self.detail = detail
        self.field = field


@dataclass(frozen=True)
class Holder:
    """持证主体: the person or organization the license is issued to."""

    name: str  # 持证主体
    code: str  # 持证主体代码, canonical form
    code_type: HolderKind  # 持证主体代码类型

    def __repr__(self) -> str:
        # Personal data stays out of tracebacks and logs.
        shown = mask_id_number(self.code) if self.code_type is HolderKind.RIC else self.code
        name = mask_name(self.name) if self.code_type is HolderKind.RIC else self.name
        return f"Holder(name={name!r}, code={shown!r}, code_type={self.code_type.value!r})"


@dataclass(frozen=True)
class Issuer:
    """颁发机构: the body that issued the license."""

    name: str  # 颁发机构
    code: str  # 颁发机构代码: its USCC, the identifier's issuer part
    body: str  # its body id in the key registry


@dataclass(frozen=True)
class StatusEntry:
    """Where the license's status (valid, suspended, revoked) is published."""

    list: str
    index: int


@dataclass(frozen=True)
class LicenseDocument(SignedView):
    """A decoded license document whose shape is checked; its signature is not yet verified."""

    signed: SignedObject
    id: LicenseIdentifier  # 电子证照标识
    type: str  # 证照类型代码
    name: str  # 证照名称
    number: str  # 证照编号
    holder: Holder
    issuer: Issuer
    issued_on: date  # 颁发日期
    valid_from: date  # 有效期起
    valid_until: date | None  # 有效期止; None = 长期
    jurisdiction: str  # 所属管辖属地编码
    face: dict[str, str]  # 照面信息
    ledger: str
    case_id: uuid.UUID
    issuance_index: int
    status: StatusEntry

    @property
    def digest(self) -> bytes:
        """The suite digest of the document's exact bytes (content and signature)."""
        return self.signed.hash

    @property
    def is_draft(self) -> bool:
        """A draft names no issuance event yet (``issuance_index`` 0)."""
        return self.issuance_index == 0

    @property
    def license_type(self) -> LicenseType:
        return get_type(self.type)

    def __repr__(self) -> str:
        return (
            f"LicenseDocument(id={self.id.text!r}, name={self.name!r}, holder={self.holder!r}, "
            f"issuer={self.issuer.body!r}, digest={self.digest.hex()!r})"
        )


# -- building --------------------------------------------------------------------------------


def _date_text(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def build_license(
    signer: Signer,
    *,
    identifier: LicenseIdentifier,
    name: str,
    number: str,
    holder: Holder,
    issuer: Issuer,
    issued_on: date,
    valid_from: date,
    valid_until: date | None,
    jurisdiction: str,
    face: Mapping[str, str],
    ledger: str,
    case_id: uuid.UUID,
    issuance_index: int,
    status: StatusEntry,
) -> bytes:
    """Sign a license document with a license key: its exact bytes.

    ``type`` is the identifier's type part. The result is parsed before it is returned, so an
    inconsistent input raises :class:`InvalidLicense` exactly as a verifier would refuse it;
    ``issuance_index`` 0 builds a draft.
    """
    raw = seal(
        {
            "ctx": LICENSE_CONTEXT,
            "id": identifier.text,
            "type": identifier.type_code,
            "name": name,
            "number": number,
            "holder": {
                "name": holder.name,
                "code": holder.code,
                "code_type": HolderKind(holder.code_type).value,
            },
            "issuer": {"name": issuer.name, "code": issuer.code, "body": issuer.body},
            "issued_on": _date_text(issued_on),
            "valid_from": _date_text(valid_from),
            "valid_until": _date_text(valid_until),
            "jurisdiction": jurisdiction,
            "face": dict(face),
            "ledger": ledger,
            "case": str(case_id),
            "issuance_index": issuance_index,
            "status": {"list": status.list, "index": status.index},
        },
        signer,
    )
    parse_license(raw, allow_draft=True)
    return raw


# -- parsing ---------------------------------------------------------------------------------


def _get(content: Mapping[str, Any], name: str, kind: type, path: str) -> Any:
    value = content.get(name)
    # bool is an int in Python; an index of True must not pass as 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidLicense("malformed", f"{path} must be {kind.__name__}", field=path)
    return value


def _text(content: Mapping[str, Any], name: str, path: str, *, face: bool = False) -> str:
    """Non-empty text, bounded, without control or format characters (a face value: LF too)."""
    value: str = _get(content, name, str, path)
    limit = MAX_FACE_CHARS if face else MAX_TEXT_CHARS
    if not value or len(value) > limit:
        raise InvalidLicense("malformed", f"{path} must be 1 to {limit} characters", field=path)
    for char in value:
        if unicodedata.category(char) in {"Cc", "Cf"} and not (face and char == "\n"):
            # A bidi override or a line break could make a name display as another.
            raise InvalidLicense(
                "malformed", f"{path} holds control character U+{ord(char):04X}", field=path
            )
    return value


def _exact_keys(value: Mapping[str, Any], expected: frozenset[str], path: str) -> None:
    missing, unknown = expected - set(value), set(value) - expected
    if missing or unknown:
        wrong = sorted(unknown) or sorted(missing)
        field = wrong[0] if path == "" else f"{path}.{wrong[0]}"
        raise InvalidLicense(
            "malformed",
            f"{path or 'content'} has exactly {sorted(expected)}; "
            f"missing {sorted(missing)}, unknown {sorted(unknown)}",
            field=field,
        )


def _date(content: Mapping[str, Any], name: str, *, open_ended: bool = False) -> date | None:
    value: str = _get(content, name, str, name)
    if open_ended and value == "":
        return None
    if _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    allowed = "YYYY-MM-DD or empty (长期)" if open_ended else "YYYY-MM-DD"
    raise InvalidLicense(
        "bad_date", f"{name} {value!r} is not a calendar date {allowed}", field=name
    )


def _identifier(content: Mapping[str, Any]) -> LicenseIdentifier:
    text: str = _get(content, "id", str, "id")
    try:
        return parse_identifier(text)
    except InvalidIdentifier as error:
        reason = (
            "bad_check_character" if error.reason == "bad_check_character" else "bad_identifier"
        )
        raise InvalidLicense(reason, error.detail, field="id") from None


def _license_type(content: Mapping[str, Any], identifier: LicenseIdentifier) -> LicenseType:
    code: str = _get(content, "type", str, "type")
    if code != identifier.type_code:
        raise InvalidLicense(
            "type_mismatch",
            f"type {code!r} is not the identifier's type code {identifier.type_code!r}",
            field="type",
        )
    try:
        return get_type(code)
    except UnknownLicenseType:
        raise InvalidLicense(
            "unknown_type", f"no license type is registered under {code!r}", field="type"
        ) from None


def _holder(content: Mapping[str, Any], license_type: LicenseType) -> Holder:
    holder: dict[str, Any] = _get(content, "holder", dict, "holder")
    _exact_keys(holder, _HOLDER_FIELDS, "holder")
    name = _text(holder, "name", "holder.name")
    code_type: str = _get(holder, "code_type", str, "holder.code_type")
    if code_type not in {kind.value for kind in HolderKind}:
        raise InvalidLicense(
            "malformed", "holder.code_type is 'ric' or 'uscc'", field="holder.code_type"
        )
    kind = HolderKind(code_type)
    if kind is not license_type.holder_kind:
        raise InvalidLicense(
            "bad_holder_code",
            f"a {license_type.name} is held under a {license_type.holder_kind.value} code",
            field="holder.code_type",
        )
    code: str = _get(holder, "code", str, "holder.code")
    try:
        parsed = parse_holder_code(code, kind)
    except InvalidIdentifier as error:
        raise InvalidLicense("bad_holder_code", error.detail, field="holder.code") from None
    if parsed.value != code:
        raise InvalidLicense(
            "bad_holder_code",
            "holder.code must be canonical: upper case, no spaces or hyphens",
            field="holder.code",
        )
    return Holder(name, code, kind)


def _issuer(content: Mapping[str, Any], identifier: LicenseIdentifier) -> Issuer:
    issuer: dict[str, Any] = _get(content, "issuer", dict, "issuer")
    _exact_keys(issuer, _ISSUER_FIELDS, "issuer")
    name = _text(issuer, "name", "issuer.name")
    code: str = _get(issuer, "code", str, "issuer.code")
    if code != identifier.issuer_code:
        raise InvalidLicense(
            "issuer_mismatch",
            f"issuer.code {code!r} is not the identifier's issuer code {identifier.issuer_code!r}",
            field="issuer.code",
        )
    body: str = _get(issuer, "body", str, "issuer.body")
    try:
        check_identifier(body, "issuer.body")
    except LedgerError as error:
        raise InvalidLicense("malformed", error.detail, field="issuer.body") from None
    return Issuer(name, code, body)


def _face(content: Mapping[str, Any], license_type: LicenseType, holder: Holder) -> dict[str, str]:
    face: dict[str, Any] = _get(content, "face", dict, "face")
    fields = {f.key: f for f in license_type.face_fields}
    unknown = sorted(set(face) - set(fields))
    if unknown:
        raise InvalidLicense(
            "bad_face",
            f"a {license_type.name} has no face field {unknown[0]!r}",
            field=f"face.{unknown[0]}",
        )
    missing = [f.key for f in license_type.face_fields if f.required and f.key not in face]
    if missing:
        raise InvalidLicense(
            "bad_face",
            f"a {license_type.name} needs face field {missing[0]!r}",
            field=f"face.{missing[0]}",
        )
    checked: dict[str, str] = {}
    for key in face:  # canonical order: sorted by UTF-8 bytes
        path = f"face.{key}"
        value = _text(face, key, path, face=True)
        kind = fields[key].kind
        if kind == "date" and not (_DATE.fullmatch(value) and _is_date(value)):
            raise InvalidLicense("bad_date", f"{path} {value!r} is not YYYY-MM-DD", field=path)
        if kind == "holder_code" and value != holder.code:
            raise InvalidLicense("bad_holder_code", f"{path} must equal holder.code", field=path)
        checked[key] = value
    return checked


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _status(content: Mapping[str, Any]) -> StatusEntry:
    status: dict[str, Any] = _get(content, "status", dict, "status")
    _exact_keys(status, _STATUS_FIELDS, "status")
    list_id: str = _get(status, "list", str, "status.list")
    if not _LIST_ID.fullmatch(list_id):
        raise InvalidLicense(
            "malformed", f"status.list {list_id!r} is not a list id", field="status.list"
        )
    index: int = _get(status, "index", int, "status.index")
    if not 0 <= index < STATUS_LIST_SIZE:
        raise InvalidLicense(
            "malformed", f"status.index must be 0 to {STATUS_LIST_SIZE - 1}", field="status.index"
        )
    return StatusEntry(list_id, index)


def _open(raw: bytes) -> SignedObject:
    try:
        return open_signed(raw, context=LICENSE_CONTEXT)
    except LedgerError as error:
        # The same reasons as every signed object (malformed, unsupported_version,
        # unsupported_suite, wrong_context), under the licenses error.
        raise InvalidLicense(error.reason, error.detail, field=error.field) from None


def parse_license(raw: bytes, *, allow_draft: bool = False) -> LicenseDocument:
    """Decode a license document and check its shape (not its signature).

    Checks run in the order of ``docs/license.md`` §4 and stop at the first failure. A draft
    (``issuance_index`` 0) is refused with ``draft`` unless ``allow_draft``.
    """
    signed = _open(raw)
    content = signed.content
    _exact_keys(content, LICENSE_FIELDS, "")
    identifier = _identifier(content)
    license_type = _license_type(content, identifier)
    name = _text(content, "name", "name")
    number = _text(content, "number", "number")
    holder = _holder(content, license_type)
    issuer = _issuer(content, identifier)
    issued_on = _date(content, "issued_on")
    valid_from = _date(content, "valid_from")
    valid_until = _date(content, "valid_until", open_ended=True)
    assert issued_on is not None and valid_from is not None  # only valid_until is open-ended
    if valid_until is not None and valid_until < valid_from:
        raise InvalidLicense(
            "bad_validity",
            f"valid_until {valid_until} is before valid_from {valid_from}",
            field="valid_until",
        )
    jurisdiction: str = _get(content, "jurisdiction", str, "jurisdiction")
    if not _DIVISION.fullmatch(jurisdiction):
        raise InvalidLicense(
            "malformed", "jurisdiction is a 6-digit GB/T 2260 code", field="jurisdiction"
        )
    face = _face(content, license_type, holder)
    ledger: str = _get(content, "ledger", str, "ledger")
    if not _NAME.fullmatch(ledger):
        raise InvalidLicense("malformed", f"ledger {ledger!r} is not a ledger name", field="ledger")
    case_text: str = _get(content, "case", str, "case")
    try:
        case_id = parse_case_id(case_text)
    except LedgerError as error:
        raise InvalidLicense("malformed", error.detail, field="case") from None
    issuance_index: int = _get(content, "issuance_index", int, "issuance_index")
    if issuance_index < 0:
        raise InvalidLicense(
            "malformed", "issuance_index is a ledger index", field="issuance_index"
        )
    if issuance_index == 0 and not allow_draft:
        raise InvalidLicense(
            "draft", "issuance_index 0: a draft names no issuance event", field="issuance_index"
        )
    return LicenseDocument(
        signed=signed,
        id=identifier,
        type=identifier.type_code,
        name=name,
        number=number,
        holder=holder,
        issuer=issuer,
        issued_on=issued_on,
        valid_from=valid_from,
        valid_until=valid_until,
        jurisdiction=jurisdiction,
        face=face,
        ledger=ledger,
        case_id=case_id,
        issuance_index=issuance_index,
        status=_status(content),
    )


# -- signatures ------------------------------------------------------------------------------


def verify_signature(document: LicenseDocument, public_key: bytes) -> None:
    """Raise ``InvalidLicense("bad_signature")`` unless the signature is valid under the key."""
    try:
        document.signed.verify(public_key)
    except LedgerError as error:
        raise InvalidLicense("bad_signature", error.detail, field="signature") from None


def verify_issued_by(document: LicenseDocument, registry: KeyRegistry, *, moment: int) -> None:
    """Raise unless a license key of the issuing body, valid at ``moment``, signed ``document``.

    ``moment`` is in microseconds since the epoch (docs/license.md §5 says which moment).
    Refusals: ``unknown_key``, ``key_not_valid_at_time``, ``key_revoked``, ``bad_signature``.
    """
    try:
        key = registry.license_key_at(document.key_id, moment, body_id=document.issuer.body)
    except LedgerError as error:
        raise InvalidLicense(error.reason, error.detail, field="kid") from None
    verify_signature(document, key.public_key)
