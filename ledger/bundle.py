"""Offline case bundles: everything needed to verify one case with no database and no network.

A bundle (``docs/transparency.md``, "Offline bundles") is one JSON document holding, for one
case: its envelopes and receipts (exact bytes, base64), the registry records the signatures
rest on (every record of each region involved, in order, with their receipts), the inclusion
proof of each of those objects in one checkpoint, and that checkpoint's signed note with the
witnesses' cosignatures. :func:`verify_bundle` checks all of it from the region roots alone:

1. the registry, rebuilt from the trusted roots (``KeyRegistry``), each record judged at its
   receipt time, each receipt under a node key of the home region;
2. every event: case, seq and ``prev`` chain, receipt (node key at receipt time, matching
   ledger, index, hash, stream, seq), the officer's key valid at the receipt time and
   certified through body and root, the envelope signature;
3. every object's inclusion proof against the checkpoint root (leaf ``i - 1`` for ledger
   index ``i``, leaf hash ``SHA-256(0x00 || object hash)``);
4. the checkpoint's note signature by a node key of the region (and by the pinned log key,
   when the verifier pins one for the ledger), then ``k`` of the configured witnesses'
   cosignatures, none by the key that signed the checkpoint (``k`` defaults to a majority).

The region is the ledger's (``tongban/<region>``, :func:`ledger.keys.ledger_home_region`); the
bundle's ``region`` field must name it, and is never trusted on its own: another region's node
key is valid in its own registry, and would otherwise receipt and checkpoint anything.

Failures raise :class:`BundleInvalid` with a ``reason`` and the place (``where``).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.envelope import ZERO_HASH, Envelope, parse_event
from ledger.errors import LedgerError
from ledger.keys import (
    NODE,
    KeyInfo,
    KeyRegistry,
    ledger_home_region,
    parse_key_record,
    registry_stream_id,
)
from ledger.merkle import InvalidProof, leaf_hash, verify_inclusion
from ledger.notes import (
    Checkpoint,
    Note,
    NoteError,
    Witness,
    majority,
    parse_checkpoint,
    parse_note,
    require_cosigners,
    verified_cosigners,
    verify_note,
)
from ledger.persistence import LedgerEntry
from ledger.receipts import Receipt, parse_receipt

BUNDLE_FORMAT = "tongban/case-bundle/v1"


class BundleInvalid(LedgerError):
    """The bundle does not verify; ``reason`` says why and ``where`` names the object."""

    reason = "invalid_bundle"

    def __init__(self, detail: str, *, reason: str, where: str = "bundle"):
        super().__init__(f"{where}: {detail}", reason=reason)
        self.where = where


@dataclass(frozen=True)
class BundleReport:
    """What a valid bundle showed."""

    case_id: uuid.UUID
    ledger: str
    events: int
    checkpoint_size: int
    cosigners: tuple[str, ...]
    required_cosigners: int  # 0 only when the caller asked for no witness at all


class BundleSource(Protocol):
    """What :func:`build_bundle` needs of a ``LedgerApplication``."""

    ledger_name: str
    home_region: str
    registry: KeyRegistry

    def stream_entries(self, stream_id: uuid.UUID) -> list[LedgerEntry]: ...

    def latest_checkpoint(self) -> Note | None: ...

    def issue_checkpoint(self) -> Note: ...

    def inclusion_proof(self, index: int, size: int) -> list[bytes]: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _entry_json(entry: LedgerEntry, proof: Sequence[bytes]) -> dict[str, Any]:
    return {
        "index": entry.index,
        "object": _b64(entry.envelope),
        "receipt": _b64(entry.receipt),
        "proof": [_b64(h) for h in proof],
    }


def build_bundle(app: BundleSource, case_id: uuid.UUID) -> dict[str, Any]:
    """The bundle of one case, proven against the latest checkpoint (issued if it is older)."""
    events = app.stream_entries(case_id)
    if not events:
        raise BundleInvalid(f"no case {case_id}", reason="unknown_case", where="case")
    # The home region's registry (node keys) and every region whose officers signed a step.
    regions = {app.home_region}
    for entry in events:
        regions.add(app.registry.key(parse_event(entry.envelope).key_id).region)
    records = sorted(
        (e for region in regions for e in app.stream_entries(registry_stream_id(region))),
        key=lambda e: e.index,
    )
    newest = max(e.index for e in [*events, *records])
    note = app.latest_checkpoint()
    if note is None or parse_checkpoint(note.text).size < newest:
        note = app.issue_checkpoint()
    size = parse_checkpoint(note.text).size
    return {
        "format": BUNDLE_FORMAT,
        "ledger": app.ledger_name,
        "region": app.home_region,
        "case": str(case_id),
        "checkpoint": note.render(),
        "registry": [_entry_json(e, app.inclusion_proof(e.index, size)) for e in records],
        "events": [_entry_json(e, app.inclusion_proof(e.index, size)) for e in events],
    }


# -- verifying ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    index: int
    raw: bytes
    receipt: Receipt
    proof: list[bytes]


def _decode(value: object, where: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as error:
        raise BundleInvalid("not base64", reason="malformed", where=where) from error


def _items(bundle: Mapping[str, Any], key: str) -> list[_Item]:
    listed = bundle.get(key)
    if not isinstance(listed, list):
        raise BundleInvalid(f"{key} is a list", reason="malformed")
    found = []
    for n, item in enumerate(listed):
        where = f"{key}[{n}]"
        if not isinstance(item, dict) or not isinstance(item.get("proof"), list):
            raise BundleInvalid("an object with a proof list", reason="malformed", where=where)
        index = item.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or index < 1:
            raise BundleInvalid("index is a ledger index >= 1", reason="malformed", where=where)
        try:
            receipt = parse_receipt(_decode(item.get("receipt"), where))
        except LedgerError as error:
            raise BundleInvalid(
                f"receipt: {error.detail}", reason="bad_receipt", where=where
            ) from error
        found.append(
            _Item(
                index,
                _decode(item.get("object"), where),
                receipt,
                [_decode(h, where) for h in item["proof"]],
            )
        )
    return found


def _checkpoint(bundle: Mapping[str, Any], ledger: str) -> tuple[Note, Checkpoint]:
    try:
        note = parse_note(str(bundle.get("checkpoint", "")))
        checkpoint = parse_checkpoint(note.text)
    except NoteError as error:
        raise BundleInvalid(error.detail, reason="malformed", where="checkpoint") from error
    if checkpoint.origin != ledger:
        raise BundleInvalid(
            f"a checkpoint of {checkpoint.origin!r}, not {ledger!r}",
            reason="wrong_ledger",
            where="checkpoint",
        )
    return note, checkpoint


def _check_receipt(
    registry: KeyRegistry,
    item: _Item,
    *,
    ledger: str,
    object_hash: bytes,
    stream: uuid.UUID,
    seq: int,
    where: str,
) -> None:
    receipt = item.receipt
    try:
        node_key = registry.node_key_at(receipt.key_id, receipt.time)
        receipt.signed.verify(node_key.public_key)
    except LedgerError as error:
        raise BundleInvalid(
            f"receipt does not verify: {error.detail}", reason="bad_receipt", where=where
        ) from error
    wrong = [
        name
        for name, ok in (
            ("ledger", receipt.ledger == ledger),
            ("index", receipt.index == item.index),
            ("event", receipt.event_hash == object_hash),
            ("stream", receipt.stream_id == stream),
            ("seq", receipt.seq == seq),
        )
        if not ok
    ]
    if wrong:
        raise BundleInvalid(f"receipt disagrees on {wrong}", reason="bad_receipt", where=where)


def _check_included(item: _Item, object_hash: bytes, checkpoint: Checkpoint, where: str) -> None:
    if item.index > checkpoint.size:
        raise BundleInvalid(
            f"index {item.index} is beyond the checkpoint (size {checkpoint.size})",
            reason="not_in_checkpoint",
            where=where,
        )
    try:
        verify_inclusion(
            leaf_hash(object_hash), item.index - 1, checkpoint.size, item.proof, checkpoint.root
        )
    except InvalidProof as error:
        raise BundleInvalid(
            f"inclusion proof fails: {error}", reason="bad_inclusion_proof", where=where
        ) from error


def _rebuild_registry(
    items: list[_Item], trusted_roots: Mapping[str, bytes], region: str
) -> KeyRegistry:
    registry = KeyRegistry(trusted_roots, home_region=region)
    for n, item in enumerate(items):
        where = f"registry[{n}]"
        try:
            record = parse_key_record(item.raw)
            # Judged at its receipt time, as the node did; the receipt itself is checked below,
            # once every node key is known (the node key is certified by a later record).
            registry.apply(record, item.receipt.time, item.index)
        except LedgerError as error:
            raise BundleInvalid(
                f"key record refused: {error.detail}", reason=error.reason, where=where
            ) from error
    return registry


def _check_note_signature(
    note: Note, ledger: str, region: str, registry: KeyRegistry, pinned: bytes | None
) -> KeyInfo:
    node_keys = [
        k
        for k in registry.keys.values()
        if k.role == NODE and k.region == region and k.compromised_since is None
    ]
    for key in node_keys:
        try:
            verify_note(note, ledger, key.public_key)
        except NoteError:
            continue
        if pinned is not None and key.public_key != pinned:
            continue  # as a witness does: the log key configured for this origin, no other
        return key
    raise BundleInvalid(
        "the checkpoint is not signed by a valid node key of the region"
        + (" (the pinned log key)" if pinned is not None else ""),
        reason="bad_checkpoint_signature",
        where="checkpoint",
    )


def witness_policy(witnesses: Sequence[Witness], min_witnesses: int | None) -> int:
    """How many cosignatures a verifier demands: ``min_witnesses``, else a majority.

    With no witness configured and no explicit ``min_witnesses=0`` there is no policy to
    apply, and a checkpoint no one witnessed is not accepted by default.
    """
    if min_witnesses is None:
        if not witnesses:
            raise BundleInvalid(
                "no witnesses to check the checkpoint's cosignatures against; configure "
                "them, or ask explicitly for none (min_witnesses 0)",
                reason="no_witness_policy",
                where="checkpoint",
            )
        return majority(len(witnesses))
    if min_witnesses < 0 or min_witnesses > len(witnesses):
        raise BundleInvalid(
            f"{min_witnesses} cosignatures required of {len(witnesses)} witnesses",
            reason="bad_witness_policy",
            where="checkpoint",
        )
    return min_witnesses


def _check_event(registry: KeyRegistry, item: _Item, envelope: Envelope, where: str) -> None:
    moment = item.receipt.time
    try:
        key = registry.event_key_at(
            envelope.key_id, moment, body_id=envelope.body_id, officer_id=envelope.officer_id
        )
        if key.registered_index > item.index:
            raise BundleInvalid(
                f"key {key.kid} was registered after this event", reason="unknown_key", where=where
            )
        if envelope.signed.suite.name != key.suite:
            raise BundleInvalid("suite differs from the key's", reason="bad_signature", where=where)
        envelope.signed.verify(key.public_key)
    except BundleInvalid:
        raise
    except LedgerError as error:
        raise BundleInvalid(error.detail, reason=error.reason, where=where) from error


def verify_bundle(
    bundle: Mapping[str, Any],
    *,
    trusted_roots: Mapping[str, bytes],
    witnesses: Sequence[Witness] = (),
    min_witnesses: int | None = None,
    log_keys: Mapping[str, bytes] | None = None,
) -> BundleReport:
    """Verify a bundle from the region roots alone; raise ``BundleInvalid`` at the first fault.

    ``min_witnesses`` defaults to a majority of ``witnesses`` (:func:`witness_policy`);
    ``log_keys`` (origin → public key) pins the key that must have signed the checkpoint.
    """
    if bundle.get("format") != BUNDLE_FORMAT:
        raise BundleInvalid(f"format is not {BUNDLE_FORMAT}", reason="malformed")
    ledger, region = bundle.get("ledger"), bundle.get("region")
    if not isinstance(ledger, str) or not isinstance(region, str):
        raise BundleInvalid("ledger and region are text", reason="malformed")
    try:
        case_id = uuid.UUID(str(bundle.get("case")))
    except ValueError as error:
        raise BundleInvalid("case is a UUID", reason="malformed") from error
    try:
        own_region = ledger_home_region(ledger)
    except LedgerError as error:
        raise BundleInvalid(error.detail, reason=error.reason, where="ledger") from error
    if region != own_region:
        raise BundleInvalid(
            f"region {region!r} is not the region of {ledger} ({own_region}): only its own "
            "node keys receipt and checkpoint a ledger",
            reason="wrong_region",
            where="region",
        )
    required = witness_policy(witnesses, min_witnesses)
    if region not in trusted_roots:
        raise BundleInvalid(f"no trusted root for region {region}", reason="untrusted_region")
    note, checkpoint = _checkpoint(bundle, ledger)

    records = _items(bundle, "registry")
    registry = _rebuild_registry(records, trusted_roots, region)
    for n, item in enumerate(records):
        record = parse_key_record(item.raw)
        where = f"registry[{n}]"
        _check_receipt(
            registry,
            item,
            ledger=ledger,
            object_hash=record.hash,
            stream=registry_stream_id(record.region),
            seq=record.seq,
            where=where,
        )
        _check_included(item, record.hash, checkpoint, where)

    events = _items(bundle, "events")
    if not events:
        raise BundleInvalid("a bundle holds the case's events", reason="malformed")
    prev = ZERO_HASH
    for n, item in enumerate(events):
        where = f"events[{n}] (seq {n + 1})"
        try:
            envelope = parse_event(item.raw)
        except LedgerError as error:
            raise BundleInvalid(
                f"envelope: {error.detail}", reason=error.reason, where=where
            ) from error
        if envelope.ledger != ledger or envelope.case_id != case_id:
            raise BundleInvalid("another ledger's or case's event", reason="malformed", where=where)
        if envelope.seq != n + 1:
            raise BundleInvalid(f"seq {envelope.seq} out of order", reason="seq_gap", where=where)
        if envelope.prev != prev:
            raise BundleInvalid(
                "prev is not the previous event's hash", reason="broken_link", where=where
            )
        # The officer's signature first: a changed envelope is named as such, not as a
        # receipt mismatch (its receipt time is trusted only once the receipt verifies, next).
        _check_event(registry, item, envelope, where)
        _check_receipt(
            registry,
            item,
            ledger=ledger,
            object_hash=envelope.hash,
            stream=case_id,
            seq=envelope.seq,
            where=where,
        )
        _check_included(item, envelope.hash, checkpoint, where)
        prev = envelope.hash

    signer = _check_note_signature(note, ledger, region, registry, (log_keys or {}).get(ledger))
    # A cosignature by the key that signed the checkpoint, or by any node key of the ledger's
    # region, is the log vouching for itself.
    log_key = {signer.public_key} | {
        k.public_key for k in registry.keys.values() if k.role == NODE and k.region == region
    }
    try:
        require_cosigners(note, witnesses, required, log_keys=log_key)
    except NoteError as error:
        raise BundleInvalid(error.detail, reason=error.reason, where="checkpoint") from error
    return BundleReport(
        case_id,
        ledger,
        len(events),
        checkpoint.size,
        tuple(name for name, _ in verified_cosigners(note, witnesses, log_keys=log_key)),
        required,
    )
