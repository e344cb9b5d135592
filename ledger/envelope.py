"""Signed objects and the case event envelope (normative text: ``docs/envelope.md``).

Every signed object of Tongban — case event, key record, receipt, license — has the same outer
form, canonical msgpack of a two-element array::

    [content: bin, signature: bin]

``content`` is itself canonical msgpack of a map that always holds ``v`` (format version),
``suite``, ``ctx`` (what kind of object this is) and ``kid`` (the signing key's id). The signature
covers ``ctx || 0x00 || digest(content)``. An object's hash — what ``prev`` links, what receipts
and the Merkle tree name — is ``digest(whole outer bytes)``, so the chain binds signatures too.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from ledger import canonical
from ledger.errors import EnvelopeRejected, MalformedEncoding
from ledger.suites import Signer, Suite, get_suite, signing_input

FORMAT_VERSION = 1
EVENT_CONTEXT = "tongban/event/v1"
RECEIPT_CONTEXT = "tongban/receipt/v1"
KEY_RECORD_CONTEXT = "tongban/key/v1"
LICENSE_CONTEXT = "tongban/license/v1"
KEY_PROOF_CONTEXT = "tongban/key-proof/v1"

ZERO_HASH = bytes(32)
# Identifiers of bodies and officers: short, printable, unambiguous in logs and URLs.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_TYPE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")


_REGION_CODE = re.compile(r"[1-9][0-9]{5}")


def ledger_region(ledger: str) -> str | None:
    """The region a ledger name belongs to (docs/envelope.md §5.1, "Ledger names"): the part
    after its last ``/`` when that is a GB/T 2260 code, ``tongban/510000`` → ``510000``; None
    for a name that names no region, which therefore vouches for no region's objects."""
    region = ledger.rpartition("/")[2]
    return region if _REGION_CODE.fullmatch(region) else None


class UnsupportedVersion(EnvelopeRejected):
    reason = "unsupported_version"


class WrongContext(EnvelopeRejected):
    reason = "wrong_context"


@dataclass(frozen=True)
class SignedObject:
    """A decoded ``[content, signature]`` whose content is canonical; not yet verified."""

    raw: bytes
    content_bytes: bytes
    content: dict[str, Any]
    signature: bytes
    suite: Suite

    @property
    def context(self) -> str:
        return str(self.content["ctx"])

    @property
    def key_id(self) -> str:
        return str(self.content["kid"])

    @cached_property
    def hash(self) -> bytes:
        """The object's hash: the suite digest of its exact outer bytes."""
        return self.suite.digest(self.raw)

    @cached_property
    def _verified_under(self) -> set[bytes]:
        return set()

    def verify(self, public_key: bytes, *, remembered: VerifiedSignatures | None = None) -> None:
        """Raise ``BadSignature`` unless the signature is valid under ``public_key``.

        A success is remembered on this object (its bytes never change), so checking it again
        under the same key costs nothing: an append verifies before taking its lock, and the
        check under the lock, which decides, finds it done. ``remembered``: successes kept
        across objects by their exact bytes, for a reader that parses the same objects anew
        on every request (a case page: ``ledger.reports``); an audit passes none and verifies
        every signature itself."""
        if public_key in self._verified_under:
            return
        message = signing_input(self.context, self.suite, self.content_bytes)
        if remembered is None:
            self.suite.verify(public_key, message, self.signature)
        else:
            named = b"\x00".join((self.suite.name.encode(), public_key, self.signature, message))
            if named not in remembered:
                self.suite.verify(public_key, message, self.signature)
                remembered.add(named)
        self._verified_under.add(bytes(public_key))


class VerifiedSignatures:
    """A bounded set of signatures that verified, each named by every byte that decides it
    (suite, public key, signature, signed message): one differing byte is a different entry,
    so an altered object is always verified again. The oldest go first when it is full."""

    def __init__(self, limit: int):
        self.limit = limit
        self._held: dict[bytes, None] = {}
        self._lock = threading.Lock()

    def __contains__(self, remembered: object) -> bool:
        return remembered in self._held

    def __len__(self) -> int:
        return len(self._held)

    def add(self, remembered: bytes) -> None:
        with self._lock:
            self._held[remembered] = None
            while len(self._held) > self.limit:
                del self._held[next(iter(self._held))]


class SignedView:
    """What every decoded kind of object shares: its signed object's bytes, hash and key id."""

    signed: SignedObject

    @property
    def raw(self) -> bytes:
        return self.signed.raw

    @property
    def hash(self) -> bytes:
        return self.signed.hash

    @property
    def key_id(self) -> str:
        return self.signed.key_id


def seal(content: Mapping[str, Any], signer: Signer) -> bytes:
    """Sign ``content`` (which must name ``ctx``) with ``signer``: the object's exact bytes.

    ``v``, ``suite`` and ``kid`` are filled from the signer.
    """
    full = {**content, "v": FORMAT_VERSION, "suite": signer.suite, "kid": signer.key_id}
    content_bytes = canonical.encode(full)
    suite = get_suite(signer.suite)
    signature = signer.sign(signing_input(str(full["ctx"]), suite, content_bytes))
    return canonical.encode([content_bytes, signature])


def open_signed(raw: bytes, *, context: str) -> SignedObject:
    """Decode a signed object of kind ``context``; refuse any other shape with its reason."""
    outer = canonical.decode(raw)
    if (
        not isinstance(outer, list)
        or len(outer) != 2
        or not isinstance(outer[0], bytes)
        or not isinstance(outer[1], bytes)
    ):
        raise MalformedEncoding("a signed object is [content: bin, signature: bin]")
    content_bytes, signature = outer
    content = canonical.decode(content_bytes)
    if not isinstance(content, dict):
        raise MalformedEncoding("content must be a map")
    version = content.get("v")
    # ``true`` equals 1 in Python but is not the integer 1 (docs/envelope.md §2.5, step 3).
    if not canonical.is_integer(version) or version != FORMAT_VERSION:
        raise UnsupportedVersion(f"format version {version!r} is not supported", field="v")
    suite = get_suite(content.get("suite"))
    if content.get("ctx") != context:
        raise WrongContext(
            f"context {content.get('ctx')!r} where {context!r} was expected", field="ctx"
        )
    if not isinstance(content.get("kid"), str):
        raise MalformedEncoding("kid must be text", field="kid")
    return SignedObject(raw, content_bytes, content, signature, suite)


def require(
    content: Mapping[str, Any], name: str, kind: type | tuple[type, ...], *, field: str = ""
) -> Any:
    """``content[name]`` if it is of ``kind``, else a malformed error naming the field
    (``field``, or ``name`` itself)."""
    value = content.get(name)
    if type(value) is kind:  # the common case, and never a bool passed off as an int
        return value
    # bool is an int in Python; a seq of True must not pass as 1.
    if kind is int and not canonical.is_integer(value):
        value = None
    if not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise MalformedEncoding(f"{field or name} must be {expected}", field=field or name)
    return value


def check_identifier(value: str, field: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise MalformedEncoding(f"{field} {value!r} is not a valid identifier", field=field)
    return value


@dataclass(frozen=True)
class Envelope(SignedView):
    """A case event: one step of one case, signed by the officer who took it."""

    signed: SignedObject
    ledger: str
    case_id: uuid.UUID
    seq: int
    type: str
    time: int
    body_id: str
    officer_id: str
    prev: bytes
    body: dict[str, Any]


EVENT_FIELDS = frozenset(
    {"v", "suite", "ctx", "kid", "ledger", "case", "seq", "type", "time", "actor", "prev", "body"}
)


def parse_case_id(value: str, field: str = "case") -> uuid.UUID:
    try:
        return _case_id(value)
    except ValueError as error:
        raise MalformedEncoding(f"{field} {value!r} is not a UUID", field=field) from error
    except _NotCanonicalId:
        detail = f"{field} must be a lowercase hyphenated UUID"
        raise MalformedEncoding(detail, field=field) from None


class _NotCanonicalId(Exception):
    pass


@lru_cache(maxsize=1024)  # a case's id recurs in each of its events and receipts
def _case_id(value: str) -> uuid.UUID:
    parsed = uuid.UUID(value)
    if str(parsed) != value:
        raise _NotCanonicalId
    return parsed


def parse_event(raw: bytes) -> Envelope:
    """Decode and check the shape of a case event envelope (not its signature)."""
    signed = open_signed(raw, context=EVENT_CONTEXT)
    content = signed.content
    unknown = set(content) - EVENT_FIELDS
    if unknown:
        raise MalformedEncoding(f"unknown fields {sorted(unknown)}", field=sorted(unknown)[0])
    actor = require(content, "actor", dict)
    if set(actor) != {"body", "officer"}:
        raise MalformedEncoding("actor is {body, officer}", field="actor")
    seq = require(content, "seq", int)
    if seq < 1:
        raise MalformedEncoding("seq starts at 1", field="seq")
    prev = require(content, "prev", bytes)
    if len(prev) != signed.suite.digest_size:
        raise MalformedEncoding("prev must be one digest long", field="prev")
    event_type = require(content, "type", str)
    if not _TYPE_PATTERN.fullmatch(event_type):
        raise MalformedEncoding(f"type {event_type!r} is not a step name", field="type")
    time = require(content, "time", int)
    if time < 0:
        raise MalformedEncoding("time must be microseconds since the epoch", field="time")
    return Envelope(
        signed=signed,
        ledger=require(content, "ledger", str),
        case_id=parse_case_id(require(content, "case", str)),
        seq=seq,
        type=event_type,
        time=time,
        body_id=check_identifier(require(actor, "body", str), "actor.body"),
        officer_id=check_identifier(require(actor, "officer", str), "actor.officer"),
        prev=prev,
        body=require(content, "body", dict),
    )


def build_event(
    signer: Signer,
    *,
    ledger: str,
    case_id: uuid.UUID,
    seq: int,
    event_type: str,
    time: int,
    body_id: str,
    officer_id: str,
    prev: bytes,
    body: Mapping[str, Any],
) -> bytes:
    """Build and sign a case event envelope: its exact bytes, ready to post."""
    raw = seal(
        {
            "ctx": EVENT_CONTEXT,
            "ledger": ledger,
            "case": str(case_id),
            "seq": seq,
            "type": event_type,
            "time": time,
            "actor": {"body": body_id, "officer": officer_id},
            "prev": prev,
            "body": dict(body),
        },
        signer,
    )
    parse_event(raw)  # the library never hands out bytes the ledger would call malformed
    return raw


def parse_event_content(content_bytes: bytes) -> Envelope:
    """The unsigned event whose content bytes are ``content_bytes`` (its signature empty),
    with every shape check of :func:`parse_event`; refused as that refuses."""
    return parse_event(canonical.encode([content_bytes, b""]))


def check_signer(unsigned: Envelope, signer: Signer) -> None:
    """Refuse (:class:`MalformedEncoding`) an event whose suite or key id is not ``signer``'s:
    its signature would not be the one the content names."""
    if unsigned.signed.suite.name != signer.suite:
        raise MalformedEncoding(
            f"the content is for suite {unsigned.signed.suite.name}, the key is {signer.suite}",
            field="suite",
        )
    if unsigned.key_id != signer.key_id:
        raise MalformedEncoding(
            f"the content names key {unsigned.key_id}, this key is {signer.key_id}", field="kid"
        )


def sign_event_content(content_bytes: bytes, signer: Signer) -> Envelope:
    """Sign the content bytes of an unsigned case event someone else drafted (the node's draft
    route, for an officer whose key cannot be in the browser): the signed event.

    Only what an event envelope may hold is signed: canonical content of a
    ``tongban/event/v1`` object in ``signer``'s suite, naming ``signer``'s key, of the event's
    exact shape (:func:`parse_event`). A digest, a signing input, another kind of object or
    bytes that are not canonical msgpack are refused (:class:`MalformedEncoding`,
    :class:`WrongContext`, ...) before the key is used."""
    unsigned = parse_event_content(content_bytes)
    check_signer(unsigned, signer)
    signature = signer.sign(signing_input(EVENT_CONTEXT, unsigned.signed.suite, content_bytes))
    signed = parse_event(canonical.encode([content_bytes, signature]))
    signed.signed.verify(signer.public_key)
    return signed
