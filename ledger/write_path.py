"""The write path of the ledger: check in order, write in groups, apply once durable.

:class:`StreamWriter` is the base of ``ledger.application.LedgerApplication``: it keeps the
committed state of recently used streams, checks one append at a time against it (the check
itself is the caller's: the ledger's rules), queues the checked appends to a group committer
(many appends, one transaction; ``ledger.groupcommit``), signs each object's receipt inside
that transaction once its ledger index is known, and applies the event to the kept state only
once it is durable. A seq another writer took first is checked again on the stored state: a
repost of the same bytes gets its receipt back, anything else is a conflict.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from ledger.domain import Stream
from ledger.envelope import ZERO_HASH, Envelope, SignedView
from ledger.errors import ConflictError, EnvelopeRejected, Head, LedgerError
from ledger.groupcommit import GroupCommit
from ledger.keys import KeyRecord
from ledger.persistence import LedgerStore
from ledger.receipts import make_receipt
from ledger.suites import Signer

log = logging.getLogger("tongban.ledger")

STREAM_CACHE_SIZE = 10_000  # committed stream states kept for checking appends


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
class Pending:
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


class StreamWriter(Application[uuid.UUID]):
    """Streams of signed objects: their committed states and the checked, grouped, durable
    append (see the module docstring)."""

    def __init__(self, env: Mapping[str, str], *, ledger_name: str, node_signer: Signer | None):
        super().__init__(dict(env))
        self.ledger_name = ledger_name
        self.node_signer = node_signer
        # Appends are checked one at a time per process (``_lock``), in the order they are
        # then indexed; their writes are grouped (``_committer``): many appends, one commit.
        # ``_state_lock`` guards the committed stream states and the streams with an append
        # in flight. Other processes are serialized by the database.
        self._lock = threading.RLock()
        self._state_lock = threading.Lock()
        self._streams: OrderedDict[uuid.UUID, Stream] = OrderedDict()
        self._inflight: dict[uuid.UUID, Pending] = {}
        self._committer = GroupCommit(self._write_batch)

    @property
    def group_commit(self) -> GroupCommit[Any]:
        """The write queue; its ``batches`` and ``items`` counters say how well writes group."""
        return self._committer

    @property
    def store(self) -> LedgerStore:
        return cast(LedgerStore, self.recorder)

    def _get(self, stream_id: uuid.UUID) -> Stream | None:
        try:
            return cast(Stream, self.repository.get(stream_id))
        except AggregateNotFoundError:
            return None

    def head(self, stream_id: uuid.UUID) -> Head:
        stream = self._get(stream_id)
        return stream.head if stream is not None else Head(0, ZERO_HASH)

    def _durable(self, index: int, received_at: int) -> None:
        """Called once an append is committed and applied (the ledger issues checkpoints)."""

    def _append(
        self,
        stream_id: uuid.UUID,
        seq: int,
        check: Callable[[Stream | None], Pending | Appended],
        *,
        applied: Callable[[Pending], None] | None = None,
    ) -> Appended:
        """Check an append against the stream's committed state, queue it, wait for its
        commit. Appends to one stream are checked one after the other's write settled."""
        fresh = False
        while True:
            with self._lock:
                busy = self._busy(stream_id)
                outcome = None if busy else self._checked(stream_id, seq, check, fresh=fresh)
                if isinstance(outcome, Pending):
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
        self._durable(pending.index, pending.received_at)
        head = Head(pending.seq, pending.event_hash)
        return Appended(True, stream_id, pending.seq, pending.index, pending.receipt, head)

    def _busy(self, stream_id: uuid.UUID) -> Pending | None:
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
        check: Callable[[Stream | None], Pending | Appended],
        *,
        fresh: bool,
    ) -> Pending | Appended:
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
        parsed: Envelope | KeyRecord | SignedView,
        stream_id: uuid.UUID,
        seq: int,
        raw: bytes,
        now: int,
    ) -> Pending:
        if self.node_signer is None:
            raise EnvelopeRejected("this node was opened read-only", reason="read_only")
        if stream is None:
            started = kind.start(stream_id, raw, now)
            (event,) = started.collect_events()
            return Pending(stream_id, seq, parsed.hash, raw, now, None, event, started)
        event = stream.next_object(raw, now, parsed)
        return Pending(stream_id, seq, parsed.hash, raw, now, stream, event)

    def _write_batch(self, items: list[Pending]) -> None:
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

    def _write(self, items: list[Pending]) -> None:
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

    def _replay_or_conflict(
        self, stream_id: uuid.UUID, seq: int, raw: bytes, head: Head
    ) -> Appended:
        stored = self.store.select_entry(stream_id, seq)
        if stored is not None:
            stored_raw = self.mapper.transcoder.decode(stored.envelope)["envelope"]
            if stored_raw == raw:
                self.store.confirm_durable()  # its own append may have been refused as unsure
                return Appended(False, stream_id, seq, stored.index, stored.receipt, head)
        raise ConflictError(
            f"seq {seq} of {stream_id} is already taken; the head is seq {head.seq}", head=head
        )
