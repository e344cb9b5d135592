"""The ledger's application service: every append and read goes through here.

The HTTP API, the CLI and the tests call :class:`LedgerApplication`; none of them holds a
ledger rule. The node's own key signs receipts; it never holds an officer's or a body's key.
"""

from __future__ import annotations

import logging
import threading
import time as _time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Mapper

from ledger.domain import ALLOWED_EVENT_CLASSES, CASE_TOPICS, Case, License, Registry, Stream
from ledger.envelope import ZERO_HASH, Envelope, parse_event
from ledger.errors import ConflictError, EnvelopeRejected, Head, MalformedEncoding, UnknownCase
from ledger.keys import KeyRegistry, UnknownKey, parse_key_record, registry_stream_id
from ledger.licensing import (
    ISSUED,
    LICENSE_EVENT_TYPES,
    LicenseState,
    UnknownLicense,
    check_issued_body,
    license_stream_id,
    step_license,
)
from ledger.notes import Note, NoteSignature
from ledger.persistence import AllowlistMapper, LedgerEntry, LedgerStore, MsgpackTranscoder
from ledger.receipts import make_receipt
from ledger.suites import Signer
from ledger.transparency import CheckpointPolicy, TreeKeeper, TreeStore
from ledger.workflow import CaseState, CaseWorkflow, WorkflowPolicy

log = logging.getLogger("tongban.ledger")

DEFAULT_CLAIM_TOLERANCE = 300 * 1_000_000  # five minutes, in microseconds
REGISTRY_REFRESH_INTERVAL = 1_000_000  # how stale another worker's registry view may get


def _region_of(ledger_name: str) -> str:
    """``tongban/510000`` → ``510000``: the default home region of a ledger."""
    return ledger_name.rsplit("/", 1)[-1]


def now_micros() -> int:
    return _time.time_ns() // 1_000


class TimeOutOfTolerance(EnvelopeRejected):
    reason = "time_out_of_tolerance"


class LicenseStatus(NamedTuple):
    """A license's state and the ledger indexes of its issuance and newest event."""

    state: str
    issuance_index: int
    last_index: int


@dataclass(frozen=True)
class Appended:
    """The outcome of an append: ``created`` is False when the same bytes were already stored."""

    created: bool
    stream_id: uuid.UUID
    seq: int
    index: int
    receipt: bytes
    head: Head


class _ReceiptMaker:
    """Signs receipts inside the insert transaction, once the ledger index is known."""

    def __init__(
        self,
        signer: Signer,
        ledger: str,
        hashes: dict[tuple[uuid.UUID, int], bytes],
        received_at: int,
    ):
        self.signer = signer
        self.ledger = ledger
        self.hashes = hashes
        self.received_at = received_at
        self.made: dict[tuple[uuid.UUID, int], tuple[int, bytes]] = {}

    def receipt_for(self, stream_id: uuid.UUID, seq: int, index: int) -> tuple[bytes, bytes]:
        event_hash = self.hashes[(stream_id, seq)]
        receipt = make_receipt(
            self.signer,
            ledger=self.ledger,
            index=index,
            event_hash=event_hash,
            stream_id=stream_id,
            seq=seq,
            time=self.received_at,
        )
        self.made[(stream_id, seq)] = (index, receipt)
        return event_hash, receipt


class LedgerApplication(Application[uuid.UUID]):
    """A region's ledger: signed case events, license events and key records, with receipts
    and a dense index."""

    name = "tongban"

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        ledger_name: str,
        trusted_roots: Mapping[str, bytes],
        node_signer: Signer | None,
        home_region: str = "",
        clock: Callable[[], int] = now_micros,
        claim_tolerance: int = DEFAULT_CLAIM_TOLERANCE,
        workflow: WorkflowPolicy | None = None,
        load_registry: bool = True,
        checkpoint_policy: CheckpointPolicy | None = None,
    ):
        super().__init__(dict(env))
        self.ledger_name = ledger_name
        self.trusted_roots = dict(trusted_roots)
        self.node_signer = node_signer
        self.clock = clock
        self.claim_tolerance = claim_tolerance
        self.workflow = workflow or CaseWorkflow()
        self.home_region = home_region or _region_of(ledger_name)
        self.registry = KeyRegistry(self.trusted_roots, home_region=self.home_region)
        self._registry_checked_at = 0
        # One append at a time per process: the registry view and the case cache are shared
        # by the server's threads. Other processes are serialized by the database.
        self._lock = threading.RLock()
        self.tree = TreeKeeper(
            cast(TreeStore, self.recorder), ledger_name, policy=checkpoint_policy
        )
        if load_registry:
            self.refresh_registry()

    def construct_mapper(self) -> Mapper[uuid.UUID]:
        return AllowlistMapper(MsgpackTranscoder(), ALLOWED_EVENT_CLASSES)

    @property
    def store(self) -> LedgerStore:
        return cast(LedgerStore, self.recorder)

    # -- reading ---------------------------------------------------------------------------

    def _get(self, stream_id: uuid.UUID) -> Stream | None:
        try:
            return cast(Stream, self.repository.get(stream_id))
        except AggregateNotFoundError:
            return None

    def get_case(self, case_id: uuid.UUID) -> Case:
        case = self._get(case_id)
        if not isinstance(case, Case):
            raise UnknownCase(f"no case {case_id}", field="case")
        return case

    def head(self, stream_id: uuid.UUID) -> Head:
        stream = self._get(stream_id)
        return stream.head if stream is not None else Head(0, ZERO_HASH)

    def stream_entries(self, stream_id: uuid.UUID) -> list[LedgerEntry]:
        """The stored objects of a stream with receipts, in seq order (exact bytes)."""
        rows = self.store.select_stream_rows(stream_id)
        return [
            self._entry_of(row.index, stream_id, row.seq, row.state, row.receipt)
            for row in rows
            if row.index is not None
            and row.state is not None
            and row.seq is not None
            and row.receipt is not None
        ]

    def _entry_of(
        self, index: Any, stream_id: uuid.UUID, seq: Any, state: bytes, receipt: bytes
    ) -> LedgerEntry:
        envelope = self.mapper.transcoder.decode(state)["envelope"]
        return LedgerEntry(index, stream_id, seq, envelope, receipt)

    def envelope_at(self, stream_id: uuid.UUID, seq: int) -> bytes | None:
        """The exact stored bytes of one object (one row read), or None."""
        stored = self.store.select_entry(stream_id, seq)
        if stored is None:
            return None
        envelope: bytes = self.mapper.transcoder.decode(stored.envelope)["envelope"]
        return envelope

    def case_ids(self) -> list[uuid.UUID]:
        """Every case, in the order the ledger received them."""
        return self.store.select_stream_ids(CASE_TOPICS[0])

    def entries_after(self, after_index: int, limit: int) -> list[LedgerEntry]:
        """Stored objects in ledger-index order, with their exact signed bytes."""
        return [
            LedgerEntry(
                e.index,
                e.stream_id,
                e.seq,
                self.mapper.transcoder.decode(e.envelope)["envelope"],
                e.receipt,
            )
            for e in self.store.select_entries(after_index, limit)
        ]

    # -- the key registry ------------------------------------------------------------------

    def refresh_registry(self) -> None:
        """Apply registry records stored (by any worker) since this process last looked."""
        with self._lock:
            self._refresh_registry()

    def _refresh_registry(self) -> None:
        # Selected by stream id, not by topic: a row's topic cannot hide a record from us.
        streams = [registry_stream_id(region) for region in self.trusted_roots]
        for entry in self.store.select_stream_entries(streams, self.registry.last_index):
            state = self.mapper.transcoder.decode(entry.envelope)
            record = parse_key_record(state["envelope"])
            self.registry.apply(record, state["received_at"], entry.index)
        self._registry_checked_at = self.clock()

    def _refresh_if_stale(self, now: int) -> None:
        if now - self._registry_checked_at >= REGISTRY_REFRESH_INTERVAL:
            self.refresh_registry()

    def append_key_record(self, raw: bytes) -> Appended:
        """Append a key record (of this region or another trusted one) to the registry."""
        with self._lock:
            return self._append_key_record(raw)

    def _append_key_record(self, raw: bytes) -> Appended:
        record = parse_key_record(raw)
        stream_id = registry_stream_id(record.region)
        stream = self._get(stream_id)
        head = stream.head if stream is not None else Head(0, ZERO_HASH)
        if record.seq <= head.seq:
            return self._replay_or_conflict(stream_id, record.seq, raw, head)
        now = self.clock()
        self.refresh_registry()
        self.registry.check(record, now)
        if stream is None:
            stream = Registry.start(stream_id, raw, now)
        else:
            assert isinstance(stream, Registry)
            stream.add(raw, now)
        appended = self._save(stream, stream_id, record.seq, record.hash, raw, now)
        self.registry.apply(record, now, appended.index)
        return appended

    # -- case events -----------------------------------------------------------------------

    def append_event(self, raw: bytes) -> Appended:
        """Verify and append one signed case event; return its receipt."""
        with self._lock:
            return self._append_event(raw)

    def _append_event(self, raw: bytes) -> Appended:
        envelope = parse_event(raw)
        if envelope.type in LICENSE_EVENT_TYPES:
            # License events share the envelope; the type routes them to their own streams.
            return self._append_license_event(envelope, raw)
        self._check_ledger(envelope)
        case = self._get(envelope.case_id)
        if case is not None and not isinstance(case, Case):
            raise EnvelopeRejected("that id is not a case", reason="wrong_stream", field="case")
        head = case.head if case is not None else Head(0, ZERO_HASH)
        if envelope.seq <= head.seq:
            return self._replay_or_conflict(envelope.case_id, envelope.seq, raw, head)
        now = self.clock()
        self._check_signed_link(envelope, now, case, head)
        self.workflow.step(
            case.flow if case is not None else CaseState(), envelope, self.registry, now
        )
        if case is None:
            case = Case.start(envelope.case_id, raw, now)
        else:
            case.add(raw, now)
        return self._save(case, envelope.case_id, envelope.seq, envelope.hash, raw, now)

    def _check_ledger(self, envelope: Envelope) -> None:
        if envelope.ledger != self.ledger_name:
            raise EnvelopeRejected(
                f"envelope is for ledger {envelope.ledger!r}, this is {self.ledger_name!r}",
                reason="wrong_ledger",
                field="ledger",
            )

    def _check_signed_link(
        self, envelope: Envelope, now: int, stream: Stream | None, head: Head
    ) -> None:
        """Claimed time, the officer's key at ``now``, the signature, seq and prev."""
        self._check_claimed_time(envelope, now, stream)
        self._refresh_if_stale(now)
        key_args = {"body_id": envelope.body_id, "officer_id": envelope.officer_id}
        try:
            key = self.registry.officer_key_at(envelope.key_id, now, **key_args)
        except UnknownKey:
            self.refresh_registry()  # another worker may have certified it just now
            key = self.registry.officer_key_at(envelope.key_id, now, **key_args)
        if envelope.signed.suite.name != key.suite:
            raise EnvelopeRejected(
                f"signed with suite {envelope.signed.suite.name}, key {key.kid} is {key.suite}",
                reason="bad_signature",
                field="suite",
            )
        envelope.signed.verify(key.public_key)
        if envelope.seq != head.seq + 1:
            raise EnvelopeRejected(
                f"stream is at seq {head.seq}; the next object is seq {head.seq + 1}",
                reason="seq_gap",
                field="seq",
            )
        if envelope.prev != head.event_hash:
            raise EnvelopeRejected(
                "prev is not the hash of the stream's newest object",
                reason="broken_link",
                field="prev",
            )

    # -- licenses (ledger.licensing; docs/license.md "Issuance and status in the ledger") --

    def append_license_event(self, raw: bytes) -> Appended:
        """Verify and append one signed license event (issued, suspended, revoked,
        reinstated); return its receipt. ``append_event`` routes license types here too."""
        envelope = parse_event(raw)
        if envelope.type not in LICENSE_EVENT_TYPES:
            raise MalformedEncoding(f"{envelope.type!r} is not a license event type", field="type")
        with self._lock:
            return self._append_license_event(envelope, raw)

    def _append_license_event(self, envelope: Envelope, raw: bytes) -> Appended:
        self._check_ledger(envelope)
        stream = self._get(envelope.case_id)
        if stream is not None and not isinstance(stream, License):
            raise EnvelopeRejected("that id is not a license", reason="wrong_stream", field="case")
        head = stream.head if stream is not None else Head(0, ZERO_HASH)
        if envelope.seq <= head.seq:
            return self._replay_or_conflict(envelope.case_id, envelope.seq, raw, head)
        now = self.clock()
        self._check_signed_link(envelope, now, stream, head)
        state = stream.license if stream is not None else LicenseState()
        case_steps: list[Envelope] = []
        if envelope.type == ISSUED and not state.state:
            check_issued_body(envelope.body)
            case_steps = self._case_envelopes(uuid.UUID(envelope.body["case"]))
        step_license(state, envelope, case_steps)
        if stream is None:
            stream = License.start(envelope.case_id, raw, now)
        else:
            assert isinstance(stream, License)
            stream.add(raw, now)
        return self._save(stream, envelope.case_id, envelope.seq, envelope.hash, raw, now)

    def _case_envelopes(self, case_id: uuid.UUID) -> list[Envelope]:
        if not isinstance(self._get(case_id), Case):
            return []
        return [parse_event(entry.envelope) for entry in self.stream_entries(case_id)]

    def license_state(self, identifier: str) -> LicenseStatus:
        """``(state, issuance_index, last_index)`` of the license ``identifier``: its state
        (issued, suspended, reinstated, revoked) and the ledger indexes of its issuance and
        of its newest event. Raises ``UnknownLicense``."""
        stream_id = license_stream_id(identifier)
        stream = self._get(stream_id)
        if not isinstance(stream, License):
            raise UnknownLicense(f"no license {identifier}", field="id")
        indexes = [
            row.index
            for row in self.store.select_stream_rows(stream_id)
            if row.index is not None and row.seq is not None and row.seq <= stream.version
        ]
        return LicenseStatus(stream.license.state, indexes[0], indexes[-1])

    def _check_claimed_time(self, envelope: Envelope, now: int, case: Stream | None) -> None:
        if abs(envelope.time - now) > self.claim_tolerance:
            raise TimeOutOfTolerance(
                f"claimed time is {(envelope.time - now) / 1e6:+.0f} s from the node's clock "
                f"(tolerance {self.claim_tolerance / 1e6:.0f} s)",
                field="time",
            )
        if case is not None and envelope.time < case.last_received_at:
            raise TimeOutOfTolerance(
                "claimed time is before the previous step's receipt time", field="time"
            )

    def _save(
        self,
        stream: Stream,
        stream_id: uuid.UUID,
        seq: int,
        event_hash: bytes,
        raw: bytes,
        now: int,
    ) -> Appended:
        if self.node_signer is None:
            raise EnvelopeRejected("this node was opened read-only", reason="read_only")
        maker = _ReceiptMaker(
            self.node_signer, self.ledger_name, {(stream_id, seq): event_hash}, now
        )
        try:
            self.save(stream, receipt_maker=maker)
        except IntegrityError:
            # Someone else took this seq (or stored these very bytes) first.
            return self._replay_or_conflict(stream_id, seq, raw, self.head(stream_id))
        index, receipt = maker.made[(stream_id, seq)]
        self._checkpoint_if_due(index, now)
        return Appended(True, stream_id, seq, index, receipt, stream.head)

    def _checkpoint_if_due(self, index: int, now: int) -> None:
        assert self.node_signer is not None
        try:
            self.tree.maybe_issue(index, now, self.node_signer)
        except Exception:
            # The append is committed and its receipt signed; a checkpoint is only late, and
            # the next append (or an explicit issue) tries again.
            log.exception("could not issue a checkpoint after ledger index %d", index)

    def _replay_or_conflict(
        self, stream_id: uuid.UUID, seq: int, raw: bytes, head: Head
    ) -> Appended:
        stored = self.store.select_entry(stream_id, seq)
        if stored is not None:
            stored_raw = self.mapper.transcoder.decode(stored.envelope)["envelope"]
            if stored_raw == raw:
                return Appended(False, stream_id, seq, stored.index, stored.receipt, head)
        raise ConflictError(
            f"seq {seq} of {stream_id} is already taken; the head is seq {head.seq}", head=head
        )

    # -- transparency: the tree over every ledger index, checkpoints, proofs -----------------

    def extend_tree(self) -> int:
        """Grow the Merkle tree to the newest ledger index; return its size."""
        return self.tree.extend()

    def issue_checkpoint(self) -> Note:
        """Extend the tree, sign a checkpoint of it with the node key, store and return it."""
        if self.node_signer is None:
            raise EnvelopeRejected("this node was opened read-only", reason="read_only")
        with self._lock:
            return self.tree.issue(self.node_signer, self.clock())

    def latest_checkpoint(self) -> Note | None:
        """The stored checkpoint of the largest tree size, or None."""
        return self.tree.latest()

    def checkpoint_at(self, size: int) -> Note | None:
        """The stored checkpoint of tree size ``size``, or None."""
        return self.tree.at(size)

    def add_cosignatures(self, size: int, signatures: Sequence[NoteSignature]) -> Note:
        """Merge (witness) signatures into the stored checkpoint of ``size``; return it."""
        return self.tree.add_cosignatures(size, signatures)

    def tree_root(self, size: int) -> bytes:
        """The Merkle root of the first ``size`` ledger indexes."""
        return self.tree.root(size)

    def leaf_hash(self, index: int) -> bytes:
        """The Merkle leaf hash of ledger index ``index`` (1-based)."""
        return self.tree.leaf_hash(index)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Audit path of ledger index ``index`` (1-based) in the tree of ``size`` leaves."""
        return self.tree.inclusion_proof(index, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """Proof that the tree of ``size2`` leaves extends the tree of ``size1`` leaves."""
        return self.tree.consistency_proof(size1, size2)
