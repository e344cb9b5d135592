"""The witness (C2SP tlog-witness): every protocol answer, evidence, and the compare-and-set.

A small in-memory log (leaves, a seeded key) signs checkpoints; the witness under test is
``ledger.witness.CheckpointWitness`` on the in-memory, SQLite and PostgreSQL stores, and once
through the HTTP route.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.settings import Settings
from adapters.transparency_config import TransparencyConfig, save_transparency_config
from adapters.witness_store import PostgresWitnessStore, SQLiteWitnessStore
from api.app import create_app
from api.errors import witness_status
from ledger import merkle
from ledger import witness as witness_module
from ledger.notes import (
    Checkpoint,
    Note,
    NoteError,
    Witness,
    parse_note,
    signed_checkpoint,
    verified_cosigners,
)
from ledger.suites import Ed25519Signer
from ledger.witness import (
    FORK_SAME_SIZE,
    INCONSISTENT_PROOF,
    MAX_PROOF_LINES,
    BadLogSignature,
    CheckpointWitness,
    EvidenceError,
    ForkedCheckpoint,
    InconsistentProof,
    MalformedRequest,
    MemoryWitnessStore,
    StaleOldSize,
    UnknownLog,
    UnpinnedLog,
    WitnessError,
    WitnessStore,
    add_checkpoint_body,
    check_evidence,
    parse_add_checkpoint,
    parse_cosignatures,
)

ORIGIN = "tongban/510000"
WITNESS_NAME = "tongban/320000/witness"
NOW = 1_767_225_600


def seeded(label: str) -> Ed25519Signer:
    return Ed25519Signer.from_seed(hashlib.sha256(label.encode()).digest())


LOG_KEY = seeded("log")
WITNESS_KEY = seeded("witness")


class Log:
    """A log's leaves and signed checkpoints; ``fork`` rewrites one leaf."""

    def __init__(self, count: int, *, signer: Ed25519Signer = LOG_KEY, label: str = "leaf"):
        self.signer = signer
        self.leaves = [merkle.leaf_hash(f"{label}-{n}".encode()) for n in range(count)]

    def grow(self, count: int) -> None:
        start = len(self.leaves)
        self.leaves += [merkle.leaf_hash(f"leaf-{n}".encode()) for n in range(start, start + count)]

    def forked(self, index: int) -> Log:
        other = Log(0, signer=self.signer)
        other.leaves = list(self.leaves)
        other.leaves[index] = merkle.leaf_hash(b"rewritten")
        return other

    def checkpoint(self, size: int) -> Note:
        root = merkle.root_of(self.leaves[:size])
        return signed_checkpoint(Checkpoint(ORIGIN, size, root), ORIGIN, self.signer)

    def proof(self, old: int, new: int) -> list[bytes]:
        if old in (0, new):
            return []
        return merkle.consistency_proof(old, new, merkle.MemoryNodeStore(self.leaves))

    def body(self, old: int, new: int) -> bytes:
        return add_checkpoint_body(old, self.proof(old, new), self.checkpoint(new))


def make_witness(
    store: WitnessStore, *, pinned: str = "", name: str = WITNESS_NAME
) -> CheckpointWitness:
    """A witness of ``ORIGIN``, pinned (by default) at size 0: the log is declared new."""
    return CheckpointWitness(
        name,
        WITNESS_KEY if name == WITNESS_NAME else seeded(name),
        {ORIGIN: LOG_KEY.public_key},
        store,
        pinned={ORIGIN: pinned},
        clock=lambda: NOW,
    )


@pytest.fixture
def store() -> MemoryWitnessStore:
    return MemoryWitnessStore()


@pytest.fixture
def witness(store: MemoryWitnessStore) -> CheckpointWitness:
    return make_witness(store)


def cosigned(log: Log, size: int, witness: CheckpointWitness, old: int = 0) -> Note:
    signatures = witness.add_checkpoint(log.body(old, size))
    return log.checkpoint(size).with_signatures(signatures)


# -- the request format --------------------------------------------------------------------


def test_a_request_round_trips() -> None:
    log = Log(13)
    parsed = parse_add_checkpoint(log.body(5, 13))
    assert parsed.old_size == 5
    assert list(parsed.proof) == log.proof(5, 13)
    assert parsed.note == log.checkpoint(13)
    assert (parsed.checkpoint.origin, parsed.checkpoint.size) == (ORIGIN, 13)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 1\n",
        b"old -1\n\n",
        b"old 01\n\nx",
        b"new 1\n\n",
        b"\xff\xfe",
        b"old 0\nnot base64!\n\n",
        b"old 0\nAAAA\n\n",  # a proof line that is not 32 bytes
    ],
)
def test_malformed_bodies_are_400(witness: CheckpointWitness, body: bytes) -> None:
    with pytest.raises(MalformedRequest) as raised:
        witness.add_checkpoint(body)
    assert witness_status(raised.value) == 400


def test_more_than_63_proof_lines_are_400(witness: CheckpointWitness) -> None:
    note = Log(8).checkpoint(8)
    body = add_checkpoint_body(4, [bytes(32)] * (MAX_PROOF_LINES + 1), note)
    with pytest.raises(MalformedRequest, match="at most 63"):
        witness.add_checkpoint(body)


def test_a_note_that_is_not_a_checkpoint_is_400(witness: CheckpointWitness) -> None:
    bad = Note("not a checkpoint\n", Log(1).checkpoint(1).signatures)
    with pytest.raises(MalformedRequest):
        witness.add_checkpoint(add_checkpoint_body(0, [], bad))


# -- each answer ---------------------------------------------------------------------------


def test_200_the_first_checkpoint_is_cosigned_and_the_cosignature_verifies(
    witness: CheckpointWitness, store: MemoryWitnessStore
) -> None:
    log = Log(7)
    signatures = witness.add_checkpoint(log.body(0, 7))
    note = log.checkpoint(7).with_signatures(signatures)
    assert verified_cosigners(note, [Witness(WITNESS_NAME, WITNESS_KEY.public_key)]) == [
        (WITNESS_NAME, NOW)
    ]
    latest = store.latest(ORIGIN)
    assert latest is not None and latest.size == 7
    # The witness remembers the note it vouched for, with its own line.
    assert parse_note(latest.note) == note


def test_200_a_consistent_bigger_checkpoint_advances_the_witness(
    witness: CheckpointWitness, store: MemoryWitnessStore
) -> None:
    log = Log(5)
    cosigned(log, 5, witness)
    log.grow(8)
    cosigned(log, 13, witness, old=5)
    latest = store.latest(ORIGIN)
    assert latest is not None and latest.size == 13


def test_200_the_same_checkpoint_again_is_cosigned_again(witness: CheckpointWitness) -> None:
    log = Log(5)
    cosigned(log, 5, witness)
    assert witness.add_checkpoint(log.body(5, 5))


def test_404_an_unknown_origin(witness: CheckpointWitness) -> None:
    other = signed_checkpoint(Checkpoint("tongban/440000", 1, bytes(32)), "tongban/440000", LOG_KEY)
    with pytest.raises(UnknownLog) as raised:
        witness.add_checkpoint(add_checkpoint_body(0, [], other))
    assert witness_status(raised.value) == 404


def test_403_a_checkpoint_signed_by_another_key(witness: CheckpointWitness) -> None:
    impostor = Log(3, signer=seeded("impostor"))
    with pytest.raises(BadLogSignature) as raised:
        witness.add_checkpoint(impostor.body(0, 3))
    assert witness_status(raised.value) == 403


def test_403_a_signature_that_does_not_verify(witness: CheckpointWitness) -> None:
    note = Log(3).checkpoint(3)
    signature = note.signatures[0]
    broken = Note(
        note.text,
        (type(signature)(signature.name, signature.key_id, bytes(len(signature.signature))),),
    )
    with pytest.raises(BadLogSignature):
        witness.add_checkpoint(add_checkpoint_body(0, [], broken))


def test_400_old_size_beyond_the_checkpoint(witness: CheckpointWitness) -> None:
    log = Log(4)
    with pytest.raises(MalformedRequest) as raised:
        witness.add_checkpoint(add_checkpoint_body(5, [], log.checkpoint(4)))
    assert (witness_status(raised.value), raised.value.reason) == (400, "old_size_too_large")


def test_409_a_stale_old_size_carries_the_witness_size(witness: CheckpointWitness) -> None:
    log = Log(5)
    cosigned(log, 5, witness)
    log.grow(3)
    with pytest.raises(StaleOldSize) as raised:
        witness.add_checkpoint(log.body(0, 8))
    assert (witness_status(raised.value), raised.value.size) == (409, 5)
    with pytest.raises(StaleOldSize) as raised:
        witness.add_checkpoint(log.body(3, 8))
    assert raised.value.size == 5


def test_422_an_inconsistent_tree_is_refused_and_nothing_kept(
    witness: CheckpointWitness, store: MemoryWitnessStore
) -> None:
    log = Log(6)
    cosigned(log, 6, witness)
    rewritten = log.forked(2)  # an older leaf rewritten, then the log grows
    rewritten.grow(4)
    with pytest.raises(InconsistentProof) as raised:
        witness.add_checkpoint(rewritten.body(6, 10))
    assert witness_status(raised.value) == 422 and raised.value.evidence is None
    # A failed proof is not conclusive (the pusher's hashes may be junk): nothing kept.
    assert store.evidence == {}
    latest = store.latest(ORIGIN)
    assert latest is not None and latest.size == 6  # not moved


def test_junk_proof_hashes_with_a_genuine_checkpoint_store_nothing(
    witness: CheckpointWitness, store: MemoryWitnessStore
) -> None:
    """Anyone can post the log's public checkpoint with junk hashes (issue 14, item 3)."""
    log = Log(6)
    cosigned(log, 6, witness)
    log.grow(4)
    junk = add_checkpoint_body(6, [bytes([n]) * 32 for n in range(4)], log.checkpoint(10))
    with pytest.raises(InconsistentProof):
        witness.add_checkpoint(junk)
    assert store.evidence == {}
    # The genuine proof still goes through afterwards.
    assert witness.add_checkpoint(log.body(6, 10))


def test_an_old_inconsistent_proof_document_does_not_stand() -> None:
    from ledger.witness import evidence_document

    log = Log(10)
    log.grow(2)
    document = evidence_document(
        INCONSISTENT_PROOF,
        witness=WITNESS_NAME,
        origin=ORIGIN,
        cosigned_note=log.checkpoint(4).render(),
        offered_note=log.checkpoint(12).render(),
        old_size=4,
        proof=[bytes(32)],
        detail="",
        when=NOW,
    )
    with pytest.raises(EvidenceError) as raised:
        check_evidence(document, LOG_KEY.public_key)
    assert raised.value.reason == "not_conclusive"


# -- no trust on first use; split views across witnesses (issue 14, item 2) ----------------


def test_a_log_that_was_never_pinned_is_refused(store: MemoryWitnessStore) -> None:
    witness = CheckpointWitness(
        WITNESS_NAME, WITNESS_KEY, {ORIGIN: LOG_KEY.public_key}, store, pinned={}
    )
    with pytest.raises(UnpinnedLog) as raised:
        witness.add_checkpoint(Log(3).body(0, 3))
    assert (witness_status(raised.value), raised.value.reason) == (403, "log_not_pinned")
    assert store.latest(ORIGIN) is None


def test_a_pinned_witness_needs_a_proof_from_its_pin(store: MemoryWitnessStore) -> None:
    log = Log(5)
    witness = make_witness(store, pinned=log.checkpoint(5).render())
    log.grow(3)
    with pytest.raises(StaleOldSize) as raised:  # not from 0: from the pinned size
        witness.add_checkpoint(log.body(0, 8))
    assert raised.value.size == 5
    assert witness.add_checkpoint(log.body(5, 8))
    latest = store.latest(ORIGIN)
    assert latest is not None and latest.size == 8


def test_a_fork_of_the_pinned_checkpoint_is_evidence(store: MemoryWitnessStore) -> None:
    log = Log(5)
    witness = make_witness(store, pinned=log.checkpoint(5).render())
    fork = log.forked(1)
    with pytest.raises(ForkedCheckpoint) as raised:
        witness.add_checkpoint(fork.body(0, 5))  # even from size 0: the pin is size 5
    document = store.evidence[str(raised.value.evidence)]
    assert check_evidence(document, LOG_KEY.public_key).startswith("fork:")
    assert store.latest(ORIGIN) is None


def test_a_pin_not_signed_by_the_log_is_refused(store: MemoryWitnessStore) -> None:
    impostor = Log(5, signer=seeded("impostor"))
    witness = make_witness(store, pinned=impostor.checkpoint(5).render())
    with pytest.raises(WitnessError) as raised:
        witness.add_checkpoint(Log(5).body(0, 5))
    assert raised.value.reason == "bad_pinned_checkpoint"


def test_a_split_across_two_witnesses_fails_the_default_policy_and_leaves_evidence() -> None:
    """The log shows one fork to each witness; under 1 of 2 each fork would pass. Under the
    default (a majority: 2 of 2) neither does, and the first time one witness is shown the
    other's cosigned fork (by the log, or by a relying party posting it), it keeps both."""
    from ledger.notes import majority, require_cosigners

    store_a, store_b = MemoryWitnessStore(), MemoryWitnessStore()
    a = make_witness(store_a, name="tongban/320000/witness")
    b = make_witness(store_b, name="tongban/330000/witness")
    witnesses = [Witness(w.name, w.signer.public_key) for w in (a, b)]
    log = Log(6)
    fork = log.forked(3)
    note_a = log.checkpoint(6).with_signatures(a.add_checkpoint(log.body(0, 6)))
    note_b = fork.checkpoint(6).with_signatures(b.add_checkpoint(fork.body(0, 6)))
    assert store_a.evidence == {} and store_b.evidence == {}  # neither can tell alone
    k = majority(len(witnesses))
    assert k == 2
    for note in (note_a, note_b):
        require_cosigners(note, witnesses, 1)  # what 1 of 2 accepted: either fork
        with pytest.raises(NoteError) as raised:
            require_cosigners(note, witnesses, k)
        assert raised.value.reason == "too_few_cosignatures"
    # To reach the majority, A's cosigned fork must be shown to B: B keeps it as evidence.
    with pytest.raises(ForkedCheckpoint) as forked:
        b.add_checkpoint(add_checkpoint_body(0, [], note_a))
    document = store_b.evidence[str(forked.value.evidence)]
    assert check_evidence(document, LOG_KEY.public_key).startswith("fork:")
    # The evidence carries A's cosignature of the other root: the split is plain to see.
    offered = parse_note(document["offered_note"])
    assert verified_cosigners(offered, witnesses) == [("tongban/320000/witness", NOW)]


def test_409_a_fork_of_the_same_size_is_refused_and_evidence_kept(
    witness: CheckpointWitness, store: MemoryWitnessStore
) -> None:
    log = Log(6)
    cosigned(log, 6, witness)
    with pytest.raises(ForkedCheckpoint) as raised:
        witness.add_checkpoint(log.forked(5).body(6, 6))
    assert witness_status(raised.value) == 409
    document = store.evidence[str(raised.value.evidence)]
    assert document["kind"] == FORK_SAME_SIZE
    assert check_evidence(document, LOG_KEY.public_key).startswith("fork:")


def test_a_smaller_signed_checkpoint_is_refused_but_proves_nothing(
    witness: CheckpointWitness, store: MemoryWitnessStore
) -> None:
    """Checkpoints carry no time: an old, validly signed one can be replayed by anyone, so a
    smaller checkpoint is refused and never kept as evidence against the log."""
    log = Log(9)
    cosigned(log, 9, witness)
    with pytest.raises(StaleOldSize) as stale:  # the pusher does not know our size yet
        witness.add_checkpoint(log.body(0, 6))
    assert stale.value.size == 9
    with pytest.raises(MalformedRequest):  # then it does
        witness.add_checkpoint(add_checkpoint_body(9, [], log.checkpoint(6)))
    assert store.evidence == {}


def test_a_proof_from_size_0_is_refused(witness: CheckpointWitness) -> None:
    with pytest.raises(MalformedRequest):
        witness.add_checkpoint(add_checkpoint_body(0, [bytes(32)], Log(3).checkpoint(3)))


# -- evidence re-checked offline -----------------------------------------------------------


def _fork_evidence(store: MemoryWitnessStore, witness: CheckpointWitness) -> dict[str, Any]:
    log = Log(6)
    cosigned(log, 6, witness)
    with pytest.raises(ForkedCheckpoint) as raised:
        witness.add_checkpoint(log.forked(1).body(6, 6))
    evidence: dict[str, Any] = json.loads(json.dumps(store.evidence[str(raised.value.evidence)]))
    return evidence


def test_evidence_does_not_stand_under_another_log_key(
    witness: CheckpointWitness, store: MemoryWitnessStore
) -> None:
    document = _fork_evidence(store, witness)
    with pytest.raises(EvidenceError, match="not signed"):
        check_evidence(document, seeded("someone else").public_key)


def test_evidence_with_equal_notes_is_no_fork(
    witness: CheckpointWitness, store: MemoryWitnessStore
) -> None:
    document = _fork_evidence(store, witness)
    document["offered_note"] = document["cosigned_note"]
    with pytest.raises(EvidenceError, match="not two roots"):
        check_evidence(document, LOG_KEY.public_key)


def test_an_inconsistency_claim_with_a_good_proof_does_not_stand() -> None:
    log = Log(10)
    from ledger.witness import evidence_document

    document = evidence_document(
        INCONSISTENT_PROOF,
        witness=WITNESS_NAME,
        origin=ORIGIN,
        cosigned_note=log.checkpoint(4).render(),
        offered_note=log.checkpoint(10).render(),
        old_size=4,
        proof=log.proof(4, 10),
        detail="",
        when=NOW,
    )
    with pytest.raises(EvidenceError, match="no evidence"):
        check_evidence(document, LOG_KEY.public_key)


# -- stores: the same contract on SQLite and PostgreSQL ------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[SQLiteWitnessStore | PostgresWitnessStore]:
    if request.param == "sqlite":
        yield SQLiteWitnessStore(tmp_path / "witness.sqlite3")
        return
    url = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("postgres_schema")
    yield PostgresWitnessStore(url, schema=schema)


def test_store_compare_and_set_contract(sql_store: SQLiteWitnessStore) -> None:
    assert sql_store.latest(ORIGIN) is None
    assert not sql_store.compare_and_set(ORIGIN, 3, 5, bytes(32), "n5")
    assert sql_store.compare_and_set(ORIGIN, 0, 5, b"\x01" * 32, "n5")
    assert not sql_store.compare_and_set(ORIGIN, 0, 6, bytes(32), "n6")  # already set
    assert sql_store.latest(ORIGIN) == (5, b"\x01" * 32, "n5")
    assert sql_store.compare_and_set(ORIGIN, 5, 9, b"\x02" * 32, "n9")
    assert not sql_store.compare_and_set(ORIGIN, 5, 10, bytes(32), "n10")
    assert sql_store.latest(ORIGIN) == (9, b"\x02" * 32, "n9")
    assert sql_store.latest("tongban/320000") is None


def test_store_keeps_evidence_once(sql_store: SQLiteWitnessStore) -> None:
    kind = FORK_SAME_SIZE
    document = {"kind": kind, "origin": ORIGIN, "cosigned_note": "a", "offered_note": "b"}
    first = sql_store.keep_evidence(ORIGIN, kind, {**document, "when": "t1"})
    again = sql_store.keep_evidence(ORIGIN, kind, {**document, "when": "t2"})
    assert first == again
    assert [(e.evidence_id, e.kind) for e in sql_store.evidence_list()] == [(first, kind)]
    assert sql_store.evidence(first) == {**document, "when": "t1"}
    assert sql_store.evidence("ev_missing") is None


def test_two_concurrent_submissions_from_the_same_old_size_one_wins(
    sql_store: SQLiteWitnessStore,
) -> None:
    log = Log(4)
    make_witness(sql_store).add_checkpoint(log.body(0, 4))
    log.grow(6)
    bodies = [log.body(4, 7), log.body(4, 10)]  # both consistent with size 4
    rounds = 5 if isinstance(sql_store, SQLiteWitnessStore) else 3
    for _ in range(rounds):
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def submit(body: bytes, barrier: threading.Barrier, outcomes: list[str]) -> None:
            witness = make_witness(sql_store)
            barrier.wait()
            try:
                witness.add_checkpoint(body)
                outcomes.append("won")
            except StaleOldSize:
                outcomes.append("stale")

        threads = [threading.Thread(target=submit, args=(b, barrier, outcomes)) for b in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["stale", "won"]
        latest = sql_store.latest(ORIGIN)
        assert latest is not None and latest.size in (7, 10)
        # Back to size 4 for the next round: the race must be decided by the store each time.
        assert sql_store.compare_and_set(
            ORIGIN, latest.size, 4, merkle.root_of(log.leaves[:4]), "reset"
        )


def test_many_racing_compare_and_sets_exactly_one_wins(sql_store: SQLiteWitnessStore) -> None:
    sql_store.compare_and_set(ORIGIN, 0, 1, bytes(32), "n1")
    barrier = threading.Barrier(8)
    wins: list[int] = []

    def race(n: int) -> None:
        barrier.wait()
        if sql_store.compare_and_set(ORIGIN, 1, 10 + n, bytes(32), f"n{n}"):
            wins.append(n)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    latest = sql_store.latest(ORIGIN)
    assert latest is not None and latest.size == 10 + wins[0]


# -- over HTTP -----------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    config = TransparencyConfig(WITNESS_NAME, min_cosignatures=1)
    config.add_log(ORIGIN, LOG_KEY.public_key, "")
    save_transparency_config(tmp_path, config)
    app = create_app(Settings(data_dir=tmp_path, region="320000"))
    with TestClient(app) as test_client:
        yield test_client
    app.state.services.ledger.close()


def test_the_protocol_over_http(client: TestClient) -> None:
    node_key = client.app.state.services.ledger.node_signer.public_key  # type: ignore[attr-defined]
    log = Log(5)
    post = client.post

    answer = post("/witness/add-checkpoint", content=log.body(0, 5))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    note = log.checkpoint(5).with_signatures(parse_cosignatures(answer.text))
    assert verified_cosigners(note, [Witness(WITNESS_NAME, node_key)])[0][0] == WITNESS_NAME

    log.grow(3)
    stale = post("/witness/add-checkpoint", content=log.body(0, 8))
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "text/x.tlog.size"
    assert stale.text == "5\n"

    assert post("/witness/add-checkpoint", content=log.body(5, 8)).status_code == 200
    assert post("/witness/add-checkpoint", content=b"old 0\n").status_code == 400
    impostor = Log(3, signer=seeded("impostor"))
    assert post("/witness/add-checkpoint", content=impostor.body(0, 3)).status_code == 403
    other = signed_checkpoint(Checkpoint("tongban/440000", 1, bytes(32)), "tongban/440000", LOG_KEY)
    unknown = post("/witness/add-checkpoint", content=add_checkpoint_body(0, [], other))
    assert unknown.status_code == 404
    forked = post("/witness/add-checkpoint", content=log.forked(0).body(8, 8))
    assert forked.status_code == 409 and forked.headers["content-type"].startswith("text/plain")
    rewritten = log.forked(1)
    rewritten.grow(2)
    inconsistent = post("/witness/add-checkpoint", content=rewritten.body(8, 10))
    assert inconsistent.status_code == 422 and "evidence ev_" not in inconsistent.text
    too_big = post("/witness/add-checkpoint", content=b"old 0\n" + b"A" * 70_000)
    assert too_big.status_code == 413

    # Evidence: auditors and the administrator only.
    assert client.get("/witness/evidence").status_code == 401
    access = client.app.state.services.access  # type: ignore[attr-defined]
    token, _ = access.create_token("auditor", "a1", now=datetime.now(UTC))
    body_token, _ = access.create_token("body", "320105-RS", now=datetime.now(UTC))
    headers = {"Authorization": f"Bearer {token}"}
    forbidden = client.get("/witness/evidence", headers={"Authorization": f"Bearer {body_token}"})
    assert forbidden.status_code == 403
    listed = client.get("/witness/evidence", headers=headers).json()["evidence"]
    assert [e["kind"] for e in listed] == [FORK_SAME_SIZE]
    for found in listed:
        document = client.get(f"/witness/evidence/{found['evidence_id']}", headers=headers).json()
        assert check_evidence(document, LOG_KEY.public_key)
    assert client.get("/witness/evidence/ev_nothing", headers=headers).status_code == 404


def test_an_unconfigured_witness_knows_no_log(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    with TestClient(app) as test_client:
        answer = test_client.post("/witness/add-checkpoint", content=Log(2).body(0, 2))
    app.state.services.ledger.close()
    assert answer.status_code == 404


# -- configuration and commands ------------------------------------------------------------


def test_the_config_defaults_to_a_majority_and_checks_pins(tmp_path: Path) -> None:
    from adapters.transparency_config import (
        TransparencyConfigError,
        load_transparency_config,
        parse_transparency_config,
    )

    assert load_transparency_config(tmp_path, region="320000").min_cosignatures is None
    pinned = Log(4).checkpoint(4).render()
    config = parse_transparency_config(
        {
            "witnessed_logs": [
                {
                    "origin": ORIGIN,
                    "public_key": LOG_KEY.public_key.hex(),
                    "pinned_checkpoint": pinned,
                },
                {"origin": "tongban/330000", "public_key": LOG_KEY.public_key.hex()},
            ],
            "min_cosignatures": 0,
        },
        region="320000",
    )
    assert config.min_cosignatures == 0  # explicit: kept
    assert config.pinned_checkpoints() == {ORIGIN: pinned}  # the unpinned log is not there
    impostor = Log(4, signer=seeded("impostor")).checkpoint(4).render()
    with pytest.raises(TransparencyConfigError, match=r"witnessed_logs\[0\].pinned_checkpoint"):
        parse_transparency_config(
            {
                "witnessed_logs": [
                    {
                        "origin": ORIGIN,
                        "public_key": LOG_KEY.public_key.hex(),
                        "pinned_checkpoint": impostor,
                    }
                ]
            },
            region="320000",
        )


def test_add_log_pins_a_checkpoint_and_refuses_this_nodes_own_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from adapters.transparency_config import load_transparency_config
    from api.cli import main

    pin = tmp_path / "sc.checkpoint"
    pin.write_text(Log(4).checkpoint(4).render())
    base = ["witness", "add-log", "--data-dir", str(tmp_path), "--region", "320000"]
    log = ["--origin", ORIGIN, "--public-key", LOG_KEY.public_key.hex()]
    assert main([*base, *log]) == 64  # a pin (or --new-log) is required: a usage error
    assert "--checkpoint --new-log is required" in capsys.readouterr().err
    assert main([*base, *log, "--checkpoint", str(pin)]) == 0
    assert "from size 4" in capsys.readouterr().out
    config = load_transparency_config(tmp_path, region="320000")
    assert config.pinned_checkpoints() == {ORIGIN: pin.read_text()}
    forged = tmp_path / "forged.checkpoint"
    forged.write_text(Log(4, signer=seeded("impostor")).checkpoint(4).render())
    assert main([*base, *log, "--checkpoint", str(forged)]) == 64
    capsys.readouterr()

    from adapters.keyfiles import write_key

    own = Ed25519Signer.from_seed(bytes(32))
    write_key(tmp_path / "node.key", own)
    mine = ["--origin", "tongban/320000", "--public-key", own.public_key.hex(), "--new-log"]
    assert main([*base, *mine]) == 64
    assert "own key" in capsys.readouterr().err
    witness = ["witness", "add-witness", "--data-dir", str(tmp_path), "--name", "self"]
    assert main([*witness, "--url", "http://x/witness", "--public-key", own.public_key.hex()]) == 64


def test_one_fork_re_posted_with_other_signature_lines_is_kept_once(
    witness: CheckpointWitness, store: MemoryWitnessStore
) -> None:
    from ledger.notes import cosign

    log = Log(6)
    cosigned(log, 6, witness)
    fork = log.forked(2).checkpoint(6)
    for n in range(3):
        extra = cosign(fork.text, f"someone-{n}", seeded(f"someone-{n}"), NOW)
        with pytest.raises(ForkedCheckpoint):
            witness.add_checkpoint(add_checkpoint_body(6, [], fork.with_signatures([extra])))
    assert len(store.evidence) == 1


def test_over_http_a_log_added_without_a_pin_is_403(tmp_path: Path) -> None:
    # A transparency.json written before pins existed: the log is known, nothing is pinned.
    (tmp_path / "transparency.json").write_text(
        json.dumps({"witnessed_logs": [{"origin": ORIGIN, "public_key": LOG_KEY.public_key.hex()}]})
    )
    app = create_app(Settings(data_dir=tmp_path, region="320000"))
    with TestClient(app) as test_client:
        answer = test_client.post("/witness/add-checkpoint", content=Log(2).body(0, 2))
    app.state.services.ledger.close()
    assert answer.status_code == 403 and answer.text.startswith("log_not_pinned:")


def test_witness_errors_carry_no_http_status_the_api_maps_each_once() -> None:
    """The domain's errors said their own HTTP status (``status = 409``); the API maps each
    class once (``api.errors.witness_status``), with the answers the protocol gives."""
    errors = [
        value
        for value in vars(witness_module).values()
        if isinstance(value, type) and issubclass(value, witness_module.WitnessError)
    ]
    assert len(errors) == 9
    for error in errors:
        assert "status" not in vars(error), error
    expected = {
        "WitnessError": 400,
        "MalformedRequest": 400,
        "UnknownLog": 404,
        "BadLogSignature": 403,
        "UnpinnedLog": 403,
        "StaleOldSize": 409,
        "ForkedCheckpoint": 409,
        "InconsistentProof": 422,
        "EvidenceError": 422,
    }
    answers = {
        error.__name__: witness_status(
            error("x") if error is not StaleOldSize else error("x", size=1)
        )
        for error in errors
    }
    assert answers == expected
