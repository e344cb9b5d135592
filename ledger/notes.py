"""Signed notes, checkpoints and witness cosignatures (C2SP signed-note, tlog-checkpoint,
tlog-cosignature; normative text in ``docs/transparency.md``).

A checkpoint is the note text ``<origin>\\n<tree size>\\n<base64 root hash>\\n`` signed by the
log's key; a witness adds a timestamped cosignature line after verifying consistency::

    tongban/510000
    6318
    Cs...=

    — tongban/510000 <base64(key ID || Ed25519 signature over the text)>
    — witness/320000 <base64(key ID || u64 timestamp || Ed25519 signature)>

Key IDs are ``SHA-256(name || 0x0A || type || public key)[:4]``, type ``0x01`` for the log's
Ed25519 note signatures and ``0x04`` for Ed25519 cosignatures, whose signed message is
``cosignature/v1\\ntime <t>\\n`` followed by the checkpoint text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import LedgerError
from ledger.sm2 import PUBLIC_KEY_SIZE as SM2_PUBLIC_KEY_SIZE
from ledger.sm2 import Sm2Sm3
from ledger.suites import Signer

NOTE_ED25519 = b"\x01"
COSIGNATURE_ED25519 = b"\x04"
NOTE_SM2 = b"\xfftongban/signed-note/sm2-sm3/v1"
COSIGNATURE_SM2 = b"\xfftongban/cosignature/sm2-sm3/v1"
MAX_SIGNATURES = 100  # as golang.org/x/mod/sumdb/note
_DASH = "\u2014 "


class NoteError(LedgerError):
    """A note that does not parse or does not verify; ``reason`` says which."""

    reason = "bad_note"


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes  # 4 bytes
    signature: bytes  # what follows the key ID

    def line(self) -> str:
        payload = base64.b64encode(self.key_id + self.signature).decode()
        return f"{_DASH}{self.name} {payload}\n"


@dataclass(frozen=True)
class Note:
    text: str
    signatures: tuple[NoteSignature, ...] = ()

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signatures(self, extra: Iterable[NoteSignature]) -> Note:
        known = {(s.name, s.key_id, s.signature) for s in self.signatures}
        added = tuple(s for s in extra if (s.name, s.key_id, s.signature) not in known)
        return Note(self.text, self.signatures + added)


def key_id(name: str, signature_type: bytes, public_key: bytes) -> bytes:
    """C2SP's key ID; ``signature_type`` is the type byte (with its identifier after 0xff)."""
    return hashlib.sha256(name.encode() + b"\n" + signature_type + public_key).digest()[:4]


def _is_sm2(public_key: bytes) -> bool:
    return len(public_key) == SM2_PUBLIC_KEY_SIZE


def note_type(public_key: bytes) -> bytes:
    """The note signature type of a log key: SM2 for a 65-byte key, else Ed25519."""
    return NOTE_SM2 if _is_sm2(public_key) else NOTE_ED25519


def cosignature_type(public_key: bytes) -> bytes:
    """The cosignature type of a witness key: SM2 for a 65-byte key, else Ed25519."""
    return COSIGNATURE_SM2 if _is_sm2(public_key) else COSIGNATURE_ED25519


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"key name {name!r} is empty or holds a space or a plus", field="name")


def _canonical_b64(text: str) -> bytes:
    """Standard padded base64 with zero padding bits: one text for one value, so a stored or
    presented note cannot be re-encoded into another text that still verifies."""
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode() != text:
        raise ValueError("non-canonical base64 (padding bits set)")
    return raw


def parse_note(data: str | bytes) -> Note:
    """Split a signed note into its text and signature lines (signatures not verified)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise NoteError("a note is UTF-8 text") from error
    if any(ord(c) < 0x20 and c != "\n" for c in data):
        raise NoteError("a note holds no control characters but newline")
    split = data.rfind("\n\n")
    if split < 0 or not data.endswith("\n"):
        raise NoteError("a note is text, a blank line, then signature lines")
    text, block = data[: split + 1], data[split + 2 :]
    signatures = []
    for line in block.splitlines():
        if not line.startswith(_DASH):
            raise NoteError(f"not a signature line: {line[:40]!r}")
        name, _, encoded = line[len(_DASH) :].rpartition(" ")
        _check_name(name)
        try:
            raw = _canonical_b64(encoded)
        except (binascii.Error, ValueError) as error:
            raise NoteError("a signature is canonical base64") from error
        if len(raw) < 5:
            raise NoteError("a signature holds a key ID and a signature")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    if not signatures or len(signatures) > MAX_SIGNATURES:
        raise NoteError(f"a note carries 1 to {MAX_SIGNATURES} signatures")
    return Note(text, tuple(signatures))


def sign_note(text: str, name: str, signer: Signer) -> NoteSignature:
    """The log's note signature over ``text`` (Ed25519, or SM2 type 0xff)."""
    _check_name(name)
    return NoteSignature(
        name,
        key_id(name, note_type(signer.public_key), signer.public_key),
        signer.sign(text.encode()),
    )


def _verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    if _is_sm2(public_key):
        try:
            Sm2Sm3().verify(public_key, message, signature)
        except LedgerError:
            return False
        return True
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_note(note: Note, name: str, public_key: bytes) -> None:
    """Raise unless ``note`` carries a valid signature by ``name``/``public_key`` (Ed25519,
    or SM2 for a 65-byte key)."""
    wanted = key_id(name, note_type(public_key), public_key)
    mine = [s for s in note.signatures if s.name == name and s.key_id == wanted]
    if not mine:
        raise NoteError(f"the note is not signed by {name}", reason="unknown_signer")
    for signature in mine:
        if not _verify(public_key, signature.signature, note.text.encode()):
            raise NoteError(f"the signature of {name} does not verify", reason="bad_signature")


# -- checkpoints --------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = field(default=())

    @property
    def text(self) -> str:
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint is origin, size and root hash lines", reason="malformed")
    origin, size_text, root_text, *rest = lines[:-1]
    if (
        not origin
        or not size_text.isascii()
        or not size_text.isdigit()
        or (size_text != "0" and size_text[0] == "0")
        or int(size_text) >= 2**63
    ):
        raise NoteError("bad origin or size line", reason="malformed")
    try:
        root = _canonical_b64(root_text)
    except (binascii.Error, ValueError) as error:
        raise NoteError("the root hash line is canonical base64", reason="malformed") from error
    if len(root) != 32:
        raise NoteError("the root hash is 32 bytes", reason="malformed")
    return Checkpoint(origin, int(size_text), root, tuple(rest))


def signed_checkpoint(checkpoint: Checkpoint, name: str, signer: Signer) -> Note:
    return Note(checkpoint.text, (sign_note(checkpoint.text, name, signer),))


# -- witness cosignatures -----------------------------------------------------------------


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + checkpoint_text.encode()


def cosign(checkpoint_text: str, name: str, signer: Signer, timestamp: int) -> NoteSignature:
    """A witness's timestamped cosignature (seconds since the epoch) on a checkpoint."""
    _check_name(name)
    signature = signer.sign(cosignature_message(checkpoint_text, timestamp))
    return NoteSignature(
        name,
        key_id(name, cosignature_type(signer.public_key), signer.public_key),
        struct.pack(">Q", timestamp) + signature,
    )


@dataclass(frozen=True)
class Witness:
    name: str
    public_key: bytes


def majority(witness_count: int) -> int:
    """The default witness policy: more than half of the configured witnesses.

    Two forks of one size cannot both reach a majority unless some witness cosigned both, and
    a witness refuses the second root of a size it cosigned (keeping the pair as evidence).
    With ``k`` of ``n`` for a smaller ``k`` (say 1 of 2), each fork can be shown to a different
    witness and each relying party accepts the fork it was given: a split view no one sees.
    """
    return witness_count // 2 + 1


def verified_cosigners(
    note: Note, witnesses: Sequence[Witness], *, log_keys: Collection[bytes] = ()
) -> list[tuple[str, int]]:
    """``(witness name, timestamp)`` of every valid cosignature by a configured witness.

    A key counts once, however many names it is configured under, and never when it is one of
    ``log_keys`` (the key that signed the checkpoint): a log vouching for itself under a
    witness's name is no witness.
    """
    found = []
    seen_keys: set[bytes] = {bytes(k) for k in log_keys}
    for witness in witnesses:
        if witness.public_key in seen_keys:
            continue
        wanted = key_id(witness.name, cosignature_type(witness.public_key), witness.public_key)
        for signature in note.signatures:
            if signature.name != witness.name or signature.key_id != wanted:
                continue
            if len(signature.signature) != 8 + 64:
                continue
            (timestamp,) = struct.unpack(">Q", signature.signature[:8])
            if _verify(
                witness.public_key,
                signature.signature[8:],
                cosignature_message(note.text, timestamp),
            ):
                found.append((witness.name, timestamp))
                seen_keys.add(witness.public_key)
                break
    return found


def require_cosigners(
    note: Note, witnesses: Sequence[Witness], k: int, *, log_keys: Collection[bytes] = ()
) -> None:
    """Raise unless at least ``k`` of ``witnesses`` (other than ``log_keys``) cosigned."""
    found = verified_cosigners(note, witnesses, log_keys=log_keys)
    if len(found) < k:
        raise NoteError(
            f"{len(found)} of the configured witnesses cosigned; {k} required",
            reason="too_few_cosignatures",
        )
