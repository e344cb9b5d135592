"""Walking stored streams: each object re-encoded, hashed, linked, matched with its receipt
and its ledger index, its signature checked under the key valid at its receipt time, and its
step replayed against the workflow (the key registries first, then cases and licenses).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ledger.audit.applicants import ApplicantChecks
from ledger.audit.findings import REASONS, AuditReport
from ledger.domain import CASE_TOPICS, LICENSE_TOPICS, MIRROR_TOPICS, REGISTRY_TOPICS
from ledger.envelope import ZERO_HASH, Envelope, VerifiedSignatures, parse_event
from ledger.errors import LedgerError
from ledger.keys import KeyRecord, KeyRevoked, UncertifiedOfficer, parse_key_record
from ledger.license_events import LICENSE_EVENT_TYPES, LicenseState, advance_license, step_license
from ledger.persistence import LedgerRow
from ledger.receipts import Receipt, parse_receipt
from ledger.relay_mirror import check_mirror_signatures, parse_mirror
from ledger.workflow import CaseState, WorkflowPolicy, advance


@dataclass(frozen=True)
class CheckedStep:
    """A readable step as the audit parsed it, with the time it was accepted (its receipt's,
    or the stored time when the receipt is unusable)."""

    envelope: Envelope
    moment: int


@dataclass
class _Chain:
    """What the audit remembers of the stream it is walking: constant memory per stream."""

    stream_id: uuid.UUID
    expected_seq: int = 1
    prev_hash: bytes | None = ZERO_HASH  # None after an unreadable object: nothing to link to
    flow: CaseState = field(default_factory=CaseState)
    is_license: bool = False  # a license stream (ledger.license_events), else a case
    is_mirror: bool = False  # the window's mirror of relayed steps (ledger.relay_mirror)
    license: LicenseState = field(default_factory=LicenseState)
    # False once a step is missing or unreadable: the stream's state is unknown from there on,
    # so its later steps are not replayed (each would be reported illegal for the one gap).
    replayable: bool = True

    def skip(self, seq: int) -> None:
        """Step over an object already reported unreadable, so it is not reported missing too."""
        self.expected_seq = seq + 1
        self.prev_hash = None
        self.replayable = False


class ChainChecks(ApplicantChecks):
    """Every stream walked object by object (part of ``Auditor``)."""

    ledger_name: str
    workflow: WorkflowPolicy
    registry_streams: dict[uuid.UUID, str]
    _first: Envelope | None
    checked_steps: dict[int, CheckedStep] | None
    remembered: VerifiedSignatures | None

    def _decode(self, row: LedgerRow, topics: tuple[str, str]) -> tuple[bytes, int] | None:
        """The stored envelope bytes and receipt time, or a finding.

        ``topics`` are the (first, later) topics this kind of stream may hold: an allowed
        topic of the wrong kind (a case step re-labelled as a key record) is malformed too.
        """
        assert row.stream_id is not None and row.seq is not None
        if row.state is None or row.topic is None:
            self._find(
                row.stream_id,
                row.seq,
                "seq_gap",
                f"event missing; its ledger index {row.index} remains",
            )
            return None
        expected = topics[0] if row.seq == 1 else topics[1]
        if row.topic != expected:
            self._find(
                row.stream_id,
                row.seq,
                "malformed",
                f"stored topic {row.topic!r} where {expected!r} belongs",
            )
            return None
        try:
            self.mapper.event_class(row.topic)
            state = self.mapper.transcoder.decode(row.state)
            envelope, received_at = state["envelope"], state["received_at"]
            if not isinstance(envelope, bytes) or not isinstance(received_at, int):
                raise TypeError("state is not {envelope, received_at}")
        except Exception as error:
            detail = getattr(error, "detail", None) or f"stored state unreadable: {error}"
            self._find(row.stream_id, row.seq, "malformed", str(detail))
            return None
        return envelope, received_at

    def _check_receipt(
        self, row: LedgerRow, object_hash: bytes, received_at: int, hash_ok: bool
    ) -> Receipt | None:
        assert row.stream_id is not None and row.seq is not None
        where = (row.stream_id, row.seq)
        if row.index is None or row.receipt is None:
            self._find(*where, "index_gap", "stored event has no ledger index or receipt")
            return None
        try:
            receipt = parse_receipt(row.receipt)
            node_key = self.registry.node_key_at(receipt.key_id, receipt.time)
            receipt.signed.verify(node_key.public_key, remembered=self.remembered)
        except LedgerError as error:
            self._find(*where, "bad_receipt", f"receipt does not verify: {error.detail}")
            return None
        if (
            receipt.ledger == self.ledger_name
            and receipt.index == row.index
            and receipt.stream_id == row.stream_id
            and receipt.seq == row.seq
            and receipt.time == received_at
            and receipt.event_hash == row.event_hash
            and (receipt.event_hash == object_hash or not hash_ok)
        ):
            return receipt  # the common case, without naming each check
        mismatches = [
            name
            for name, ok in (
                ("ledger", receipt.ledger == self.ledger_name),
                ("index", receipt.index == row.index),
                ("stream", receipt.stream_id == row.stream_id),
                ("seq", receipt.seq == row.seq),
                ("time", receipt.time == received_at),
                ("event", receipt.event_hash == row.event_hash),
                # A changed object is reported once, as bad_hash, not again here.
                ("event", receipt.event_hash == object_hash or not hash_ok),
            )
            if not ok
        ]
        if mismatches:
            self._find(*where, "bad_receipt", f"receipt disagrees on {sorted(set(mismatches))}")
            return None
        return receipt

    def _walk(
        self,
        chain: _Chain,
        row: LedgerRow,
        object_hash: bytes,
        prev: bytes,
        seq: int,
        stream: uuid.UUID,
    ) -> bool:
        """Position, seq continuity, hash and link; True when the row may be checked further."""
        assert row.seq is not None
        if stream != row.stream_id or seq != row.seq:
            self._find(
                row.stream_id,
                row.seq,
                "broken_link",
                f"stored at {row.stream_id}/{row.seq} but signed for {stream}/{seq}",
            )
            chain.expected_seq = row.seq + 1
            chain.prev_hash = object_hash
            return True
        gap = row.seq != chain.expected_seq
        if gap:
            missing = (
                f"seq {chain.expected_seq}"
                if row.seq == chain.expected_seq + 1
                else f"seqs {chain.expected_seq}..{row.seq - 1}"
            )
            self._find(row.stream_id, chain.expected_seq, "seq_gap", f"{missing} missing")
            chain.replayable = False
        # No index row (reported as index_gap) means no recorded hash to compare with.
        if row.event_hash is not None and row.event_hash != object_hash:
            self._find(
                row.stream_id,
                row.seq,
                "bad_hash",
                "stored bytes do not hash to the hash recorded when they were accepted",
            )
        elif not gap and chain.prev_hash is not None and prev != chain.prev_hash:
            self._find(
                row.stream_id,
                row.seq,
                "broken_link",
                "prev is not the hash of the previous stored object",
            )
        chain.expected_seq = row.seq + 1
        chain.prev_hash = object_hash
        return True

    # -- the registry ----------------------------------------------------------------------

    def load_registry(self) -> None:
        """Rebuild every trusted region's registry from its stored records, checking each."""
        pending: list[tuple[LedgerRow, bytes, int]] = []
        for stream_id, region in self.registry_streams.items():
            chain = _Chain(stream_id)
            for row in self.store.select_stream_rows(stream_id):
                decoded = self._decode(row, REGISTRY_TOPICS)
                if decoded is None:
                    chain.skip(row.seq or 0)
                    continue
                raw, received_at = decoded
                try:
                    record = parse_key_record(raw)
                except LedgerError as error:
                    reason = error.reason if error.reason in REASONS else "malformed"
                    self._find(stream_id, row.seq or 0, reason, f"key record: {error.detail}")
                    chain.skip(row.seq or 0)
                    continue
                if record.region != region:
                    # Applied, it would move another region's registry (or none: untrusted).
                    self._find(
                        stream_id,
                        row.seq or 0,
                        "malformed",
                        f"key record of region {record.region!r} in the registry of {region}",
                    )
                    chain.skip(row.seq or 0)
                    continue
                self._walk(chain, row, record.hash, record.prev, record.seq, stream_id)
                self._apply_record(row, record, received_at)
                pending.append((row, record.hash, received_at))
        # Receipts of registry records are checked once every node key is known.
        for row, object_hash, received_at in pending:
            self._check_receipt(row, object_hash, received_at, row.event_hash == object_hash)

    def _apply_record(self, row: LedgerRow, record: KeyRecord, received_at: int) -> None:
        state = self.registry.regions[record.region]
        if record.seq != state.seq + 1:
            # Realign after a gap or a broken link (already reported) so later records apply.
            state.seq, state.head = record.seq - 1, record.prev
        try:
            self.registry.apply(record, received_at, row.index or 0)
        except LedgerError as error:
            self._find(
                row.stream_id,
                row.seq or 0,
                error.reason
                if error.reason in REASONS
                else "bad_signature"
                if error.reason == "bad_signature"
                else error.reason,
                f"key record refused: {error.detail}",
            )

    # -- cases -----------------------------------------------------------------------------

    def check_rows(
        self,
        rows: Iterable[LedgerRow],
        report: AuditReport,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        chain: _Chain | None = None
        for row in rows:
            if row.stream_id is None or row.seq is None or row.stream_id in self.registry_streams:
                continue
            if chain is None or chain.stream_id != row.stream_id:
                is_mirror = row.topic in MIRROR_TOPICS
                is_license = not is_mirror and self._is_license(row)
                chain = _Chain(row.stream_id, is_license=is_license, is_mirror=is_mirror)
                if chain.is_license:
                    report.licenses += 1
                elif not is_mirror:
                    report.cases += 1
            report.events += 1
            if chain.is_mirror:
                self._check_mirror(chain, row)
            else:
                self._check_event(chain, row)
            if progress is not None:
                progress(1)

    def _check_mirror(self, chain: _Chain, row: LedgerRow) -> None:
        """A mirror object (``ledger.relay_mirror``): its link and receipt like any object's,
        then the node's signatures and the officer's, under this ledger's own registry."""
        assert row.stream_id is not None and row.seq is not None
        decoded = self._decode(row, MIRROR_TOPICS)
        if decoded is None:
            chain.skip(row.seq)
            return
        raw, received_at = decoded
        try:
            mirror = parse_mirror(raw)
        except LedgerError as error:
            self._find(row.stream_id, row.seq, "malformed", f"mirror: {error.detail}")
            chain.skip(row.seq)
            return
        if mirror.ledger != self.ledger_name:
            self._find(row.stream_id, row.seq, "malformed", f"mirror names {mirror.ledger!r}")
        self._walk(chain, row, mirror.hash, mirror.prev, mirror.seq, mirror.stream_id)
        receipt = self._check_receipt(row, mirror.hash, received_at, row.event_hash == mirror.hash)
        moment = receipt.time if receipt is not None else received_at
        try:
            check_mirror_signatures(self.registry, mirror, moment)
        except LedgerError as error:
            reason = error.reason if error.reason in REASONS else "bad_signature"
            self._find(row.stream_id, row.seq, reason, f"mirror: {error.detail}")

    def _is_license(self, row: LedgerRow) -> bool:
        """Whether the stream whose first stored row is ``row`` is a license.

        Decided by the signed type where it can be read, so relabelling a row's topic cannot
        turn a license into a case or back (``_decode`` then reports the topic); by the topic
        only when the object is unreadable.
        """
        try:
            raw = self.mapper.transcoder.decode(row.state or b"")["envelope"]
            envelope = parse_event(raw)
        except Exception:
            return row.topic in LICENSE_TOPICS
        self._first = envelope  # _check_event reuses it for the same bytes
        return envelope.type in LICENSE_EVENT_TYPES

    def _advance(self, chain: _Chain, envelope: Envelope) -> None:
        if chain.is_license:
            chain.license = advance_license(chain.license, envelope)
        else:
            chain.flow = advance(chain.flow, envelope)

    def _check_event(self, chain: _Chain, row: LedgerRow) -> None:
        assert row.stream_id is not None and row.seq is not None
        where = (row.stream_id, row.seq)
        decoded = self._decode(row, LICENSE_TOPICS if chain.is_license else CASE_TOPICS)
        if decoded is None:
            chain.skip(row.seq)
            return
        raw, received_at = decoded
        first, self._first = self._first, None
        try:
            envelope = first if first is not None and first.raw == raw else parse_event(raw)
        except LedgerError as error:
            reason = error.reason if error.reason in REASONS else "malformed"
            self._find(*where, reason, f"envelope: {error.detail}")
            chain.skip(row.seq)
            return
        if envelope.ledger != self.ledger_name:
            self._find(*where, "malformed", f"envelope names ledger {envelope.ledger!r}")
        self._walk(chain, row, envelope.hash, envelope.prev, envelope.seq, envelope.case_id)
        hash_ok = row.event_hash == envelope.hash
        receipt = self._check_receipt(row, envelope.hash, received_at, hash_ok)
        moment = receipt.time if receipt is not None else received_at
        if self.checked_steps is not None:
            self.checked_steps[row.seq] = CheckedStep(envelope, moment)
        try:
            key = self.registry.event_key_at(
                envelope.key_id, moment, body_id=envelope.body_id, officer_id=envelope.officer_id
            )
        except KeyRevoked as error:
            revoked = self.registry.keys[envelope.key_id]
            after_the_fact = (revoked.revoked_at_index or 0) > (row.index or 0)
            self._policy_or_integrity(row, error, after_the_fact)
            key = revoked
        except UncertifiedOfficer as error:
            info = self.registry.keys.get(envelope.key_id)
            certifier = self.registry.keys.get(info.certified_by) if info else None
            after_the_fact = bool(
                certifier is not None
                and info is not None
                and info.owner == envelope.body_id
                and info.officer_id == envelope.officer_id
                and (certifier.revoked_at_index or 0) > (row.index or 0)
            )
            self._policy_or_integrity(row, error, after_the_fact)
            if not after_the_fact:
                self._advance(chain, envelope)
                return
            assert info is not None
            key = info
        except LedgerError as error:
            self._find(*where, error.reason, error.detail)
            self._advance(chain, envelope)
            return
        # Without an index row (reported as index_gap) there is no time of acceptance to
        # compare the key's registration with.
        if row.index is not None and key.registered_index > row.index:
            self._find(
                *where, "unknown_key", f"key {key.kid} was registered after this event was accepted"
            )
        try:
            envelope.signed.verify(key.public_key, remembered=self.remembered)
        except LedgerError as error:
            self._find(*where, "bad_signature", error.detail)
        self._replay_step(chain, row, envelope, moment)
        if self.applicants is not None and not chain.is_license and envelope.type == "received":
            self._check_applicant(row, envelope)

    def _replay_step(self, chain: _Chain, row: LedgerRow, envelope: Envelope, moment: int) -> None:
        """Check the step against the workflow under the case's own pinned catalog version
        (a license event: against ``ledger.license_events`` and its case as stored before it)."""
        assert row.seq is not None
        if not chain.replayable:
            return
        if chain.is_license:
            self._replay_license(chain, row, envelope)
            return
        if envelope.type in LICENSE_EVENT_TYPES:
            self._find(row.stream_id, row.seq, "illegal_step", "a license event in a case")
            return
        try:
            chain.flow = self.workflow.step(chain.flow, envelope, self.registry, moment)
        except LedgerError as error:
            self._find(row.stream_id, row.seq, "illegal_step", f"{error.reason}: {error.detail}")
            chain.flow = advance(chain.flow, envelope)

    def _replay_license(self, chain: _Chain, row: LedgerRow, envelope: Envelope) -> None:
        assert row.seq is not None
        case: list[Envelope] = []
        if envelope.type == "license_issued" and isinstance(envelope.body.get("case"), str):
            case = self._case_before(envelope.body["case"], row.index or 0)
        try:
            chain.license = step_license(chain.license, envelope, case)
        except LedgerError as error:
            self._find(row.stream_id, row.seq, "illegal_step", f"{error.reason}: {error.detail}")
            chain.license = advance_license(chain.license, envelope)

    def _case_before(self, case_text: str, index: int) -> list[Envelope]:
        """The case's readable envelopes stored before ledger index ``index`` (its own
        integrity is checked when its stream is walked)."""
        try:
            case_id = uuid.UUID(case_text)
        except ValueError:
            return []
        found = []
        for row in self.store.select_stream_rows(case_id):
            if row.index is None or row.index >= index or row.topic not in CASE_TOPICS:
                continue
            try:
                found.append(
                    parse_event(self.mapper.transcoder.decode(row.state or b"")["envelope"])
                )
            except Exception:
                continue
        return found
