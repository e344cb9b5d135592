"""The aggregates whose events are signed envelopes: cases, key registries and licenses.

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
from ledger.licensing import LicenseState, advance_license
from ledger.workflow import CaseState, advance


class Stream(Aggregate):
    """A chain of signed objects: seq, head hash and last receipt time.

    State is set by the events' ``apply`` (eventsourcing turns annotated class attributes into
    constructor fields, which these aggregates do not take).
    """

    head_hash = ZERO_HASH
    last_received_at = 0

    # The event classes of a stream's first object and of every later one (set below).
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

    def add(self, envelope: bytes, received_at: int) -> None:
        """The stream's next object."""
        self.trigger_event(
            self.next_event,
            envelope=envelope,
            received_at=received_at,
            timestamp=from_micros(received_at),
        )


class Case(Stream):
    """One case: the steps taken on it, in order."""

    if TYPE_CHECKING:  # set by Opened.apply; eventsourcing would make it a constructor field
        steps: list[tuple[int, str, str, str]]
        flow: CaseState

    class Opened(Aggregate.Created):
        envelope: bytes
        received_at: int

        def apply(self, aggregate: Any) -> None:
            aggregate.steps = []
            aggregate.flow = CaseState()
            aggregate._take(self.envelope, self.received_at)

    class StepTaken(Aggregate.Event):
        envelope: bytes
        received_at: int

        def apply(self, aggregate: Any) -> None:
            aggregate._take(self.envelope, self.received_at)

    def _take(self, raw: bytes, received_at: int) -> None:
        envelope = parse_event(raw)
        # (seq, type, body, officer) of every step, for timelines and the workflow.
        self.steps.append((envelope.seq, envelope.type, envelope.body_id, envelope.officer_id))
        self.flow = advance(self.flow, envelope)
        self.head_hash = envelope.hash
        self.last_received_at = received_at


class Registry(Stream):
    """One region's key registry as stored on this node."""

    class Established(Aggregate.Created):
        envelope: bytes
        received_at: int

        def apply(self, aggregate: Any) -> None:
            aggregate._take(self.envelope, self.received_at)

    class Recorded(Aggregate.Event):
        envelope: bytes
        received_at: int

        def apply(self, aggregate: Any) -> None:
            aggregate._take(self.envelope, self.received_at)

    def _take(self, raw: bytes, received_at: int) -> None:
        self.head_hash = parse_key_record(raw).hash
        self.last_received_at = received_at


class License(Stream):
    """One electronic license: its issuance and status changes (``ledger.licensing``)."""

    if TYPE_CHECKING:  # set by Issued.apply
        license: LicenseState

    class Issued(Aggregate.Created):
        envelope: bytes
        received_at: int

        def apply(self, aggregate: Any) -> None:
            aggregate.license = LicenseState()
            aggregate._take(self.envelope, self.received_at)

    class StatusChanged(Aggregate.Event):
        envelope: bytes
        received_at: int

        def apply(self, aggregate: Any) -> None:
            aggregate._take(self.envelope, self.received_at)

    def _take(self, raw: bytes, received_at: int) -> None:
        envelope = parse_event(raw)
        self.license = advance_license(self.license, envelope)
        self.head_hash = envelope.hash
        self.last_received_at = received_at


# The only topics a stored row may name. Created events also name their aggregate class.
ALLOWED_EVENT_CLASSES: dict[str, type[Any]] = {
    "tongban.case.opened": Case.Opened,
    "tongban.case.step": Case.StepTaken,
    "tongban.registry.established": Registry.Established,
    "tongban.registry.recorded": Registry.Recorded,
    "tongban.license.issued": License.Issued,
    "tongban.license.status": License.StatusChanged,
}
Case.first_event, Case.next_event = Case.Opened, Case.StepTaken
Registry.first_event, Registry.next_event = Registry.Established, Registry.Recorded
License.first_event, License.next_event = License.Issued, License.StatusChanged
Case.Opened.aggregate_topic = get_topic(Case)  # type: ignore[attr-defined]
Registry.Established.aggregate_topic = get_topic(Registry)  # type: ignore[attr-defined]
License.Issued.aggregate_topic = get_topic(License)  # type: ignore[attr-defined]
# (first object, later objects) of each kind of stream.
CASE_TOPICS = ("tongban.case.opened", "tongban.case.step")
REGISTRY_TOPICS = ("tongban.registry.established", "tongban.registry.recorded")
LICENSE_TOPICS = ("tongban.license.issued", "tongban.license.status")
