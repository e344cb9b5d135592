"""The aggregates whose events are signed envelopes: cases, key registries, licenses and the
window's relay mirrors.

Each aggregate event holds the exact signed bytes (``envelope``) and the node's receipt time
(``received_at``, microseconds); the aggregate's version is the object's ``seq``. Applying an
event decodes the envelope and advances the head (seq, hash, last receipt time); the case
workflow (``ledger.workflow``) is applied on top.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Self

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from ledger.canonical import from_micros
from ledger.envelope import ZERO_HASH, parse_event
from ledger.errors import Head
from ledger.keys import parse_key_record
from ledger.license_events import LicenseState, advance_license
from ledger.relay_mirror import parse_mirror
from ledger.workflow import CaseState, advance


class Stream(Aggregate):
    """A chain of signed objects: seq, head hash and last receipt time.

    Every stream kind stores the same two events — its first object and every later one,
    each the exact signed bytes and the receipt time — and differs only in how an object
    changes its state (``_begin`` and ``_absorb``). State is set by the events' ``apply``
    (eventsourcing turns annotated class attributes into constructor fields, which these
    aggregates do not take).
    """

    head_hash = ZERO_HASH
    last_received_at = 0

    class First(Aggregate.Created):
        envelope: bytes
        received_at: int

        def apply(self, aggregate: Any) -> None:
            aggregate._begin()
            aggregate._take(self.envelope, self.received_at)

    class Next(Aggregate.Event):
        envelope: bytes
        received_at: int

        def apply(self, aggregate: Any) -> None:
            aggregate._take(self.envelope, self.received_at, getattr(self, "parsed", None))

    # The concrete event classes of each stream kind (set below, after the classes exist).
    first_event: ClassVar[type[Any]]
    next_event: ClassVar[type[Any]]

    @property
    def head(self) -> Head:
        return Head(self.version, self.head_hash)

    @classmethod
    def start(cls, stream_id: uuid.UUID, envelope: bytes, received_at: int) -> Self:
        """A new stream whose first object is ``envelope``, received at ``received_at`` (µs)."""
        stream: Self = cls._create(
            cls.first_event,
            id=stream_id,
            envelope=envelope,
            received_at=received_at,
            timestamp=from_micros(received_at),
        )
        return stream

    def next_object(self, envelope: bytes, received_at: int, parsed: Any = None) -> Any:
        """The event of the stream's next object, not applied: the ledger applies it with
        ``event.mutate(stream)`` once it is committed, so a failed write leaves no trace.
        ``parsed`` is the object as the caller already decoded it from ``envelope``."""
        event = self.next_event(
            originator_id=self.id,
            originator_version=self.version + 1,
            timestamp=from_micros(received_at),
            envelope=envelope,
            received_at=received_at,
        )
        # Not a field (never stored): applying it need not decode the envelope again.
        object.__setattr__(event, "parsed", parsed)
        return event

    def _begin(self) -> None:
        """Initial state, before the first object is absorbed."""

    def _absorb(self, raw: bytes, parsed: Any) -> bytes:
        """Change the state by one stored object (``parsed``: its decoded form, or None);
        return the object's hash."""
        raise NotImplementedError

    def _take(self, raw: bytes, received_at: int, parsed: Any = None) -> None:
        self.head_hash = self._absorb(raw, parsed)
        self.last_received_at = received_at


class Case(Stream):
    """One case: the steps taken on it, in order."""

    if TYPE_CHECKING:  # set by _begin; eventsourcing would make them constructor fields
        steps: list[tuple[int, str, str, str]]
        flow: CaseState

    class Opened(Stream.First):
        pass

    class StepTaken(Stream.Next):
        pass

    def _begin(self) -> None:
        self.steps = []
        self.flow = CaseState()

    def _absorb(self, raw: bytes, parsed: Any) -> bytes:
        envelope = parsed or parse_event(raw)
        # (seq, type, body, officer) of every step, for timelines and the workflow.
        self.steps.append((envelope.seq, envelope.type, envelope.body_id, envelope.officer_id))
        self.flow = advance(self.flow, envelope)
        return envelope.hash


class Registry(Stream):
    """One region's key registry as stored on this node."""

    class Established(Stream.First):
        pass

    class Recorded(Stream.Next):
        pass

    def _absorb(self, raw: bytes, parsed: Any) -> bytes:
        return (parsed or parse_key_record(raw)).hash


class License(Stream):
    """One electronic license: its issuance and status changes (``ledger.license_events``)."""

    if TYPE_CHECKING:  # set by _begin
        license: LicenseState

    class Issued(Stream.First):
        pass

    class StatusChanged(Stream.Next):
        pass

    def _begin(self) -> None:
        self.license = LicenseState()

    def _absorb(self, raw: bytes, parsed: Any) -> bytes:
        envelope = parsed or parse_event(raw)
        self.license = advance_license(self.license, envelope)
        return envelope.hash


class Mirror(Stream):
    """The window's mirror of the steps its officers signed for one other ledger
    (``ledger.relay_mirror``)."""

    class Began(Stream.First):
        pass

    class Mirrored(Stream.Next):
        pass

    def _absorb(self, raw: bytes, parsed: Any) -> bytes:
        return (parsed or parse_mirror(raw)).hash


# The only topics a stored row may name. Created events also name their aggregate class.
ALLOWED_EVENT_CLASSES: dict[str, type[Any]] = {
    "tongban.case.opened": Case.Opened,
    "tongban.case.step": Case.StepTaken,
    "tongban.registry.established": Registry.Established,
    "tongban.registry.recorded": Registry.Recorded,
    "tongban.license.issued": License.Issued,
    "tongban.license.status": License.StatusChanged,
    "tongban.mirror.began": Mirror.Began,
    "tongban.mirror.step": Mirror.Mirrored,
}
for _kind, _first, _next in (
    (Case, Case.Opened, Case.StepTaken),
    (Registry, Registry.Established, Registry.Recorded),
    (License, License.Issued, License.StatusChanged),
    (Mirror, Mirror.Began, Mirror.Mirrored),
):
    _kind.first_event, _kind.next_event = _first, _next
    _first.aggregate_topic = get_topic(_kind)  # type: ignore[union-attr]
# (first object, later objects) of each kind of stream.
CASE_TOPICS = ("tongban.case.opened", "tongban.case.step")
REGISTRY_TOPICS = ("tongban.registry.established", "tongban.registry.recorded")
LICENSE_TOPICS = ("tongban.license.issued", "tongban.license.status")
MIRROR_TOPICS = ("tongban.mirror.began", "tongban.mirror.step")
