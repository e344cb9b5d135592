"""Signed license status lists (normative text: ``docs/license-offline.md``).

A status list is a W3C Bitstring Status List with **2-bit entries**, one entry per license,
wrapped in a Tongban signed object (``docs/envelope.md`` §2) of context
``tongban/status-list/v1`` and signed by the ledger's node key. An entry's value is a
:class:`LicenseStatus`: ``0`` valid, ``1`` suspended, ``2`` revoked (``3`` is refused).

The bitstring (entry *i* = bits ``2i`` and ``2i+1``, counted from the most significant bit of
byte 0, read big-endian) is GZIP-compressed and written as W3C's ``encodedList``: multibase
``u`` then base64url without padding. A list holds at least 131,072 entries so that one
license's index says little about who holds it (W3C's herd privacy), and indexes are drawn at
random (:func:`allocate_index`).

Errors (subclasses of ``licenses.errors.LicenseError``)::

    LicenseError
    ├── StatusListRejected    a status list is refused; ``reason`` in STATUS_LIST_REASONS
    └── StatusIndexError      an index outside the list (also an IndexError)
"""

from __future__ import annotations

import base64
import re
import secrets
import zlib
from collections.abc import Callable, Set
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from ledger.envelope import SignedObject, open_signed, require, seal
from ledger.errors import LedgerError
from ledger.suites import Signer, key_id
from licenses.errors import LicenseError

__all__ = [
    "ENTRY_BITS",
    "MAX_ENTRIES",
    "MIN_ENTRIES",
    "PURPOSE",
    "STATUS_LIST_CONTEXT",
    "STATUS_LIST_REASONS",
    "LicenseStatus",
    "SignedStatusList",
    "StatusIndexError",
    "StatusList",
    "StatusListRejected",
    "allocate_index",
    "build_status_list",
    "decode_encoded_list",
    "encode_list",
    "parse_status_list",
]

STATUS_LIST_CONTEXT: Final = "tongban/status-list/v1"
#: The only purpose of v1: one 2-bit entry carries both suspension and revocation.
PURPOSE: Final = "status"
ENTRY_BITS: Final = 2
#: W3C's minimum list size (herd privacy): 131,072 entries, here 32 KiB uncompressed.
MIN_ENTRIES: Final = 131_072
#: Bound on the decompressed bitstring a verifier accepts (2 MiB): no GZIP bomb gets past it.
MAX_ENTRIES: Final = 8 * 1024 * 1024
_ENTRIES_PER_BYTE: Final = 8 // ENTRY_BITS
_MAX_BYTES: Final = MAX_ENTRIES // _ENTRIES_PER_BYTE
_MULTIBASE_BASE64URL: Final = "u"
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]*")
# List ids and issuer (ledger) names: short, printable, safe in URLs and file names.
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_FIELDS: Final = frozenset(
    {
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
)
# Bytes scanned per step when looking for entries of the reserved value 3.
_RESERVED_SCAN_CHUNK: Final = 1 << 16

#: Every ``StatusListRejected.reason``.
STATUS_LIST_REASONS: Final[frozenset[str]] = frozenset(
    {
        "malformed",  # not a status list of the documented shape (also: bad encodedList)
        "unsupported_version",  # ``v`` is not 1
        "unsupported_suite",  # the suite is not implemented here
        "wrong_context",  # a signed object of another kind
        "wrong_key",  # the key given to verify is not the key named by ``kid``
        "bad_signature",  # the signature does not verify
        "status_unavailable",  # stale (now >= valid_until) or not the list a license names
    }
)


class LicenseStatus(IntEnum):
    """The value of one 2-bit entry."""

    VALID = 0
    SUSPENDED = 1  # 暂停: may return to VALID in a later version
    REVOKED = 2  # 注销/吊销: final, never changes again


class StatusListRejected(LicenseError):
    """A status list is refused; ``reason`` is one of ``STATUS_LIST_REASONS``."""

    def __init__(self, reason: str, detail: str, *, field: str | None = None) -> None:
        if reason not in STATUS_LIST_REASONS:
            raise ValueError(f"unknown StatusListRejected reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.field = field


class StatusIndexError(LicenseError, IndexError):
    """An entry index outside ``0 .. size - 1``."""

    def __init__(self, index: int, size: int) -> None:
        super().__init__(f"status index {index} outside 0..{size - 1}")
        self.index = index
        self.size = size


def _get(bits: bytes | bytearray, index: int) -> LicenseStatus:
    size = len(bits) * _ENTRIES_PER_BYTE
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise StatusIndexError(index, size)
    byte, slot = divmod(index, _ENTRIES_PER_BYTE)
    shift = 8 - ENTRY_BITS * (slot + 1)  # entry 0 is the left-most (most significant) bits
    return LicenseStatus((bits[byte] >> shift) & 0b11)


class StatusList:
    """A mutable list of 2-bit license statuses, all ``VALID`` at first.

    ``REVOKED`` is final: setting any other value on a revoked entry raises ``ValueError``.
    """

    def __init__(self, size: int = MIN_ENTRIES) -> None:
        if not MIN_ENTRIES <= size <= MAX_ENTRIES or size % _ENTRIES_PER_BYTE:
            raise ValueError(
                f"size must be a multiple of {_ENTRIES_PER_BYTE} in {MIN_ENTRIES}..{MAX_ENTRIES}"
            )
        self._bits = bytearray(size // _ENTRIES_PER_BYTE)

    @classmethod
    def from_bitstring(cls, bits: bytes) -> StatusList:
        """A list holding a copy of the uncompressed ``bits`` (checked as a verifier would)."""
        _check_bitstring(bits)
        status_list = cls(len(bits) * _ENTRIES_PER_BYTE)
        status_list._bits[:] = bits
        return status_list

    @property
    def size(self) -> int:
        """How many entries the list holds."""
        return len(self._bits) * _ENTRIES_PER_BYTE

    def get(self, index: int) -> LicenseStatus:
        """The status at ``index``; raises ``StatusIndexError`` outside the list."""
        return _get(self._bits, index)

    def set(self, index: int, status: LicenseStatus) -> None:
        """Set the status at ``index``; raises ``StatusIndexError`` outside the list."""
        status = LicenseStatus(status)
        current = self.get(index)
        if current is LicenseStatus.REVOKED and status is not LicenseStatus.REVOKED:
            raise ValueError(f"entry {index} is revoked; revocation is final")
        byte, slot = divmod(index, _ENTRIES_PER_BYTE)
        shift = 8 - ENTRY_BITS * (slot + 1)
        self._bits[byte] = (self._bits[byte] & ~(0b11 << shift) & 0xFF) | (status << shift)

    def bitstring(self) -> bytes:
        """The uncompressed bitstring."""
        return bytes(self._bits)

    def encode(self) -> str:
        """W3C ``encodedList``: ``u`` + base64url (no padding) of the GZIP-compressed bits."""
        return encode_list(bytes(self._bits))


def encode_list(bits: bytes) -> str:
    """``u`` + base64url (no padding) of GZIP(``bits``), deterministic (mtime 0, level 9)."""
    # wbits=31: one GZIP member with mtime 0, so the same zlib gives the same bytes every run.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    compressed = compressor.compress(bits) + compressor.flush()
    return _MULTIBASE_BASE64URL + base64.urlsafe_b64encode(compressed).decode().rstrip("=")


def _check_bitstring(bits: bytes) -> None:
    entries = len(bits) * _ENTRIES_PER_BYTE
    if not MIN_ENTRIES <= entries <= MAX_ENTRIES:
        raise StatusListRejected(
            "malformed",
            f"list holds {entries} entries, must hold {MIN_ENTRIES}..{MAX_ENTRIES}",
            field="encoded_list",
        )
    # An entry is 3 when both its bits are set: test 64 KiB at a time with big-int arithmetic.
    for start in range(0, len(bits), _RESERVED_SCAN_CHUNK):
        chunk = int.from_bytes(bits[start : start + _RESERVED_SCAN_CHUNK], "big")
        low_bits = int.from_bytes(b"\x55" * min(_RESERVED_SCAN_CHUNK, len(bits) - start), "big")
        if chunk & (chunk >> 1) & low_bits:
            raise StatusListRejected(
                "malformed", "an entry has the reserved value 3", field="encoded_list"
            )


def decode_encoded_list(text: str) -> bytes:
    """The uncompressed bitstring of a W3C ``encodedList``, strictly checked.

    Refused as ``malformed``: a missing ``u`` prefix, padding or characters outside base64url,
    non-canonical base64url, a GZIP stream that is corrupt, truncated, followed by other bytes
    or larger than ``MAX_ENTRIES`` entries once inflated, and a list out of size bounds.
    """

    def refuse(detail: str) -> StatusListRejected:
        return StatusListRejected("malformed", detail, field="encoded_list")

    if not isinstance(text, str) or not text.startswith(_MULTIBASE_BASE64URL):
        raise refuse("encoded_list must be text starting with the multibase prefix 'u'")
    body = text[1:]
    if not _BASE64URL.fullmatch(body) or len(body) % 4 == 1:
        raise refuse("encoded_list is not base64url without padding")
    compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    if base64.urlsafe_b64encode(compressed).decode().rstrip("=") != body:
        raise refuse("encoded_list is not canonical base64url (stray trailing bits)")
    inflater = zlib.decompressobj(31)  # GZIP only: no raw deflate, no zlib header
    try:
        bits = inflater.decompress(compressed, _MAX_BYTES + 1)
    except zlib.error as error:
        raise refuse(f"not a GZIP stream: {error}") from error
    if len(bits) > _MAX_BYTES or inflater.unconsumed_tail:
        raise refuse(f"inflates past {_MAX_BYTES} bytes ({MAX_ENTRIES} entries)")
    if not inflater.eof:
        raise refuse("GZIP stream is truncated")
    if inflater.unused_data:
        raise refuse("bytes after the GZIP member")
    _check_bitstring(bits)
    return bits


def _check_name(value: str, field: str) -> str:
    if not _NAME.fullmatch(value):
        raise StatusListRejected(
            "malformed", f"{field} {value!r} is not a valid list or ledger name", field=field
        )
    return value


def _check_times(issued_at: int, valid_until: int) -> None:
    if issued_at < 0:
        raise StatusListRejected("malformed", "issued_at must be >= 0", field="issued_at")
    if valid_until <= issued_at:
        raise StatusListRejected(
            "malformed", "valid_until must be after issued_at", field="valid_until"
        )


@dataclass(frozen=True)
class SignedStatusList:
    """A decoded, well-formed status list; call :meth:`verify` before trusting it."""

    signed: SignedObject
    list_id: str
    issuer: str
    purpose: str
    version: int
    issued_at: int
    valid_until: int
    bits: bytes

    @property
    def raw(self) -> bytes:
        """The exact signed bytes, as received."""
        return self.signed.raw

    @property
    def key_id(self) -> str:
        return self.signed.key_id

    @property
    def size(self) -> int:
        """How many entries the list holds."""
        return len(self.bits) * _ENTRIES_PER_BYTE

    def verify(self, public_key: bytes) -> None:
        """Raise ``StatusListRejected`` unless the node key ``public_key`` signed this list."""
        if key_id(self.signed.suite.name, public_key) != self.key_id:
            raise StatusListRejected(
                "wrong_key", f"kid {self.key_id} does not name the key given", field="kid"
            )
        try:
            self.signed.verify(public_key)
        except LedgerError as error:
            raise StatusListRejected("bad_signature", error.detail, field="signature") from error

    def check_fresh(self, now: int) -> None:
        """Raise ``status_unavailable`` if the list has expired at ``now`` (µs UTC)."""
        if now >= self.valid_until:
            raise StatusListRejected(
                "status_unavailable",
                f"status list {self.list_id} version {self.version} expired at "
                f"{self.valid_until}; fetch a fresh one",
                field="valid_until",
            )

    def status_at(self, index: int) -> LicenseStatus:
        """The status of entry ``index``; raises ``StatusIndexError`` outside the list."""
        return _get(self.bits, index)

    def supersedes(self, cached: SignedStatusList) -> bool:
        """Whether this list should replace ``cached``: same list, strictly newer version.

        A verifier that keeps only the newest version it has seen cannot be rolled back to an
        older list that shows a revoked license as valid.
        """
        if (cached.list_id, cached.issuer) != (self.list_id, self.issuer):
            raise ValueError("not the same status list (id and issuer differ)")
        return self.version > cached.version


def _translate(error: LedgerError) -> StatusListRejected:
    reason = error.reason if error.reason in STATUS_LIST_REASONS else "malformed"
    return StatusListRejected(reason, error.detail, field=error.field)


def parse_status_list(raw: bytes) -> SignedStatusList:
    """Decode a signed status list and check its shape (not its signature or freshness)."""
    try:
        signed = open_signed(raw, context=STATUS_LIST_CONTEXT)
        content = signed.content
        unknown = set(content) - _FIELDS
        if unknown:
            first = sorted(unknown)[0]
            raise StatusListRejected("malformed", f"unknown fields {sorted(unknown)}", field=first)
        list_id = _check_name(require(content, "id", str), "id")
        issuer = _check_name(require(content, "issuer", str), "issuer")
        purpose = require(content, "purpose", str)
        version = require(content, "version", int)
        issued_at = require(content, "issued_at", int)
        valid_until = require(content, "valid_until", int)
        encoded = require(content, "encoded_list", str)
    except LedgerError as error:
        raise _translate(error) from error
    if purpose != PURPOSE:
        raise StatusListRejected(
            "malformed", f"purpose {purpose!r} is not {PURPOSE!r}", field="purpose"
        )
    if version < 1:
        raise StatusListRejected("malformed", "version starts at 1", field="version")
    _check_times(issued_at, valid_until)
    return SignedStatusList(
        signed=signed,
        list_id=list_id,
        issuer=issuer,
        purpose=purpose,
        version=version,
        issued_at=issued_at,
        valid_until=valid_until,
        bits=decode_encoded_list(encoded),
    )


def build_status_list(
    signer: Signer,
    status_list: StatusList,
    *,
    list_id: str,
    issuer: str,
    version: int,
    issued_at: int,
    valid_until: int,
) -> bytes:
    """Sign ``status_list`` as version ``version`` of list ``list_id``: its exact bytes.

    ``signer`` is the node (ledger) key of ``issuer``; times are µs UTC. A version number is
    never reused: each published list has a higher one than the last.
    """
    _check_name(list_id, "id")
    _check_name(issuer, "issuer")
    if isinstance(version, bool) or version < 1:
        raise StatusListRejected("malformed", "version starts at 1", field="version")
    _check_times(issued_at, valid_until)
    raw = seal(
        {
            "ctx": STATUS_LIST_CONTEXT,
            "id": list_id,
            "issuer": issuer,
            "purpose": PURPOSE,
            "version": version,
            "issued_at": issued_at,
            "valid_until": valid_until,
            "encoded_list": status_list.encode(),
        },
        signer,
    )
    parse_status_list(raw)  # never hand out bytes a verifier would refuse
    return raw


def allocate_index(
    allocated: Set[int],
    size: int = MIN_ENTRIES,
    *,
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> int:
    """A uniformly random index in ``0 .. size - 1`` that is not in ``allocated``.

    Random rather than sequential indexes (W3C's advice) keep a license's position from
    telling when it was issued or which licenses were issued together. ``randbelow(n)``
    returns an integer in ``0 .. n - 1``; pass ``random.Random(seed).randrange`` in tests.
    Raises ``ValueError`` when every index is taken.
    """
    free = size - sum(1 for index in allocated if 0 <= index < size)
    if free <= 0:
        raise ValueError(f"all {size} indexes of the status list are allocated")
    # Rejection sampling is uniform and fast while the list is sparse ...
    for _ in range(64):
        index = randbelow(size)
        if index not in allocated:
            return index
    # ... and when it is dense, pick the k-th free index: uniform too, just slower.
    target = randbelow(free)
    for index in range(size):
        if index not in allocated:
            if target == 0:
                return index
            target -= 1
    raise AssertionError("unreachable: free was counted above")  # pragma: no cover
