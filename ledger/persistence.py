"""The ledger's view of storage: its transcoder, its allowlisted mapper, its store protocol.

No SQL here: the recorders in ``adapters/`` implement :class:`LedgerStore` on SQLite and
PostgreSQL. A stored event's state is msgpack of ``{"envelope": bin, "received_at": int}``:
the exact signed bytes and the receipt time. Topics are looked up in :data:`ALLOWED_TOPICS`
only, so nothing in a stored row can make the code import a module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgpack
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder

from ledger.canonical import from_micros
from ledger.errors import MalformedEncoding


class MsgpackTranscoder(Transcoder):
    """Stored event state as msgpack; only the types our events hold."""

    def encode(self, obj: Any) -> bytes:
        return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]

    def decode(self, data: bytes) -> Any:
        return msgpack.unpackb(data, raw=False, strict_map_key=True)


@dataclass(frozen=True)
class LedgerRow:
    """One stored object with its place in the ledger; fields are None when a row is missing."""

    stream_id: uuid.UUID | None
    seq: int | None
    topic: str | None
    state: bytes | None
    index: int | None
    event_hash: bytes | None
    receipt: bytes | None


@dataclass(frozen=True)
class LedgerEntry:
    """An object the node accepted: its exact bytes, its receipt and its ledger index."""

    index: int
    stream_id: uuid.UUID
    seq: int
    envelope: bytes
    receipt: bytes


class ReceiptMaker(Protocol):
    """Called by a recorder inside the insert transaction, once the ledger index is known."""

    def receipt_for(self, stream_id: uuid.UUID, seq: int, index: int) -> tuple[bytes, bytes]:
        """``(event_hash, receipt bytes)`` for the object stored at ``stream_id``/``seq``."""
        ...


class LedgerStore(Protocol):
    """What the ledger needs of a recorder beyond eventsourcing's ``ApplicationRecorder``."""

    def append_objects(self, stored_events: Sequence[StoredEvent], maker: ReceiptMaker) -> None:
        """Store ``stored_events`` and their ledger rows in one transaction, at the next ledger
        indexes in the given order (receipts from ``maker``, asked again if another writer
        took those indexes first); return once committed and durable. Raises eventsourcing's
        ``IntegrityError``, storing nothing, if any stream and seq is already taken."""
        ...

    def select_entry(self, stream_id: uuid.UUID, seq: int) -> LedgerEntry | None: ...

    def confirm_durable(self) -> None:
        """Return once everything committed before is as durable as a new append's commit
        (on a replicated database: on the synchronous standby too). A stored object found
        again (a replay) is acknowledged only after this: its first append may have failed
        as not confirmed. Raises like :meth:`append_objects` when it cannot confirm."""
        ...

    def select_stream_rows(self, stream_id: uuid.UUID) -> list[LedgerRow]: ...

    def iter_rows_by_stream(
        self, batch_size: int = 1000, *, stream_range: tuple[uuid.UUID, uuid.UUID] | None = None
    ) -> Iterator[LedgerRow]:
        """Every row of events and ledger index, ordered by stream then seq (both tables);
        with ``stream_range``, only streams whose id lies in it (both ends included)."""
        ...

    def iter_indexes(self, batch_size: int = 10000) -> Iterator[int]:
        """Every ledger index in ascending order."""
        ...

    def select_stream_entries(
        self, stream_ids: Sequence[uuid.UUID], after_index: int
    ) -> list[LedgerEntry]:
        """Objects of the given streams stored after ``after_index``, in index order."""
        ...

    def select_entries(self, after_index: int, limit: int) -> list[LedgerEntry]: ...

    def select_stream_ids(self, topic: str) -> list[uuid.UUID]:
        """Ids of the streams whose first object has ``topic``, in ledger-index order."""
        ...

    def max_index(self) -> int: ...


class AllowlistMapper(Mapper[uuid.UUID]):
    """A mapper that resolves stored topics through a fixed table, never by importing."""

    def __init__(self, transcoder: Transcoder, allowed: Mapping[str, type[Any]]):
        super().__init__(transcoder)
        self.allowed = dict(allowed)
        self.topics = {cls: topic for topic, cls in self.allowed.items()}

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        topic = self.topics[type(domain_event)]
        state = {"envelope": domain_event.envelope, "received_at": domain_event.received_at}
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=topic,
            state=self.transcoder.encode(state),
        )

    def event_class(self, topic: str) -> type[Any]:
        try:
            return self.allowed[topic]
        except KeyError:
            raise MalformedEncoding(
                f"stored topic {topic!r} is not allowed", field="topic"
            ) from None

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = self.event_class(stored_event.topic)
        try:
            state = self.transcoder.decode(stored_event.state)
            envelope, received_at = state["envelope"], state["received_at"]
        except Exception as error:
            raise MalformedEncoding(f"stored state unreadable: {error}", field="state") from error
        if not isinstance(envelope, bytes) or not isinstance(received_at, int) or len(state) != 2:
            raise MalformedEncoding("stored state is not {envelope, received_at}", field="state")
        event_state: dict[str, Any] = {
            "originator_id": stored_event.originator_id,
            "originator_version": stored_event.originator_version,
            "timestamp": from_micros(received_at),
            "envelope": envelope,
            "received_at": received_at,
        }
        aggregate_topic = getattr(cls, "aggregate_topic", None)
        if aggregate_topic is not None:
            # Created events name their aggregate class; we supply it from the allowlist
            # instead of trusting a topic stored in the row.
            event_state["originator_topic"] = aggregate_topic
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", event_state)
        return event
