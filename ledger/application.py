"""The ledger's application service: every append and read goes through here.

The HTTP API, the CLI and the tests call :class:`LedgerApplication`; none of them holds a
ledger rule. The node's own key signs receipts; it never holds an officer's or a body's key.
What an append must satisfy (ledger, signature, time, workflow, registry) is checked here;
how a checked append is written (in order, in groups, receipts, then state) is its base
class's, :class:`ledger.write_path.StreamWriter`.
"""

from __future__ import annotations

import logging
import threading
import time as _time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, cast

from eventsourcing.persistence import Mapper

from ledger.domain import (
    ALLOWED_EVENT_CLASSES,
    CASE_TOPICS,
    Case,
    License,
    Mirror,
    Registry,
    Stream,
)
from ledger.envelope import ZERO_HASH, Envelope, parse_event
from ledger.errors import (
    EnvelopeRejected,
    Head,
    MalformedEncoding,
    UnknownCase,
)
from ledger.keys import KeyRegistry, UnknownKey, parse_key_record, registry_stream_id
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
from ledger.persistence import AllowlistMapper, LedgerEntry, MsgpackTranscoder
from ledger.relay import check_relayed_time
from ledger.relay_mirror import check_mirror_signatures, parse_mirror
from ledger.suites import Signer
from ledger.transparency import (
    CheckpointPolicy,
    NotAnExtension,
    SignedCheckpointState,
    TreeKeeper,
    TreeStore,
)
from ledger.tree_store import StoredCheckpoint
from ledger.workflow import CaseState, CaseWorkflow, WorkflowPolicy
from ledger.write_path import Appended as Appended
from ledger.write_path import Pending, StreamWriter

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


class LedgerApplication(StreamWriter):
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
        super().__init__(env, ledger_name=ledger_name, node_signer=node_signer)
        self.trusted_roots = dict(trusted_roots)
        self.clock = clock
        self.claim_tolerance = claim_tolerance
        self.workflow = workflow or CaseWorkflow()
        self.home_region = home_region or _region_of(ledger_name)
        self.registry = KeyRegistry(self.trusted_roots, home_region=self.home_region)
        self._registry_checked_at = 0
        self._tree_lock = threading.Lock()
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

    # -- reading ---------------------------------------------------------------------------

    def has_case(self, case_id: uuid.UUID) -> bool:
        """Whether this ledger holds a case of that id."""
        return isinstance(self._get(case_id), Case)

    def get_case(self, case_id: uuid.UUID) -> Case:
        case = self._get(case_id)
        if not isinstance(case, Case):
            raise UnknownCase(f"no case {case_id}", field="case")
        return case

    def stream_entries(self, stream_id: uuid.UUID) -> list[LedgerEntry]:
        """The stored objects of a stream with receipts, in seq order (exact bytes), read
        through the ledger index's (stream, seq) key: one index range read (the audit's row
        view, ``select_stream_rows``, joins both ways and scans the whole ledger on SQLite)."""
        return sorted(
            (
                LedgerEntry(
                    e.index,
                    e.stream_id,
                    e.seq,
                    self.mapper.transcoder.decode(e.envelope)["envelope"],
                    e.receipt,
                )
                for e in self.store.select_stream_entries([stream_id], 0)
            ),
            key=lambda e: e.seq,
        )

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

    def refresh_registry_if_stale(self) -> None:
        """:meth:`refresh_registry` unless this process looked less than
        ``REGISTRY_REFRESH_INTERVAL`` ago: for reads that may miss, for that long, a record
        another worker stored (body names and divisions; never a key's validity)."""
        self._refresh_if_stale(self.clock())

    def append_key_record(self, raw: bytes) -> Appended:
        """Append a key record (of this region or another trusted one) to the registry."""
        record = parse_key_record(raw)
        stream_id = registry_stream_id(record.region)

        def check(stream: Stream | None) -> Pending | Appended:
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

    def append_envelope(self, envelope: Envelope, *, relayed_at: int | None = None) -> Appended:
        """:meth:`append_event` of an envelope the caller already decoded with ``parse_event``
        (its exact bytes are ``envelope.raw``): the HTTP route reads it before appending.

        ``relayed_at`` is the time of a checked relay receipt (``ledger.relay``): the claimed
        time is then held against it, not against this node's clock (docs/envelope.md §9.3)."""
        raw = envelope.raw
        if envelope.type in LICENSE_EVENT_TYPES:
            # License events share the envelope; the type routes them to their own streams.
            return self._append_license_event(envelope, raw)
        self._check_ledger(envelope)
        self._verify_ahead(envelope)

        def check(case: Stream | None) -> Pending | Appended:
            if case is not None and not isinstance(case, Case):
                raise EnvelopeRejected("that id is not a case", reason="wrong_stream", field="case")
            head = case.head if case is not None else Head(0, ZERO_HASH)
            if envelope.seq <= head.seq:
                return self._replay_or_conflict(envelope.case_id, envelope.seq, raw, head)
            now = self.clock()
            self._check_signed_link(envelope, now, case, head, relayed_at=relayed_at)
            self.workflow.step(
                case.flow if case is not None else CaseState(), envelope, self.registry, now
            )
            return self._pending(Case, case, envelope, envelope.case_id, envelope.seq, raw, now)

        return self._append(envelope.case_id, envelope.seq, check)

    def _verify_ahead(self, envelope: Envelope) -> None:
        """Verify the signature before the append lock, with the key the registry holds under
        its key id, so that writers verify at once (SM2 verification through OpenSSL releases
        the GIL). Only a head start: under the lock :meth:`_check_signed_link` looks the key up
        for the signer and the time and verifies, finding the work done if the key is the same;
        a failure here is left for it to report."""
        info = self.registry.keys.get(envelope.key_id)
        if info is None or info.suite != envelope.signed.suite.name:
            return
        try:
            envelope.signed.verify(info.public_key)
        except EnvelopeRejected:
            return

    def _check_ledger(self, envelope: Envelope) -> None:
        if envelope.ledger != self.ledger_name:
            raise EnvelopeRejected(
                f"envelope is for ledger {envelope.ledger!r}, this is {self.ledger_name!r}",
                reason="wrong_ledger",
                field="ledger",
            )

    def _check_signed_link(
        self,
        envelope: Envelope,
        now: int,
        stream: Stream | None,
        head: Head,
        *,
        relayed_at: int | None = None,
    ) -> None:
        """Claimed time, the officer's key at ``now``, the signature, seq and prev."""
        if relayed_at is None:
            self._check_claimed_time(envelope, now, stream)
        else:
            # Not held against the previous step's receipt time: that step may have waited in
            # the same queue and reached this node after this one was signed (§9.3).
            check_relayed_time(envelope.time, relayed_at, now, self.claim_tolerance)
        self._refresh_if_stale(now)
        key_args = {"body_id": envelope.body_id, "officer_id": envelope.officer_id}
        try:
            key = self.registry.event_key_at(envelope.key_id, now, **key_args)
        except UnknownKey:
            self.refresh_registry()  # another worker may have certified it just now
            key = self.registry.event_key_at(envelope.key_id, now, **key_args)
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

    # -- the window's mirror of relayed steps (ledger.relay_mirror) ------------------------

    def append_mirror(self, raw: bytes) -> Appended:
        """Append a mirror object this node signed of a step it relayed and its home node
        accepted; checked: this ledger, the node key now, the relay receipt's node key at its
        time, the officer's key in this registry at that time, seq and prev."""
        mirror = parse_mirror(raw)
        if mirror.ledger != self.ledger_name:
            raise EnvelopeRejected(
                f"mirror is for ledger {mirror.ledger!r}", reason="wrong_ledger", field="ledger"
            )

        def check(stream: Stream | None) -> Pending | Appended:
            if stream is not None and not isinstance(stream, Mirror):
                raise EnvelopeRejected("that id is not a mirror", reason="wrong_stream")
            head = stream.head if stream is not None else Head(0, ZERO_HASH)
            if mirror.seq <= head.seq:
                return self._replay_or_conflict(mirror.stream_id, mirror.seq, raw, head)
            now = self.clock()
            self._refresh_if_stale(now)
            check_mirror_signatures(self.registry, mirror, now)
            if mirror.seq != head.seq + 1 or mirror.prev != head.event_hash:
                raise EnvelopeRejected(
                    f"the mirror is at seq {head.seq}", reason="seq_gap", field="seq"
                )
            return self._pending(Mirror, stream, mirror, mirror.stream_id, mirror.seq, raw, now)

        return self._append(mirror.stream_id, mirror.seq, check)

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

        def check(stream: Stream | None) -> Pending | Appended:
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
            entry.index
            for entry in self.store.select_stream_entries([stream_id], 0)
            if entry.seq <= stream.version
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

    def _durable(self, index: int, received_at: int) -> None:
        with self._tree_lock:
            self._checkpoint_if_due(index, received_at)

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

    def checkpoints_before(self, before_size: int, limit: int) -> list[StoredCheckpoint]:
        """Up to ``limit`` stored checkpoints (with their issue times) of size below
        ``before_size``, largest first: the newest, for a reader paging back."""
        return self.tree.store.checkpoints_before(before_size, limit)

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
