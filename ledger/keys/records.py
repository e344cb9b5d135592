"""Key records (``tongban/key/v1``, docs/keys.md): their types, fields, parsing and signing.

The records of a region's registry stream are chained by ``prev`` and numbered by ``seq`` like
case events; :func:`parse_key_record` checks a record's shape (not yet its signature or its
signer's entitlement: :class:`ledger.keys.KeyRegistry` does), :func:`build_key_record` signs
one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger import canonical
from ledger.envelope import (
    KEY_PROOF_CONTEXT,
    KEY_RECORD_CONTEXT,
    SignedObject,
    SignedView,
    open_signed,
    require,
    seal,
)
from ledger.errors import MalformedEncoding
from ledger.keys.organizations import HALL_FIELDS
from ledger.suites import Signer, get_suite, signing_input, suite_of_public_key


@dataclass(frozen=True)
class KeyRecord(SignedView):
    """A decoded key record (its signature not yet checked)."""

    signed: SignedObject
    region: str
    seq: int
    prev: bytes
    type: str
    time: int
    body: dict[str, Any]

    @property
    def signer_kid(self) -> str:
        return self.key_id


RECORD_TYPES = frozenset(
    {
        "root_established",
        "root_rotated",
        "body_registered",
        "body_key_rotated",
        "officer_certified",
        "node_key_certified",
        "key_revoked",
        "finding_resolved",
        "catalog_amended",
        "license_key_certified",
        "calendar_published",
        "hall_published",
    }
)


#: The body fields of ``license_key_certified``; ``valid_until`` is optional.
LICENSE_KEY_FIELDS = frozenset({"body_id", "public_key", "key_suite", "valid_from", "valid_until"})

#: A key record's content holds exactly these fields (docs/keys.md §2).
RECORD_FIELDS = frozenset({"v", "suite", "ctx", "kid", "region", "seq", "prev", "type", "time"})
RECORD_FIELDS |= {"body"}
_KEY_FIELDS = frozenset({"public_key", "key_suite", "valid_from"})
#: The body fields each record type may hold, the optional ones included (docs/keys.md §3):
#: any other is ``malformed``, so no record has a second, longer spelling that one verifier
#: reads and another refuses.
BODY_FIELDS: dict[str, frozenset[str]] = {
    "root_established": _KEY_FIELDS,
    "root_rotated": _KEY_FIELDS | {"proof"},
    "body_registered": _KEY_FIELDS | {"body_id", "name", "org"},
    "body_key_rotated": _KEY_FIELDS | {"body_id"},
    "officer_certified": _KEY_FIELDS | {"body_id", "officer_id", "device", "head"},
    "node_key_certified": _KEY_FIELDS | {"node_id"},
    "key_revoked": frozenset({"kid", "compromised_since", "reason"}),
    "finding_resolved": frozenset({"case", "seq", "reason", "resolution", "note"}),
    "catalog_amended": frozenset({"base_version", "changes"}),
    "license_key_certified": LICENSE_KEY_FIELDS,
    "calendar_published": frozenset({"year", "holidays", "workdays", "divisions", "source"}),
    "hall_published": frozenset({"body_id", *HALL_FIELDS}),
}


def parse_key_record(raw: bytes) -> KeyRecord:
    """Decode a key record and check its shape."""
    signed = open_signed(raw, context=KEY_RECORD_CONTEXT)
    content = signed.content
    record_type = require(content, "type", str)
    if record_type not in RECORD_TYPES:
        raise MalformedEncoding(f"unknown key record type {record_type!r}", field="type")
    unknown = sorted(set(content) - RECORD_FIELDS)
    if unknown:
        raise MalformedEncoding(f"unknown fields {unknown}", field=unknown[0])
    seq = require(content, "seq", int)
    if seq < 1:
        raise MalformedEncoding("seq starts at 1", field="seq")
    body = require(content, "body", dict)
    unknown = sorted(set(body) - BODY_FIELDS[record_type])
    if unknown:
        raise MalformedEncoding(
            f"unknown {record_type} body fields {unknown}", field=f"body.{unknown[0]}"
        )
    prev = require(content, "prev", bytes)
    if len(prev) != signed.suite.digest_size:
        raise MalformedEncoding(
            f"prev must be one digest ({signed.suite.digest_size} bytes)", field="prev"
        )
    time = require(content, "time", int)
    if time < 0:
        raise MalformedEncoding("time must be >= 0", field="time")
    return KeyRecord(
        signed=signed,
        region=require(content, "region", str),
        seq=seq,
        prev=prev,
        type=record_type,
        time=time,
        body=body,
    )


def build_key_record(
    signer: Signer,
    *,
    region: str,
    seq: int,
    prev: bytes,
    record_type: str,
    time: int,
    body: Mapping[str, Any],
) -> bytes:
    """Sign a key record: its exact bytes."""
    raw = seal(
        {
            "ctx": KEY_RECORD_CONTEXT,
            "region": region,
            "seq": seq,
            "prev": prev,
            "type": record_type,
            "time": time,
            "body": dict(body),
        },
        signer,
    )
    parse_key_record(raw)
    return raw


def rotation_proof_input(region: str, old_kid: str, public_key: bytes, valid_from: int) -> bytes:
    """What the new root signs to prove it consents to a root rotation (hashed with the new
    root's suite: SHA-256 for an Ed25519 root, SM3 for an SM2 one)."""
    statement = canonical.encode(
        {"region": region, "old": old_kid, "public_key": public_key, "valid_from": valid_from}
    )
    return signing_input(KEY_PROOF_CONTEXT, get_suite(suite_of_public_key(public_key)), statement)


def sign_rotation_proof(new_root: Signer, *, region: str, old_kid: str, valid_from: int) -> bytes:
    return new_root.sign(rotation_proof_input(region, old_kid, new_root.public_key, valid_from))
