"""The ledger's application service: every append and read goes through here.

The HTTP API, the CLI and the tests call :class:`LedgerApplication`; none of them holds a
ledger rule. The node's own key signs receipts; it never holds an officer's or a body's key.
"""

from __future__ import annotations

import logging
import threading
import time as _time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Mapper

from ledger.domain import ALLOWED_EVENT_CLASSES, CASE_TOPICS, Case, License, Registry, Stream
from ledger.envelope import ZERO_HASH, Envelope, parse_event
from ledger.errors import (
    ConflictError,
    EnvelopeRejected,
    Head,
    LedgerError,
    MalformedEncoding,
    UnknownCase,
)
from ledger.groupcommit import GroupCommit
from ledger.keys import KeyRecord, KeyRegistry, UnknownKey, parse_key_record, registry_stream_id
from ledger.license_events import (
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
from ledger.transparency import (
    CheckpointPolicy,
    NotAnExtension,
    SignedCheckpointState,
    TreeKeeper,
    TreeStore,
)
from ledger.workflow import CaseState, CaseWorkflow, WorkflowPolicy

log = logging.getLogger("tongban.ledger")

DEFAULT_CLAIM_TOLERANCE = 300 * 1_000_000  # five minutes, in microseconds
REGISTRY_REFRESH_INTERVAL = 1_000_000  # how stale another worker's registry view may get
STREAM_CACHE_SIZE = 10_000  # committed stream states kept for checking appends


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
    """Signs receipts inside the insert transaction, once the ledger indexes are known.

    A recorder may ask again with other indexes (another writer took the ones it tried first):
    only the receipts of the indexes finally committed are kept."""

    def __init__(self, signer: Signer, ledger: str, objects: Mapping[_Key, tuple[bytes, int]]):
        self.signer = signer
        self.ledger = ledger
        self.objects = objects  # (stream, seq) -> (event hash, receipt time)
        self.made: dict[_Key, tuple[int, bytes]] = {}

    def receipt_for(self, stream_id: uuid.UUID, seq: int, index: int) -> tuple[bytes, bytes]:
        event_hash, received_at = self.objects[(stream_id, seq)]
        receipt = make_receipt(
            self.signer,
            ledger=self.ledger,
            index=index,
            event_hash=event_hash,
            stream_id=stream_id,
            seq=seq,
            time=received_at,
        )
        self.made[(stream_id, seq)] = (index, receipt)
        return event_hash, receipt


_Key = tuple[uuid.UUID, int]


@dataclass(eq=False)
class _Pending:
    """One validated append on its way to the database.

    ``stream`` is the committed state the append was checked against (None for a new stream),
    ``event`` the stream's next event, not yet applied (``started`` holds the new aggregate of a
    first object). ``settled`` is set once the write succeeded or failed; until then no other
    append to this stream is checked."""

    stream_id: uuid.UUID
    seq: int
    event_hash: bytes
    raw: bytes
    received_at: int
    stream: Stream | None
    event: Any
    started: Stream | None = None
    index: int = 0
    receipt: bytes = b""
    conflict: bool = False
    error: BaseException | None = None
    settled: threading.Event = field(default_factory=threading.Event)

    @property
    def key(self) -> _Key:
        return (self.stream_id, self.seq)


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
        signed_checkpoints: SignedCheckpointState | None = None,
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
        # Appends are checked one at a time per process (``_lock``), in the order they are
        # then indexed; their writes are grouped (``_committer``): many appends, one commit.
        # ``_state_lock`` guards the committed stream states and the streams with an append
        # in flight. Other processes are serialized by the database.
        self._lock = threading.RLock()
        self._state_lock = threading.Lock()
        self._tree_lock = threading.Lock()
        self._streams: OrderedDict[uuid.UUID, Stream] = OrderedDict()
        self._inflight: dict[uuid.UUID, _Pending] = {}
        self._committer = GroupCommit(self._write_batch)
        # The last checkpoint signed is kept outside the database (the node's data directory,
        # wired by adapters/bootstrap.py), so a database rolled back is never signed.
        self.tree = TreeKeeper(
            cast(TreeStore, self.recorder),
            ledger_name,
            policy=checkpoint_policy,
            signed=signed_checkpoints,
        )
        if load_registry:
            self.refresh_registry()

    def construct_mapper(self) -> Mapper[uuid.UUID]:
        return AllowlistMapper(MsgpackTranscoder(), ALLOWED_EVENT_CLASSES)

    @property
    def group_commit(self) -> GroupCommit[Any]:
        """The write queue; its ``batches`` and ``items`` counters say how well writes group."""
        return self._committer

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
        record = parse_key_record(raw)
        stream_id = registry_stream_id(record.region)

        def check(stream: Stream | None) -> _Pending | Appended:
            head = stream.head if stream is not None else Head(0, ZERO_HASH)
            if record.seq <= head.seq:
                return self._replay_or_conflict(stream_id, record.seq, raw, head)
            assert stream is None or isinstance(stream, Registry)
            now = self.clock()
            self.refresh_registry()
            self.registry.check(record, now)
            return self._pending(Registry, stream, record, stream_id, record.seq, raw, now)

        # Checking holds until the record is committed and applied: no append is checked
        # against a registry view that is about to change.
        with self._lock:
            return self._append(
                stream_id,
                record.seq,
                check,
                applied=lambda done: self.registry.apply(record, done.received_at, done.index),
            )

    # -- case events -----------------------------------------------------------------------

    def append_event(self, raw: bytes) -> Appended:
        """Verify and append one signed case event; return its receipt once it is durable."""
        return self.append_envelope(parse_event(raw))

    def append_envelope(self, envelope: Envelope) -> Appended:
        """:meth:`append_event` of an envelope the caller already decoded with ``parse_event``
        (its exact bytes are ``envelope.raw``): the HTTP route reads it before appending."""
        raw = envelope.raw
        if envelope.type in LICENSE_EVENT_TYPES:
            # License events share the envelope; the type routes them to their own streams.
            return self._append_license_event(envelope, raw)
        self._check_ledger(envelope)

        def check(case: Stream | None) -> _Pending | Appended:
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
            return self._pending(Case, case, envelope, envelope.case_id, envelope.seq, raw, now)

        return self._append(envelope.case_id, envelope.seq, check)

    # -- the write path: check in order, write in groups, apply once durable -----------------

    def _append(
        self,
        stream_id: uuid.UUID,
        seq: int,
        check: Callable[[Stream | None], _Pending | Appended],
        *,
        applied: Callable[[_Pending], None] | None = None,
    ) -> Appended:
        """Check an append against the stream's committed state, queue it, wait for its
        commit. Appends to one stream are checked one after the other's write settled."""
        fresh = False
        while True:
            with self._lock:
                busy = self._busy(stream_id)
                outcome = None if busy else self._checked(stream_id, seq, check, fresh=fresh)
                if isinstance(outcome, _Pending):
                    with self._state_lock:
                        self._inflight[stream_id] = outcome
                    # Queued under the lock: the ledger indexes follow the order of checking.
                    ticket = self._committer.enqueue(outcome)
            if isinstance(outcome, Appended):
                return outcome
            if outcome is None:
                assert busy is not None
                busy.settled.wait()
                continue
            pending = outcome
            self._committer.wait(ticket)
            if pending.error is not None:
                raise pending.error
            if not pending.conflict:
                break
            if fresh:
                return self._replay_or_conflict(
                    stream_id, pending.seq, pending.raw, self.head(stream_id)
                )
            # Another writer took this seq (or stored these very bytes) first: check again
            # on the stored state (a replay, a conflict, or a stream of another kind).
            fresh = True
        if applied is not None:
            applied(pending)
        with self._tree_lock:
            self._checkpoint_if_due(pending.index, pending.received_at)
        head = Head(pending.seq, pending.event_hash)
        return Appended(True, stream_id, pending.seq, pending.index, pending.receipt, head)

    def _busy(self, stream_id: uuid.UUID) -> _Pending | None:
        with self._state_lock:
            return self._inflight.get(stream_id)

    def _settled(self, stream_id: uuid.UUID) -> None:
        """Wait until no append to ``stream_id`` is in flight (its write decided)."""
        busy = self._busy(stream_id)
        if busy is not None:
            busy.settled.wait()

    def _checked(
        self,
        stream_id: uuid.UUID,
        seq: int,
        check: Callable[[Stream | None], _Pending | Appended],
        *,
        fresh: bool,
    ) -> _Pending | Appended:
        stream, read = self._committed(stream_id, new=seq == 1, reload=fresh)
        try:
            return check(stream)
        except LedgerError:
            if read:
                raise
            # The kept state may be behind another process's writes: refuse only on the
            # stored one. (An append it wrongly allows takes a stored seq and fails its write.)
            stream, _ = self._committed(stream_id, reload=True)
            return check(stream)

    def _committed(
        self, stream_id: uuid.UUID, *, new: bool = False, reload: bool = False
    ) -> tuple[Stream | None, bool]:
        """``(state, read)``: the kept committed state of a stream, or the stored one (``read``).

        A first object (``new``) of a stream not kept here is checked as the first without a
        read: if the stream exists after all, its seq 1 is taken and the write fails."""
        if not reload:
            with self._state_lock:
                stream = self._streams.get(stream_id)
                if stream is not None:
                    self._streams.move_to_end(stream_id)
                    return stream, False
            if new:
                return None, False
        stream = self._get(stream_id)  # a private copy: the repository copies from its cache
        if stream is not None:
            with self._state_lock:
                self._keep(stream)
        return stream, True

    def _keep(self, stream: Stream) -> None:
        self._streams[stream.id] = stream
        self._streams.move_to_end(stream.id)
        while len(self._streams) > STREAM_CACHE_SIZE:
            self._streams.popitem(last=False)

    def _pending(
        self,
        kind: type[Stream],
        stream: Stream | None,
        parsed: Envelope | KeyRecord,
        stream_id: uuid.UUID,
        seq: int,
        raw: bytes,
        now: int,
    ) -> _Pending:
        if self.node_signer is None:
            raise EnvelopeRejected("this node was opened read-only", reason="read_only")
        if stream is None:
            started = kind.start(stream_id, raw, now)
            (event,) = started.collect_events()
            return _Pending(stream_id, seq, parsed.hash, raw, now, None, event, started)
        event = stream.next_object(raw, now, parsed)
        return _Pending(stream_id, seq, parsed.hash, raw, now, stream, event)

    def _write_batch(self, items: list[_Pending]) -> None:
        """The group committer's writer: one transaction for all ``items`` (see ``_write``),
        then the committed ones are applied to the kept states, and every stream is freed."""
        try:
            self._write(items)
        finally:
            with self._state_lock:
                for item in items:
                    try:
                        if not item.receipt:
                            self._streams.pop(item.stream_id, None)
                        elif item.started is not None:
                            self._keep(item.started)
                        else:
                            assert item.stream is not None
                            item.event.mutate(item.stream)
                            self._keep(item.stream)
                    except Exception:
                        # The write stands; only the kept state is in doubt: read it again.
                        self._streams.pop(item.stream_id, None)
                        log.exception("could not apply %s seq %d", item.stream_id, item.seq)
                    finally:
                        # Freed in every case, or the stream's next append would wait forever.
                        del self._inflight[item.stream_id]
                        item.settled.set()

    def _write(self, items: list[_Pending]) -> None:
        assert self.node_signer is not None
        objects = {item.key: (item.event_hash, item.received_at) for item in items}
        maker = _ReceiptMaker(self.node_signer, self.ledger_name, objects)
        stored = [self.mapper.to_stored_event(item.event) for item in items]
        try:
            self.store.append_objects(stored, maker)
        except IntegrityError:
            if len(items) == 1:
                items[0].conflict = True
                return
            # A seq taken meanwhile must fail only its own append: write them one by one.
            for item in items:
                self._write([item])
            return
        except Exception as error:
            for item in items:
                item.error = error
            return
        for item in items:
            item.index, item.receipt = maker.made[item.key]

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

    # -- licenses (ledger.license_events; docs/license.md "Issuance and status in the ledger") --

    def append_license_event(self, raw: bytes) -> Appended:
        """Verify and append one signed license event (issued, suspended, revoked,
        reinstated); return its receipt. ``append_event`` routes license types here too."""
        envelope = parse_event(raw)
        if envelope.type not in LICENSE_EVENT_TYPES:
            raise MalformedEncoding(f"{envelope.type!r} is not a license event type", field="type")
        return self._append_license_event(envelope, raw)

    def _append_license_event(self, envelope: Envelope, raw: bytes) -> Appended:
        self._check_ledger(envelope)

        def check(stream: Stream | None) -> _Pending | Appended:
            if stream is not None and not isinstance(stream, License):
                raise EnvelopeRejected(
                    "that id is not a license", reason="wrong_stream", field="case"
                )
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
            return self._pending(
                License, stream, envelope, envelope.case_id, envelope.seq, raw, now
            )

        return self._append(envelope.case_id, envelope.seq, check)

    def _case_envelopes(self, case_id: uuid.UUID) -> list[Envelope]:
        # A step of that case still in flight is decided first: the license is checked
        # against every step indexed before it, as if appends ran one at a time.
        self._settled(case_id)
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

    def _checkpoint_if_due(self, index: int, now: int) -> None:
        assert self.node_signer is not None
        try:
            self.tree.maybe_issue(index, now, self.node_signer)
        except NotAnExtension as refused:
            # Never signed; the append stands. The operator must see this (docs/transparency.md).
            log.error("refused to issue a checkpoint after ledger index %d: %s", index, refused)
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

    def issue_checkpoint(self, *, accept_rollback: int | None = None) -> Note:
        """Extend the tree, sign a checkpoint of it with the node key, store and return it.

        Refused (``NotAnExtension``) when the tree does not extend the last checkpoint signed;
        ``accept_rollback`` (the size of that checkpoint) is the operator's explicit override.
        """
        if self.node_signer is None:
            raise EnvelopeRejected("this node was opened read-only", reason="read_only")
        with self._tree_lock:
            return self.tree.issue(self.node_signer, self.clock(), accept_rollback=accept_rollback)

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
