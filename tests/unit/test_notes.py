"""Signed notes, checkpoints and cosignatures: edge cases a review found."""

from __future__ import annotations

import pytest

from ledger.errors import LedgerError
from ledger.notes import (
    MAX_SIGNATURES,
    Checkpoint,
    NoteError,
    Witness,
    cosign,
    parse_checkpoint,
    parse_note,
    require_cosigners,
    signed_checkpoint,
    verified_cosigners,
)
from ledger.suites import Ed25519Signer

LOG = Ed25519Signer.from_seed(bytes(range(32)))
WITNESS = Ed25519Signer.from_seed(bytes(range(1, 33)))
ORIGIN = "tongban/510000"


@pytest.mark.parametrize("size", ["²", "٣", "03", "-1", "18446744073709551616", " 3"])
def test_checkpoint_sizes_are_plain_ascii_decimals(size: str) -> None:
    text = f"{ORIGIN}\n{size}\n{'A' * 43}=\n"
    with pytest.raises(NoteError) as refused:
        parse_checkpoint(text)
    assert refused.value.reason == "malformed"


def test_a_witness_counts_once_however_many_names_it_has() -> None:
    note = signed_checkpoint(Checkpoint(ORIGIN, 5, bytes(32)), ORIGIN, LOG)
    note = note.with_signatures([cosign(note.text, "w1", WITNESS, 1_700_000_000)])
    twice = [Witness("w1", WITNESS.public_key), Witness("w1", WITNESS.public_key)]
    assert len(verified_cosigners(note, twice)) == 1
    with pytest.raises(NoteError) as short:
        require_cosigners(note, twice, 2)
    assert short.value.reason == "too_few_cosignatures"


def test_notes_accept_as_many_signatures_as_go_does() -> None:
    note = signed_checkpoint(Checkpoint(ORIGIN, 5, bytes(32)), ORIGIN, LOG)
    cosigners = [Ed25519Signer.from_seed(bytes([n]) * 32) for n in range(MAX_SIGNATURES - 1)]
    many = note.with_signatures(
        cosign(note.text, f"w{n}", signer, 1) for n, signer in enumerate(cosigners)
    )
    assert len(parse_note(many.render()).signatures) == MAX_SIGNATURES == 100
    with pytest.raises(LedgerError):
        parse_note(many.with_signatures([cosign(note.text, "extra", LOG, 1)]).render())
