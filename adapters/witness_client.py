"""The log side of C2SP tlog-witness: push this ledger's checkpoint to the witnesses.

For each configured witness, ``POST <url>/add-checkpoint`` the latest checkpoint with a
consistency proof from the size that witness last cosigned. This node does not need to
remember that size: it starts from what it was told before (``known_sizes``, else 0), and a
``409`` with ``Content-Type: text/x.tlog.size`` tells it the right one, so it retries once.
Valid cosignatures in a ``200`` answer are merged into the stored checkpoint
(``add_cosignatures``); invalid ones are dropped and reported.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from ledger.notes import Note, NoteSignature, Witness, parse_checkpoint, verified_cosigners
from ledger.witness import MalformedRequest, add_checkpoint_body, parse_cosignatures

TLOG_SIZE = "text/x.tlog.size"


class CheckpointLog(Protocol):
    """What pushing needs of a ``LedgerApplication``."""

    def latest_checkpoint(self) -> Note | None: ...

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]: ...

    def add_cosignatures(self, size: int, signatures: Sequence[NoteSignature]) -> Note: ...


class WitnessEndpoint(Protocol):
    """A configured witness (``adapters.transparency_config.WitnessPeer``)."""

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def public_key(self) -> bytes: ...


@dataclass(frozen=True)
class PushResult:
    """One witness's answer: ``cosigned``, ``refused`` (an HTTP error) or ``unreachable``."""

    witness: str
    outcome: str
    status: int | None
    size: int
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "cosigned"


def push_checkpoint(
    app: CheckpointLog,
    witnesses: Sequence[WitnessEndpoint],
    *,
    client: httpx.Client | None = None,
    known_sizes: MutableMapping[str, int] | None = None,
    timeout: float = 10.0,
) -> list[PushResult]:
    """Push the latest checkpoint to every witness; merge the cosignatures it gets back."""
    note = app.latest_checkpoint()
    if note is None:
        return []
    known = known_sizes if known_sizes is not None else {}
    own_client = client is None
    http = client or httpx.Client(timeout=timeout)
    try:
        results = []
        for witness in witnesses:
            result, signatures = _push_one(app, http, witness, note, known)
            if signatures:
                note = app.add_cosignatures(parse_checkpoint(note.text).size, signatures)
            results.append(result)
        return results
    finally:
        if own_client:
            http.close()


def _push_one(
    app: CheckpointLog,
    http: httpx.Client,
    witness: WitnessEndpoint,
    note: Note,
    known: MutableMapping[str, int],
) -> tuple[PushResult, list[NoteSignature]]:
    size = parse_checkpoint(note.text).size
    old = known.get(witness.name, 0)
    response = None
    for _ in range(2):  # the second try uses the size a 409 told us
        # No proof from 0, none between equal sizes, and none can be made backwards (the
        # witness will refuse that request, which is what it should see).
        proof = app.consistency_proof(old, size) if 0 < old < size else []
        try:
            response = http.post(
                f"{witness.url}/add-checkpoint",
                content=add_checkpoint_body(old, proof, note),
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
        except httpx.HTTPError as error:
            return PushResult(witness.name, "unreachable", None, size, str(error)), []
        media = response.headers.get("content-type", "").split(";")[0].strip()
        if response.status_code == 409 and media == TLOG_SIZE:
            told = response.text.strip()
            if not (told.isascii() and told.isdigit()) or not 0 < int(told) <= size:
                break  # nonsense, or a size this checkpoint cannot extend: report the refusal
            if int(told) == old:
                break
            old = known[witness.name] = int(told)
            continue
        break
    assert response is not None
    if response.status_code != 200:
        detail = response.text.strip()[:500]
        return PushResult(witness.name, "refused", response.status_code, size, detail), []
    try:
        offered = parse_cosignatures(response.text)
    except MalformedRequest as error:
        return PushResult(witness.name, "refused", 200, size, error.detail), []
    trusted = [Witness(witness.name, witness.public_key)]
    valid = [s for s in offered if verified_cosigners(Note(note.text, (s,)), trusted)]
    if not valid:
        return PushResult(witness.name, "refused", 200, size, "no valid cosignature"), []
    known[witness.name] = size
    return PushResult(witness.name, "cosigned", 200, size), valid
