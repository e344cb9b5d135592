"""The compact offline form of an electronic license (normative text: ``docs/license-offline.md``).

What a QR code on the holder's phone carries, so that another province can check a license
with no network, from cached keys and a cached status list::

    TB1: || Base45( zlib( canonical msgpack [payload: bin, signature: bin] ) )

``payload`` is canonical msgpack of a map holding only what an offline verifier needs: the
identifier and its type and issuer, the signing license key's ``kid``, the validity dates, the
status list entry, the holder's **masked** name and id number, and the digest of the full
license document (which stays with the holder and is never put in the QR code). The signature
covers ``tongban/license-compact/v1 || 0x00 || digest(payload)`` and is made with the same
license key as the full document.

Errors (subclasses of ``licenses.errors.LicenseError``)::

    LicenseError
    └── CompactRejected    a compact license is refused; ``reason`` in COMPACT_REASONS

A status list that cannot answer for the license raises ``status.StatusListRejected``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import base45

from ledger import canonical
from ledger.errors import LedgerError
from ledger.personal import mask_id_number, mask_name
from ledger.suites import Signer, Suite, get_suite, key_id, signing_input
from licenses.errors import InvalidIdentifier, LicenseError
from licenses.identifiers import LicenseIdentifier, parse_identifier
from licenses.status import (
    MAX_ENTRIES,
    LicenseStatus,
    SignedStatusList,
    StatusListRejected,
)

__all__ = [
    "COMPACT_CONTEXT",
    "COMPACT_PREFIX",
    "COMPACT_REASONS",
    "COMPACT_VERSION",
    "MAX_COMPACT_TEXT",
    "MAX_INFLATED",
    "CompactLicense",
    "CompactRejected",
    "decode_compact",
    "document_digest",
    "encode_compact",
]

COMPACT_PREFIX: Final = "TB1:"
COMPACT_CONTEXT: Final = "tongban/license-compact/v1"
COMPACT_VERSION: Final = 1
#: Largest inflated ``[payload, signature]`` accepted; a realistic one is about 400 bytes.
MAX_INFLATED: Final = 4096
# Base45 of MAX_INFLATED bytes even if zlib gained nothing: longer text is refused unread.
MAX_COMPACT_TEXT: Final = len(COMPACT_PREFIX) + (MAX_INFLATED + 64) * 3 // 2
_MAX_TEXT: Final = MAX_COMPACT_TEXT
_BASE45: Final = re.compile(r"[0-9A-Z $%*+\-./:]*")
_KID: Final = re.compile(r"[0-9a-f]{32}")
_LIST_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_FIELDS: Final = frozenset(
    {"v", "suite", "kid", "id", "type", "issuer", "from", "until", "status", "holder", "digest"}
)
#: ``until`` of a license without an end date (长期).
NO_END: Final = 0

#: Every ``CompactRejected.reason``.
COMPACT_REASONS: Final[frozenset[str]] = frozenset(
    {
        "malformed",  # prefix, Base45, zlib, msgpack or field shape wrong (detail says which)
        "unsupported_version",  # ``v`` is not 1
        "unsupported_suite",  # the suite is not implemented here
        "wrong_key",  # the key given to verify is not the key named by ``kid``
        "bad_signature",  # the signature does not verify
        "digest_mismatch",  # a full document was presented that is not the one signed
        "not_yet_valid",  # the day checked is before ``from``
        "expired",  # the day checked is after ``until``
    }
)


class CompactRejected(LicenseError):
    """A compact license is refused; ``reason`` is one of ``COMPACT_REASONS``."""

    def __init__(self, reason: str, detail: str, *, field: str | None = None) -> None:
        if reason not in COMPACT_REASONS:
            raise ValueError(f"unknown CompactRejected reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.field = field


def _malformed(detail: str, field: str | None = None) -> CompactRejected:
    return CompactRejected("malformed", detail, field=field)


def document_digest(document: bytes, suite: str = "ed25519-sha256") -> bytes:
    """The digest the compact form carries of the full license document's exact bytes."""
    return get_suite(suite).digest(document)


def _date_number(day: date) -> int:
    return day.year * 10_000 + day.month * 100 + day.day


def _number_date(value: int, field: str) -> date:
    try:
        return date(value // 10_000, value // 100 % 100, value % 100)
    except (ValueError, OverflowError):  # a year past C's int overflows before it is checked
        raise _malformed(f"{field} {value} is not a YYYYMMDD date", field) from None


@dataclass(frozen=True)
class CompactLicense:
    """A decoded, well-formed compact license; call :meth:`verify` before trusting it."""

    text: str
    payload: bytes
    signature: bytes
    suite: Suite
    key_id: str
    identifier: LicenseIdentifier
    valid_from: date
    valid_until: date | None  # None: 长期, no end date
    status_list_id: str
    status_index: int
    holder_name: str  # masked: 张**
    holder_id: str  # masked: 5101**********002X
    digest: bytes

    @property
    def type_code(self) -> str:
        return self.identifier.type_code

    @property
    def issuer_code(self) -> str:
        """USCC of the issuing body: whose license keys may have signed this."""
        return self.identifier.issuer_code

    def verify(self, public_key: bytes) -> None:
        """Raise ``CompactRejected`` unless the license key ``public_key`` signed this payload.

        The caller has already checked, from its cached key registry, that this key belongs to
        the issuing body (``issuer_code``) and may sign licenses of this type.
        """
        if key_id(self.suite.name, public_key) != self.key_id:
            raise CompactRejected(
                "wrong_key", f"kid {self.key_id} does not name the key given", field="kid"
            )
        message = signing_input(COMPACT_CONTEXT, self.suite, self.payload)
        try:
            self.suite.verify(public_key, message, self.signature)
        except LedgerError as error:
            raise CompactRejected("bad_signature", error.detail, field="signature") from error

    def check_period(self, day: date) -> None:
        """Raise ``not_yet_valid`` or ``expired`` unless ``day`` lies in the validity period."""
        if day < self.valid_from:
            raise CompactRejected(
                "not_yet_valid", f"valid from {self.valid_from.isoformat()}", field="from"
            )
        if self.valid_until is not None and day > self.valid_until:
            raise CompactRejected(
                "expired", f"valid until {self.valid_until.isoformat()}", field="until"
            )

    def check_document(self, document: bytes) -> None:
        """Raise ``digest_mismatch`` unless ``document`` is the full license that was signed."""
        if self.suite.digest(document) != self.digest:
            raise CompactRejected(
                "digest_mismatch",
                "the document is not the one this QR code names",
                field="digest",
            )

    def status(self, status_list: SignedStatusList, *, now: int) -> LicenseStatus:
        """The license's status in ``status_list``, a verified list fresh at ``now`` (µs UTC).

        Raises ``StatusListRejected`` (``status_unavailable``) when the list is not the one the
        license names or has expired: an offline verifier then cannot say the license is valid.
        """
        if status_list.list_id != self.status_list_id:
            raise StatusListRejected(
                "status_unavailable",
                f"license is on status list {self.status_list_id}, not {status_list.list_id}",
                field="id",
            )
        status_list.check_fresh(now)
        return status_list.status_at(self.status_index)


def _payload(
    signer: Signer,
    identifier: LicenseIdentifier,
    valid_from: date,
    valid_until: date | None,
    status_list_id: str,
    status_index: int,
    holder_name: str,
    holder_id: str,
    digest: bytes,
) -> dict[str, Any]:
    return {
        "v": COMPACT_VERSION,
        "suite": signer.suite,
        "kid": signer.key_id,
        "id": identifier.text,
        "type": identifier.type_code,
        "issuer": identifier.issuer_code,
        "from": _date_number(valid_from),
        "until": NO_END if valid_until is None else _date_number(valid_until),
        "status": [status_list_id, status_index],
        "holder": {"name": mask_name(holder_name), "id": mask_id_number(holder_id)},
        "digest": digest,
    }


def encode_compact(
    signer: Signer,
    *,
    identifier: LicenseIdentifier | str,
    valid_from: date,
    valid_until: date | None,
    status_list_id: str,
    status_index: int,
    holder_name: str,
    holder_id: str,
    document_digest: bytes,
) -> str:
    """Sign and encode the compact form of a license: the ``TB1:`` text for its QR code.

    ``signer`` is the license key that signed the full document, whose digest is
    ``document_digest``. ``holder_name`` and ``holder_id`` are masked here (``张**``,
    ``5101**********002X``), so the full values never reach the QR code.
    """
    if isinstance(identifier, str):
        identifier = parse_identifier(identifier)
    payload = canonical.encode(
        _payload(
            signer,
            identifier,
            valid_from,
            valid_until,
            status_list_id,
            status_index,
            holder_name,
            holder_id,
            document_digest,
        )
    )
    suite = get_suite(signer.suite)
    signature = signer.sign(signing_input(COMPACT_CONTEXT, suite, payload))
    outer = canonical.encode([payload, signature])
    encoded: bytes = base45.b45encode(zlib.compress(outer, 9))
    text = COMPACT_PREFIX + encoded.decode("ascii")
    decode_compact(text)  # never hand out a QR code a verifier would refuse
    return text


_B45_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_DIGITS: Final = bytes.maketrans(_B45_ALPHABET.encode("ascii"), bytes(range(45)))


def _b45library(body: str) -> bytes:
    decoded: bytes = base45.b45decode(body)  # raises its ValueError for what it refuses
    return decoded


def _b45decode(body: str) -> bytes:
    """``base45.b45decode(body)`` for text of the Base45 alphabet, without a Python loop.

    Each group of three characters ``c0 c1 c2`` is ``c0 + 45·c1 + 2025·c2`` (RFC 9285): the
    digits of every group go into 24-bit lanes of one integer (no group exceeds 2**24, so lanes
    never carry), weighted and summed at once. Anything the library would refuse (a dangling
    character, a group over 0xFFFF) is handed to the library for its own error.
    """
    digits = body.encode("ascii").translate(_B45_DIGITS)
    groups, rest = divmod(len(digits), 3)
    if rest == 1:
        return _b45library(body)
    lanes = bytearray(3 * groups)
    value = 0
    for offset, weight in ((0, 1), (1, 45), (2, 2025)):
        lanes[2::3] = digits[offset : 3 * groups : 3]
        value += weight * int.from_bytes(lanes, "big")
    packed = value.to_bytes(3 * groups, "big")
    if packed[0::3] != bytes(groups):
        return _b45library(body)
    decoded = bytearray(2 * groups)
    decoded[0::2] = packed[1::3]
    decoded[1::2] = packed[2::3]
    if rest == 2:
        last = digits[-2] + 45 * digits[-1]
        if last > 0xFF:
            return _b45library(body)
        decoded.append(last)
    return bytes(decoded)


def _inflate(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith(COMPACT_PREFIX):
        raise _malformed(f"a compact license starts with {COMPACT_PREFIX!r}")
    if len(text) > _MAX_TEXT:
        raise _malformed(f"longer than {_MAX_TEXT} characters")
    body = text[len(COMPACT_PREFIX) :]
    # The library tolerates a trailing newline; the alphabet check keeps one text one license.
    if not _BASE45.fullmatch(body):
        raise _malformed("characters outside the Base45 alphabet (RFC 9285)")
    try:
        compressed = _b45decode(body)
    except ValueError as error:
        raise _malformed(f"bad Base45 (RFC 9285): {error}") from None
    inflater = zlib.decompressobj()
    try:
        outer: bytes = inflater.decompress(compressed, MAX_INFLATED + 1)
    except zlib.error as error:
        raise _malformed(f"not a zlib stream: {error}") from None
    if len(outer) > MAX_INFLATED or inflater.unconsumed_tail:
        raise _malformed(f"inflates past {MAX_INFLATED} bytes")
    if not inflater.eof:
        raise _malformed("zlib stream is truncated")
    if inflater.unused_data:
        raise _malformed("bytes after the zlib stream")
    return outer


def _require(content: Mapping[str, Any], name: str, kind: type) -> Any:
    value = content.get(name)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _malformed(f"{name} must be {kind.__name__}", name)
    return value


def _decode_canonical(data: bytes, what: str) -> Any:
    try:
        return canonical.decode(data)
    except LedgerError as error:
        raise _malformed(f"{what}: {error.detail}") from None


def decode_compact(text: str) -> CompactLicense:
    """Decode a ``TB1:`` text and check its shape (not its signature, dates or status).

    Every refusal is ``CompactRejected``: ``malformed`` with a detail naming what is wrong
    (prefix, Base45, zlib, size, msgpack, fields), or ``unsupported_version`` /
    ``unsupported_suite``.
    """
    outer = _decode_canonical(_inflate(text), "outer array")
    if not (
        isinstance(outer, list)
        and len(outer) == 2
        and isinstance(outer[0], bytes)
        and isinstance(outer[1], bytes)
    ):
        raise _malformed("the inflated bytes are [payload: bin, signature: bin]")
    payload_bytes, signature = outer
    payload = _decode_canonical(payload_bytes, "payload")
    if not isinstance(payload, dict):
        raise _malformed("payload must be a map")
    # ``true`` equals 1 in Python but is not the integer 1 (docs/license-offline.md §2.3).
    if not canonical.is_integer(payload.get("v")) or payload.get("v") != COMPACT_VERSION:
        raise CompactRejected(
            "unsupported_version", f"compact version {payload.get('v')!r}", field="v"
        )
    try:
        suite = get_suite(payload.get("suite"))
    except LedgerError as error:
        raise CompactRejected("unsupported_suite", error.detail, field="suite") from None
    unknown = set(payload) - _FIELDS
    if unknown:
        raise _malformed(f"unknown fields {sorted(unknown)}", sorted(unknown)[0])
    missing = _FIELDS - set(payload)
    if missing:
        raise _malformed(f"missing fields {sorted(missing)}", sorted(missing)[0])

    kid = _require(payload, "kid", str)
    if not _KID.fullmatch(kid):
        raise _malformed("kid must be 32 lowercase hex characters", "kid")
    try:
        identifier = parse_identifier(_require(payload, "id", str))
    except InvalidIdentifier as error:
        raise _malformed(f"id: {error}", "id") from None
    if _require(payload, "type", str) != identifier.type_code:
        raise _malformed("type is not the type code inside id", "type")
    if _require(payload, "issuer", str) != identifier.issuer_code:
        raise _malformed("issuer is not the issuer code inside id", "issuer")

    valid_from = _number_date(_require(payload, "from", int), "from")
    until = _require(payload, "until", int)
    valid_until = None if until == NO_END else _number_date(until, "until")
    if valid_until is not None and valid_until < valid_from:
        raise _malformed("until is before from", "until")

    status = _require(payload, "status", list)
    if not (
        len(status) == 2
        and isinstance(status[0], str)
        and _LIST_ID.fullmatch(status[0])
        and isinstance(status[1], int)
        and not isinstance(status[1], bool)
        and 0 <= status[1] < MAX_ENTRIES
    ):
        raise _malformed("status must be [list id, index]", "status")

    holder = _require(payload, "holder", dict)
    if set(holder) != {"name", "id"}:
        raise _malformed("holder is exactly {name, id}", "holder")
    name, id_number = _require(holder, "name", str), _require(holder, "id", str)
    # Masking is idempotent: a value that masking would change was not masked.
    if not name or mask_name(name) != name:
        raise _malformed("holder.name must be masked (张**)", "holder")
    if not id_number or mask_id_number(id_number) != id_number or "*" not in id_number:
        raise _malformed("holder.id must be masked (first 4 and last 4 kept)", "holder")

    digest = _require(payload, "digest", bytes)
    if len(digest) != suite.digest_size:
        raise _malformed(f"digest must be {suite.digest_size} bytes", "digest")
    return CompactLicense(
        text=text,
        payload=payload_bytes,
        signature=signature,
        suite=suite,
        key_id=kid,
        identifier=identifier,
        valid_from=valid_from,
        valid_until=valid_until,
        status_list_id=status[0],
        status_index=status[1],
        holder_name=name,
        holder_id=id_number,
        digest=digest,
    )
