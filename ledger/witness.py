"""The witness side of C2SP tlog-witness: cosign a log's checkpoint once it is shown consistent.

Another region's node witnesses this region's log (and the other way round): the log pushes
each new checkpoint with a consistency proof from the size the witness last cosigned; the
witness checks the log's note signature and the proof, remembers the new size
(compare-and-set, so two racing pushes cannot both win) and answers with its cosignature
(``ledger.notes.cosign``). The request body of ``POST <prefix>/add-checkpoint`` is::

    old <size>\\n
    <base64 consistency-proof hash>\\n     (0 to 63 lines)
    \\n
    <the signed checkpoint note>

Refusals (the HTTP status of each is the API's to say: ``api.errors.WITNESS_STATUSES``)::

    WitnessError                   base of every refusal
    ├── MalformedRequest           the body does not parse, or old size > checkpoint size
    ├── UnknownLog                 no trusted key for the checkpoint's origin
    ├── BadLogSignature            no valid signature by the log's key
    ├── UnpinnedLog                nothing cosigned yet and no checkpoint pinned
    ├── StaleOldSize               old size is not the size last cosigned; ``size`` is it
    ├── ForkedCheckpoint           same size as last cosigned, another root (evidence)
    ├── InconsistentProof          the consistency proof fails (no evidence: see below)
    └── EvidenceError              an evidence document does not stand (``check_evidence``)

No trust on first use: a witness starts from the checkpoint its operator pinned when adding
the log (``pinned``; an explicit empty pin for a log known to be new), so the first push must
prove consistency with it like any other.

Evidence is kept only when it is conclusive: two checkpoints signed by the log's key that
cannot both be true (two roots for one size). A checkpoint of the size this witness cosigned
with another root is kept whoever offers it and whatever old size comes with it, so a
relying party or a log that shows one witness a checkpoint another witness cosigned (the
cosigned note carries their lines) exposes a split view. A consistency proof that fails
is refused and keeps nothing: anyone can post a log's public checkpoint with junk hashes.
Evidence documents are self-contained JSON (``docs/transparency.md``): both signed notes in
full, the witness and when. Anyone holding the log's public key can re-check one offline
with :func:`check_evidence`; no witness needs to be trusted for that.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time as _time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from ledger.errors import LedgerError
from ledger.merkle import HASH_SIZE, InvalidProof, verify_consistency
from ledger.notes import (
    Checkpoint,
    Note,
    NoteError,
    NoteSignature,
    cosign,
    parse_checkpoint,
    parse_note,
    verify_note,
)
from ledger.suites import Signer

MAX_PROOF_LINES = 63
EVIDENCE_FORMAT = "tongban/witness-evidence/v1"
# Kept by earlier versions for a failed proof; refused by check_evidence (not conclusive).
INCONSISTENT_PROOF = "inconsistent_proof"
FORK_SAME_SIZE = "fork_same_size"
EVIDENCE_KINDS = (FORK_SAME_SIZE,)


# -- errors -------------------------------------------------------------------------------


class WitnessError(LedgerError):
    """A refused add-checkpoint request (or evidence that does not stand); ``reason`` says why."""

    reason = "witness_error"

    def __init__(self, detail: str, *, reason: str | None = None, evidence: str | None = None):
        super().__init__(detail, reason=reason)
        self.evidence = evidence  # id of the evidence document kept, if any


class MalformedRequest(WitnessError):
    reason = "malformed"


class UnknownLog(WitnessError):
    reason = "unknown_log"


class BadLogSignature(WitnessError):
    reason = "bad_log_signature"


class UnpinnedLog(WitnessError):
    """The witness holds nothing of this log yet, and its operator pinned no checkpoint."""

    reason = "log_not_pinned"


class StaleOldSize(WitnessError):
    """The pusher's old size is not what this witness last cosigned; ``size`` is."""

    reason = "stale_old_size"

    def __init__(self, detail: str, *, size: int, evidence: str | None = None):
        super().__init__(detail, evidence=evidence)
        self.size = size


class ForkedCheckpoint(WitnessError):
    reason = "fork_same_size"


class InconsistentProof(WitnessError):
    reason = "inconsistent_proof"


class EvidenceError(WitnessError):
    """An evidence document that does not show what it claims (or is not well formed)."""

    reason = "evidence_does_not_stand"


# -- the request --------------------------------------------------------------------------


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed add-checkpoint request."""

    old_size: int
    proof: tuple[bytes, ...]
    note: Note
    checkpoint: Checkpoint


def _decimal(text: str) -> int | None:
    # C2SP sizes are plain decimal: no sign, no leading zeros, no spaces.
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        return None
    value = int(text)
    return value if value < 2**63 else None


def parse_add_checkpoint(body: bytes | str) -> AddCheckpoint:
    """Parse an add-checkpoint body (signatures not checked); raise ``MalformedRequest``."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedRequest("the body is UTF-8 text") from error
    head, separator, note_text = body.partition("\n\n")
    if not separator:
        raise MalformedRequest("the body is an old line, proof lines, a blank line, a note")
    lines = head.split("\n")
    old_size = _decimal(lines[0].removeprefix("old ")) if lines[0].startswith("old ") else None
    if old_size is None:
        raise MalformedRequest("the first line is 'old <size>'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise MalformedRequest(f"at most {MAX_PROOF_LINES} proof lines")
    proof = []
    for line in lines[1:]:
        try:
            value = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError) as error:
            raise MalformedRequest("a proof line is one base64 hash") from error
        if len(value) != HASH_SIZE:
            raise MalformedRequest(f"a proof hash is {HASH_SIZE} bytes")
        proof.append(value)
    try:
        note = parse_note(note_text)
        checkpoint = parse_checkpoint(note.text)
    except NoteError as error:
        raise MalformedRequest(f"the checkpoint note: {error.detail}") from error
    return AddCheckpoint(old_size, tuple(proof), note, checkpoint)


def add_checkpoint_body(old_size: int, proof: Sequence[bytes], note: Note) -> bytes:
    """The body the log sends: the inverse of :func:`parse_add_checkpoint`."""
    lines = [f"old {old_size}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + note.render()).encode()


def parse_cosignatures(text: str) -> list[NoteSignature]:
    """The signature lines of a 200 answer (the note's signature block form)."""
    try:
        return list(parse_note("x\n\n" + text).signatures)
    except NoteError as error:
        raise MalformedRequest(f"the answer is not signature lines: {error.detail}") from error


# -- state --------------------------------------------------------------------------------


class Cosigned(NamedTuple):
    """What a witness remembers of one log: the size, root and note it last cosigned."""

    size: int
    root: bytes
    note: str


class WitnessStore(Protocol):
    """The witness's durable state; ``compare_and_set`` must be atomic across processes."""

    def latest(self, origin: str) -> Cosigned | None:
        """The checkpoint last cosigned for ``origin``, or None if none was."""
        ...

    def compare_and_set(
        self, origin: str, old_size: int, new_size: int, root: bytes, note: str
    ) -> bool:
        """Store the new checkpoint if the stored size is still ``old_size`` (0: none stored)."""
        ...

    def keep_evidence(self, origin: str, kind: str, document: Mapping[str, Any]) -> str:
        """Keep an evidence document (idempotent); return its id."""
        ...


def evidence_id(document: Mapping[str, Any]) -> str:
    """A stable id, so the same misbehaviour seen twice is kept once.

    It hashes what shows the misbehaviour (kind, origin, the two checkpoints' texts), not when
    it was seen, the old size or proof a pusher happened to send, nor the signature lines: the
    same fork re-posted with other cosignature lines (anyone can add some) is one row.
    """
    core = {k: document.get(k) for k in ("kind", "origin")} | {
        k: _note_text(document.get(k)) for k in ("cosigned_note", "offered_note")
    }
    digest = hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()
    return "ev_" + digest[:24]


def _note_text(value: object) -> object:
    try:
        return parse_note(str(value)).text if isinstance(value, str) else value
    except NoteError:
        return value


class MemoryWitnessStore:
    """A ``WitnessStore`` in a dict (tests; one process)."""

    def __init__(self) -> None:
        self.state: dict[str, Cosigned] = {}
        self.evidence: dict[str, dict[str, Any]] = {}

    def latest(self, origin: str) -> Cosigned | None:
        return self.state.get(origin)

    def compare_and_set(
        self, origin: str, old_size: int, new_size: int, root: bytes, note: str
    ) -> bool:
        current = self.state.get(origin)
        if (current.size if current else 0) != old_size:
            return False
        self.state[origin] = Cosigned(new_size, root, note)
        return True

    def keep_evidence(self, origin: str, kind: str, document: Mapping[str, Any]) -> str:
        found = evidence_id(document)
        self.evidence.setdefault(found, dict(document))
        return found


# -- the witness --------------------------------------------------------------------------


def now_seconds() -> int:
    return int(_time.time())


class CheckpointWitness:
    """Decides add-checkpoint requests for the logs it trusts (``origin → public key``).

    ``pinned`` (origin → signed checkpoint note) is where each log starts when this witness
    holds nothing of it yet: the checkpoint its operator obtained out of band when adding the
    log, or ``""`` for a log declared new (size 0). A log with neither is refused.
    """

    def __init__(
        self,
        name: str,
        signer: Signer,
        logs: Mapping[str, bytes],
        store: WitnessStore,
        *,
        pinned: Mapping[str, str],
        clock: Callable[[], int] = now_seconds,
    ):
        self.name = name
        self.signer = signer
        self.logs = dict(logs)
        self.pinned = dict(pinned)
        self.store = store
        self.clock = clock

    def _start(self, origin: str, public_key: bytes) -> Cosigned | None:
        """The pinned checkpoint of a log this witness holds nothing of (None: size 0)."""
        pin = self.pinned.get(origin)
        if pin is None:
            raise UnpinnedLog(
                f"this witness has cosigned nothing of {origin} and pins no checkpoint of it: "
                "its operator adds the log with its current checkpoint (or declares it new)"
            )
        if not pin:
            return None
        checkpoint = pinned_checkpoint(pin, origin, public_key)
        return Cosigned(checkpoint.size, checkpoint.root, pin) if checkpoint.size else None

    def add_checkpoint(self, body: bytes | str) -> list[NoteSignature]:
        """Check one request; return the cosignature(s) or raise the ``WitnessError``."""
        request = parse_add_checkpoint(body)
        checkpoint = request.checkpoint
        origin = checkpoint.origin
        public_key = self.logs.get(origin)
        if public_key is None:
            raise UnknownLog(f"this witness does not witness {origin!r}")
        try:
            verify_note(request.note, origin, public_key)
        except NoteError as error:
            raise BadLogSignature(
                f"the checkpoint is not signed by {origin}: {error.detail}"
            ) from error
        stored = self.store.latest(origin)
        stored_size = stored.size if stored is not None else 0
        latest = stored if stored is not None else self._start(origin, public_key)
        latest_size = latest.size if latest is not None else 0
        # A checkpoint smaller than one already cosigned is refused like any stale request,
        # but kept as no evidence: checkpoints carry no time, so anyone could replay an old,
        # validly signed one. Evidence is two roots of one size, both signed by the log.
        if request.old_size > checkpoint.size:
            raise MalformedRequest(
                f"old size {request.old_size} > checkpoint size {checkpoint.size}",
                reason="old_size_too_large",
            )
        if latest is not None and checkpoint.size == latest.size and checkpoint.root != latest.root:
            # Before the old-size check: whoever shows us this (the log, another witness's
            # cosigned note, a relying party) and with whatever old size, it is a fork.
            found = self._keep_fork(latest, request)
            raise ForkedCheckpoint(
                f"size {checkpoint.size} was cosigned with another root", evidence=found
            )
        if request.old_size != latest_size:
            raise StaleOldSize(
                f"this witness last cosigned size {latest_size} of {origin}",
                size=latest_size,
            )
        if latest is not None and checkpoint.size == latest.size:
            if request.proof:
                raise MalformedRequest("the same size needs an empty proof")
        elif latest is None:
            if request.proof:
                raise MalformedRequest("from size 0 the proof is empty")
        else:
            try:
                verify_consistency(
                    latest.size, checkpoint.size, request.proof, latest.root, checkpoint.root
                )
            except InvalidProof as error:
                # Refused, and nothing kept: a proof that fails shows only that these hashes
                # do not link the two trees, which anyone can arrange with junk hashes.
                raise InconsistentProof(
                    f"size {checkpoint.size} is not shown consistent with size {latest.size}: "
                    f"{error}"
                ) from error
        cosignature = cosign(request.note.text, self.name, self.signer, self.clock())
        # The note as received plus our line: the evidence of what we vouched for.
        cosigned = request.note.with_signatures([cosignature])
        if not self.store.compare_and_set(
            origin, stored_size, checkpoint.size, checkpoint.root, cosigned.render()
        ):
            # Another request moved the state since we read it: that one won.
            now = self.store.latest(origin)
            size = now.size if now is not None else 0
            raise StaleOldSize(f"this witness now holds size {size} of {origin}", size=size)
        return [cosignature]

    def _keep_fork(self, latest: Cosigned, request: AddCheckpoint) -> str:
        document = evidence_document(
            FORK_SAME_SIZE,
            witness=self.name,
            origin=request.checkpoint.origin,
            cosigned_note=latest.note,
            offered_note=request.note.render(),
            old_size=request.old_size,
            proof=(),  # whatever came with it: two signed roots of one size need no proof
            detail="",
            when=self.clock(),
        )
        return self.store.keep_evidence(request.checkpoint.origin, FORK_SAME_SIZE, document)


# -- evidence -----------------------------------------------------------------------------


def evidence_document(
    kind: str,
    *,
    witness: str,
    origin: str,
    cosigned_note: str,
    offered_note: str,
    old_size: int,
    proof: Sequence[bytes],
    detail: str,
    when: int,
) -> dict[str, Any]:
    """The JSON document a witness keeps (``docs/transparency.md``, "Evidence")."""
    return {
        "format": EVIDENCE_FORMAT,
        "kind": kind,
        "witness": witness,
        "origin": origin,
        "when": datetime.fromtimestamp(when, UTC).isoformat(),
        "cosigned_note": cosigned_note,
        "offered_note": offered_note,
        "old_size": old_size,
        "proof": [base64.b64encode(h).decode() for h in proof],
        "detail": detail,
    }


def pinned_checkpoint(note_text: str, origin: str, public_key: bytes) -> Checkpoint:
    """The checkpoint a witness is pinned to; raise ``WitnessError`` unless it is a checkpoint
    of ``origin`` signed by the log's key."""
    try:
        note = parse_note(note_text)
        checkpoint = parse_checkpoint(note.text)
        verify_note(note, origin, public_key)
    except NoteError as error:
        raise WitnessError(
            f"the checkpoint pinned for {origin}: {error.detail}", reason="bad_pinned_checkpoint"
        ) from error
    if checkpoint.origin != origin:
        raise WitnessError(
            f"the checkpoint pinned for {origin} is of {checkpoint.origin}",
            reason="bad_pinned_checkpoint",
        )
    return checkpoint


def _signed_checkpoint(document: Mapping[str, Any], field: str, public_key: bytes) -> Checkpoint:
    origin = document.get("origin")
    text = document.get(field)
    if not isinstance(text, str) or not isinstance(origin, str):
        raise EvidenceError(f"{field} and origin are text", reason="malformed")
    try:
        note = parse_note(text)
        checkpoint = parse_checkpoint(note.text)
        verify_note(note, origin, public_key)
    except NoteError as error:
        raise EvidenceError(f"{field}: {error.detail}", reason="not_signed_by_log") from error
    if checkpoint.origin != origin:
        raise EvidenceError(f"{field} is of {checkpoint.origin}, not {origin}", reason="malformed")
    return checkpoint


def check_evidence(document: Mapping[str, Any], log_public_key: bytes) -> str:
    """Re-check an evidence document offline; return the verdict or raise ``EvidenceError``.

    Only the log's public key is needed: both checkpoints must carry the log's signature and
    disagree on the root of one size, so the verdict does not rest on the witness's word
    (except for *when* it saw them). A failed consistency proof (``inconsistent_proof``, kept
    by earlier versions) is not conclusive and does not stand.
    """
    if document.get("format") != EVIDENCE_FORMAT:
        raise EvidenceError("not a witness evidence document", reason="malformed")
    if document.get("kind") == INCONSISTENT_PROOF:
        raise EvidenceError(
            "a consistency proof that fails is no evidence: anyone can send junk hashes",
            reason="not_conclusive",
        )
    if document.get("kind") not in EVIDENCE_KINDS:
        raise EvidenceError("not a witness evidence document", reason="malformed")
    old = _signed_checkpoint(document, "cosigned_note", log_public_key)
    new = _signed_checkpoint(document, "offered_note", log_public_key)
    origin = old.origin
    if old.size != new.size or old.root == new.root:
        raise EvidenceError("the two checkpoints are not two roots of one size")
    return (
        f"fork: {origin} signed two different trees of size {old.size} "
        f"({base64.b64encode(old.root).decode()} and {base64.b64encode(new.root).decode()})"
    )
