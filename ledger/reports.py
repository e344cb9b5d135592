"""Reading a ledger for people: one case's timeline, and what each body did (no HTTP, no SQL).

Pure functions over a :class:`~ledger.application.LedgerApplication`; they read the stored rows
(never the node's caches) and work on a read-only node, which has not loaded its key registry:
body names then come from a registry rebuilt the way the audit rebuilds it.

Definitions (the CLI's ``tongban case show`` and ``tongban report bodies`` print these):

- *receipt time*: the time in the node's signed receipt of a step (the stored receipt time
  when the receipt itself is unreadable — the audit then reports ``bad_receipt``);
  *claimed time*: the time the officer signed into the envelope. Both ISO 8601, UTC.
- *since previous*: receipt time of a step minus receipt time of the step before it.
- *status* of a step: ``valid`` when :func:`ledger.audit.verify_case` has no finding at that
  seq, else the finding reasons (``bad_signature``, ``bad_hash``, ``illegal_step``, …).
- *actors* of a case in a state: the bodies that may move it forward — the table's actor of
  every transition out of that state for the case's channel and coordination, leaving out
  ``withdrawn`` (the applicant's request, relayed) and ``mail_problem`` (a courier's report).
- *closed* states (:data:`CLOSED_STATES`): states the table leaves only by ``reopened`` (after
  administrative review or a court ruling) or not at all: ``delivered``, ``refused``,
  ``withdrawn``. A case in any other state is *open*.
- *in the post* (:data:`IN_THE_POST`): states entered by a ``mailed:*`` step; the courier, not a
  body, has the file.
- *holding*: between two consecutive steps a case is held by its actors in the state between
  them — by nobody while it is closed or in the post. A body's *holding time* is the sum, over
  all cases, of those intervals (receipt to receipt) during which it held the case: from the
  step that made it an actor (``received`` for the intake body, ``arrived`` for the home body
  of a proxy case, ``transferred`` for the new home body, ``accepted`` for the origin bodies of
  a joint item) to the step that handed the case on (``mailed``, ``transferred``, ``decided``,
  ``delivered``, …). A window that acts twice on a proxy case (receiving, then handing out the
  result) is charged both stints, not the time the case spent at the home body in between.
  An open case's current interval is not counted until its next step.
- *open cases* of a body: the open cases of which it is an actor now (a case in the post is
  the addressee's: ``arrived`` is its next step).
"""

from __future__ import annotations

import hashlib
import uuid
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from ledger.application import REGISTRY_REFRESH_INTERVAL, LedgerApplication
from ledger.audit import Auditor, AuditReport, CheckedStep, auditor_for
from ledger.canonical import from_micros
from ledger.envelope import Envelope, VerifiedSignatures, parse_event
from ledger.errors import EnvelopeRejected, LedgerError, UnknownCase
from ledger.keys import KeyRegistry, registry_stream_id
from ledger.persistence import LedgerRow
from ledger.receipts import parse_receipt
from ledger.workflow import (
    CLOSED_STATES,
    START,
    TRANSITIONS,
    CaseState,
    advance,
    catalog_item,
    check_body,
)
from ledger.workflow.fields import table_step

__all__ = [
    "CLOSED_STATES",
    "IN_THE_POST",
    "BodyActivity",
    "BodyRef",
    "CaseTimeline",
    "StoredCase",
    "TimelineStep",
    "body_report",
    "case_actors",
    "case_timeline",
    "iso_utc",
    "reading_registry",
    "stored_cases",
]

IN_THE_POST = frozenset(t.next for t in TRANSITIONS if t.step.startswith("mailed:"))
# Steps that do not make their actor the holder of a case (see the module docstring).
_NOT_FORWARD = frozenset({"withdrawn", "mail_problem"})
VALID = "valid"


def iso_utc(micros: int) -> str:
    """Microseconds since the epoch as ISO 8601 UTC, e.g. ``2026-01-01T00:00:00.001000Z``."""
    return from_micros(micros).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def case_actors(flow: CaseState) -> tuple[str, ...]:
    """The bodies that may move an open case forward now (none for a closed one)."""
    if flow.state == START or flow.state in CLOSED_STATES:
        return ()
    forward = (
        t
        for t in TRANSITIONS
        if t.state == flow.state
        and flow.channel in t.channels
        and flow.coordination in t.coordinations
        and t.step not in _NOT_FORWARD
    )
    return tuple(dict.fromkeys(b for t in forward for b in flow.actor_bodies(t.actor) if b))


def _holders(flow: CaseState) -> tuple[str, ...]:
    return () if flow.state in IN_THE_POST else case_actors(flow)


@dataclass(frozen=True)
class BodyRef:
    """A body as the registry names it (``name`` is empty for a body it does not know)."""

    body_id: str
    name: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.body_id, "name": self.name}


@dataclass(frozen=True)
class TimelineStep:
    seq: int
    step: str  # the table step, e.g. ``mailed:window_to_home``
    body: BodyRef
    officer_id: str
    claimed_at: str
    received_at: str
    since_previous: float | None  # seconds, receipt to receipt; None for the first step
    findings: tuple[str, ...] = ()  # audit finding reasons at this seq

    @property
    def status(self) -> str:
        return ", ".join(self.findings) if self.findings else VALID

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "step": self.step,
            "body": self.body.as_dict(),
            "officer": self.officer_id,
            "claimed_at": self.claimed_at,
            "received_at": self.received_at,
            "since_previous": self.since_previous,
            "status": self.status,
        }


@dataclass(frozen=True)
class CaseTimeline:
    case_id: str
    state: str
    item_key: str
    item_name: str  # the national name in the case's pinned catalog version
    channel: str
    coordination: str
    home_body: BodyRef
    window_body: BodyRef | None  # the receiving window of a proxy case
    origin_bodies: tuple[BodyRef, ...]
    steps: tuple[TimelineStep, ...]
    # Findings at no stored step (a missing seq): "seq N: reason".
    other_findings: tuple[str, ...] = ()

    @property
    def closed(self) -> bool:
        return self.state in CLOSED_STATES

    @property
    def valid(self) -> bool:
        return not self.other_findings and all(not s.findings for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "state": self.state,
            "closed": self.closed,
            "item": {"key": self.item_key, "name": self.item_name},
            "channel": self.channel,
            "coordination": self.coordination,
            "home_body": self.home_body.as_dict(),
            "window_body": self.window_body.as_dict() if self.window_body else None,
            "origin_bodies": [b.as_dict() for b in self.origin_bodies],
            "valid": self.valid,
            "steps": [s.as_dict() for s in self.steps],
            "other_findings": list(self.other_findings),
        }


@dataclass(frozen=True)
class BodyActivity:
    body: BodyRef
    steps: dict[str, int]  # table step -> how many this body took
    cases_held: int
    holding_seconds: float
    open_cases: tuple[str, ...]

    @property
    def steps_total(self) -> int:
        return sum(self.steps.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "body": self.body.as_dict(),
            "steps": self.steps,
            "steps_total": self.steps_total,
            "cases_held": self.cases_held,
            "holding_seconds": self.holding_seconds,
            "open_cases": list(self.open_cases),
        }


# -- reading the stored rows ----------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    envelope: Envelope
    step: str
    received_at: int


def _decode(app: LedgerApplication, row: LedgerRow) -> _Step | None:
    """A stored step, or None when it is unreadable (the audit reports it)."""
    if row.state is None:
        return None
    try:
        state = app.mapper.transcoder.decode(row.state)
        envelope = parse_event(state["envelope"])
        stored_time = int(state["received_at"])
    except (LedgerError, ValueError, KeyError, TypeError):  # msgpack errors are ValueErrors
        return None
    try:
        received_at = parse_receipt(row.receipt).time if row.receipt else stored_time
    except LedgerError:
        received_at = stored_time
    try:
        step = check_body(envelope.type, envelope.body)
    except LedgerError:  # a body the rules refuse: show the bare type
        step = envelope.type
    return _Step(envelope, step, received_at)


def _replay(app: LedgerApplication, rows: Iterable[LedgerRow]) -> Iterator[tuple[_Step, CaseState]]:
    """Each readable step with the case's state after it (as the ``Case`` aggregate has it)."""
    flow = CaseState()
    for row in rows:
        taken = _decode(app, row)
        if taken is not None:
            flow = advance(flow, taken.envelope)
            yield taken, flow


#: The signatures case timelines verified, by their exact bytes (one differing byte is another
#: entry, verified again): about 20 a case (its steps and their receipts), so the last thousand
#: cases read; a whole-ledger audit never reads it.
CASE_PAGE_SIGNATURES = VerifiedSignatures(limit=20_000)


def _replay_checked(
    checked: dict[int, CheckedStep], *, clean: bool
) -> Iterator[tuple[_Step, CaseState]]:
    """:func:`_replay` of the steps an audit of the case parsed (``clean``: it found nothing,
    so every body passed the workflow's checks and only needs naming)."""
    flow = CaseState()
    for seq in sorted(checked):
        envelope, moment = checked[seq].envelope, checked[seq].moment
        if clean:
            step = table_step(envelope.type, envelope.body)
        else:
            try:
                step = check_body(envelope.type, envelope.body)
            except LedgerError:  # a body the rules refuse: show the bare type
                step = envelope.type
        flow = advance(flow, envelope)
        yield _Step(envelope, step, moment), flow


def _audited(app: LedgerApplication) -> Auditor:
    """An auditor with every trusted registry loaded (tolerant of bad records, which it
    reports), for body names and per-step verdicts."""
    auditor = auditor_for(app)
    auditor.load_registry()
    return auditor


@dataclass
class _Rebuilt:
    """The registry as the audit rebuilt it, the digest of the stored registry rows it was
    rebuilt from, when those rows were last compared, and the node's registry index then."""

    digest: bytes
    registry: KeyRegistry
    checked_at: int
    last_index: int


# Per node: a case's timeline needs the rebuilt registry on every case page, and rebuilding
# checks every record's and receipt's signature (a node with many officers, many).
_REBUILT: weakref.WeakKeyDictionary[LedgerApplication, _Rebuilt] = weakref.WeakKeyDictionary()


def _registry_rows_digest(app: LedgerApplication) -> bytes:
    """SHA-256 over every stored row of the trusted registries, exactly as stored."""
    digest = hashlib.sha256()
    for root in app.trusted_roots:
        for row in app.store.select_stream_rows(registry_stream_id(root)):
            for value in (row.seq, row.topic, row.index, row.state, row.event_hash, row.receipt):
                part = value if isinstance(value, bytes) else repr(value).encode()
                digest.update(len(part).to_bytes(8, "big") + part)
    return digest.digest()


def _case_auditor(app: LedgerApplication) -> Auditor:
    """An auditor for one case's rows, with the registry as :func:`_audited` rebuilds it,
    rebuilt again when a stored registry row differs from those it was rebuilt from. An
    appended record is seen at once (the node's registry, refreshed by every page's session
    check, has moved); a stored row altered in the database, within
    ``REGISTRY_REFRESH_INTERVAL`` (the rows are compared at most that often: reading every
    registry row on every page cost a case page an eighth of its time). The rebuilt registry
    is only read by a case's checks, so requests may share it."""
    now, last_index = app.clock(), app.registry.last_index
    kept = _REBUILT.get(app)
    if (
        kept is not None
        and kept.last_index == last_index
        and now - kept.checked_at < REGISTRY_REFRESH_INTERVAL
    ):
        return _sharing(app, kept.registry)
    key = _registry_rows_digest(app)
    if kept is not None and kept.digest == key:
        kept.checked_at, kept.last_index = now, last_index
        return _sharing(app, kept.registry)
    auditor = _audited(app)
    _REBUILT[app] = _Rebuilt(key, auditor.registry, now, last_index)
    return auditor


def _sharing(app: LedgerApplication, registry: KeyRegistry) -> Auditor:
    auditor = auditor_for(app)
    auditor.registry = registry
    return auditor


def _registry(app: LedgerApplication) -> KeyRegistry:
    """The node's registry, or for a read-only node one rebuilt as the audit does."""
    return app.registry if app.registry.last_index else _audited(app).registry


def _ref(registry: KeyRegistry, body_id: str) -> BodyRef:
    info = registry.bodies.get(body_id)
    return BodyRef(body_id, info.name if info is not None else "")


# -- the reports ------------------------------------------------------------------------------


def case_timeline(app: LedgerApplication, case_id: uuid.UUID) -> CaseTimeline:
    """Every stored step of a case with who, when and the audit's verdict; raises
    :class:`~ledger.errors.UnknownCase` when the ledger holds no such case."""
    rows = [r for r in app.store.select_stream_rows(case_id) if r.seq is not None]
    if not rows or case_id in {registry_stream_id(r) for r in app.trusted_roots}:
        raise UnknownCase(f"no case {case_id}", field="case")
    # One registry rebuild and one read of the case's rows serve both the verdicts and names.
    auditor = _case_auditor(app)
    checked: dict[int, CheckedStep] = {}
    auditor.checked_steps = checked
    auditor.remembered = CASE_PAGE_SIGNATURES
    auditor.check_rows(rows, AuditReport())
    registry = app.registry if app.registry.last_index else auditor.registry
    by_seq: dict[int, list[str]] = {}
    for finding in auditor.findings:
        if finding.case_id == str(case_id):
            by_seq.setdefault(finding.seq, []).append(finding.reason)
    steps: list[TimelineStep] = []
    replayed = list(_replay_checked(checked, clean=not by_seq))
    flow = replayed[-1][1] if replayed else CaseState()
    previous: int | None = None
    for taken, _ in replayed:
        envelope = taken.envelope
        steps.append(
            TimelineStep(
                seq=envelope.seq,
                step=taken.step,
                body=_ref(registry, envelope.body_id),
                officer_id=envelope.officer_id,
                claimed_at=iso_utc(envelope.time),
                received_at=iso_utc(taken.received_at),
                since_previous=(
                    None if previous is None else (taken.received_at - previous) / 1_000_000
                ),
                findings=tuple(dict.fromkeys(by_seq.pop(envelope.seq, []))),
            )
        )
        previous = taken.received_at
    try:
        item_name = catalog_item(registry.catalogs, flow.catalog_version, flow.item).national_name
    except EnvelopeRejected:  # a case the permissive policy opened without a catalog item
        item_name = ""
    return CaseTimeline(
        case_id=str(case_id),
        state=flow.state,
        item_key=flow.item,
        item_name=item_name,
        channel=flow.channel,
        coordination=flow.coordination,
        home_body=_ref(registry, flow.home_body),
        window_body=_ref(registry, flow.intake_body) if flow.channel == "proxy" else None,
        origin_bodies=tuple(_ref(registry, b) for b in flow.origin_bodies),
        steps=tuple(steps),
        other_findings=tuple(
            f"seq {seq}: {reason}" for seq, reasons in sorted(by_seq.items()) for reason in reasons
        ),
    )


@dataclass
class _Tally:
    steps: Counter[str] = field(default_factory=Counter)
    held: set[uuid.UUID] = field(default_factory=set)
    holding: int = 0  # microseconds
    open_cases: list[str] = field(default_factory=list)


def _tallies(
    app: LedgerApplication, streams: Iterable[tuple[uuid.UUID, Iterable[LedgerRow]]]
) -> dict[str, _Tally]:
    """What each body did in the cases ``streams`` holds (each case's rows in seq order)."""
    tallies: dict[str, _Tally] = {}

    def tally(body_id: str) -> _Tally:
        return tallies.setdefault(body_id, _Tally())

    for stream_id, stream_rows in streams:
        flow, since = CaseState(), 0
        holders: tuple[str, ...] = ()
        for taken, flow in _replay(app, stream_rows):
            tally(taken.envelope.body_id).steps[taken.step] += 1
            for body_id in holders:
                tally(body_id).holding += taken.received_at - since
                tally(body_id).held.add(stream_id)
            holders, since = _holders(flow), taken.received_at
        for body_id in case_actors(flow):
            tally(body_id).open_cases.append(str(stream_id))
    return tallies


def _activity(registry: KeyRegistry, body_id: str, found: _Tally) -> BodyActivity:
    return BodyActivity(
        body=_ref(registry, body_id),
        steps=dict(sorted(found.steps.items())),
        cases_held=len(found.held),
        holding_seconds=found.holding / 1_000_000,
        open_cases=tuple(found.open_cases),
    )


def body_report(app: LedgerApplication) -> list[BodyActivity]:
    """Per body (sorted by id): steps taken by table step, cases held and for how long, open
    cases; definitions in the module docstring. Bodies that never acted are not listed."""
    registry = _registry(app)
    registry_streams = {registry_stream_id(r) for r in app.trusted_roots}
    streams = (
        (stream_id, stream_rows)
        for stream_id, stream_rows in groupby(
            app.store.iter_rows_by_stream(), key=lambda r: r.stream_id
        )
        if stream_id is not None and stream_id not in registry_streams
    )
    tallies = _tallies(app, streams)
    return [_activity(registry, body_id, t) for body_id, t in sorted(tallies.items())]


def body_activity(
    app: LedgerApplication, body_id: str, case_ids: Iterable[uuid.UUID]
) -> BodyActivity:
    """:func:`body_report`'s row of one body, read from ``case_ids`` alone: the cases the body
    is a party to (a listing's, :func:`ledger.case_listing.parties`), which hold every step it
    took and every case it held. A body that did nothing gets a row of zeros."""
    registry = _registry(app)
    streams = ((case_id, app.store.select_stream_rows(case_id)) for case_id in case_ids)
    return _activity(registry, body_id, _tallies(app, streams).get(body_id, _Tally()))


@dataclass(frozen=True)
class StoredCase:
    """One case as stored: its readable steps (envelope, table step, receipt time) and the
    state they lead to; for readers that derive figures from signed facts (supervision)."""

    case_id: uuid.UUID
    steps: tuple[tuple[Envelope, str, int], ...]
    flow: CaseState


def stored_cases(app: LedgerApplication) -> Iterator[StoredCase]:
    """Every case of the ledger in stream order (registry and other streams left out)."""
    registry_streams = {registry_stream_id(r) for r in app.trusted_roots}
    for stream_id, stream_rows in groupby(
        app.store.iter_rows_by_stream(), key=lambda r: r.stream_id
    ):
        if stream_id is None or stream_id in registry_streams:
            continue
        flow = CaseState()
        taken: list[tuple[Envelope, str, int]] = []
        for step, after in _replay(app, stream_rows):
            taken.append((step.envelope, step.step, step.received_at))
            flow = after
        if flow.item:  # a case (opened by ``received``), not another kind of stream
            yield StoredCase(stream_id, tuple(taken), flow)


def reading_registry(app: LedgerApplication) -> KeyRegistry:
    """The node's registry, or for a read-only node one rebuilt as the audit does."""
    return _registry(app)
