"""Verifying stored chains: ``verify_case`` and ``verify_ledger`` (``docs/audit.md``).

The audit re-reads what is stored and trusts nothing the node computed: every object is
re-encoded canonically, hashed, linked to its predecessor, matched with its receipt and its
dense ledger index, and its signature checked under the key valid at its receipt time, with
the certification chain officer → body → root rebuilt from the configured roots alone.

Findings are ``(case_id, seq, reason, detail, kind)``. *Integrity* findings mean stored bytes
are wrong; *policy* findings are valid signatures the rules now condemn (a key revoked after
the fact), which an administrator can resolve with a signed ``ratified``/``repudiated`` record.
Given the node's applicants (``ledger.opening.ApplicantRecords``), the audit also checks each
case's ``received`` step against the rules of opening a case: its applicant ref used by one
case only, bound to it, and its commitments those of a stored applicant (policy findings).
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

from ledger import merkle
from ledger.domain import CASE_TOPICS, LICENSE_TOPICS, REGISTRY_TOPICS
from ledger.envelope import ZERO_HASH, Envelope, parse_event
from ledger.errors import LedgerError
from ledger.keys import (
    NODE,
    KeyRecord,
    KeyRegistry,
    KeyRevoked,
    UncertifiedOfficer,
    ledger_home_region,
    parse_key_record,
    registry_stream_id,
)
from ledger.license_events import LICENSE_EVENT_TYPES, LicenseState, advance_license, step_license
from ledger.notes import parse_checkpoint, parse_note, verify_note
from ledger.opening import (
    APPLICANT_REASONS,
    ApplicantRecords,
    applicant_problems,
    signed_applicant,
)
from ledger.persistence import AllowlistMapper, LedgerRow, LedgerStore
from ledger.receipts import Receipt, parse_receipt
from ledger.transparency import StoredCheckpoint, TreeStore, iter_checkpoints, iter_object_hashes
from ledger.workflow import CaseState, WorkflowPolicy, advance

INTEGRITY = "integrity"
POLICY = "policy"
MAX_LISTED = 10  # checkpoints (or index ranges) named one by one; the rest are summed up
# Rows read per query by every pass: what bounds the audit's memory, whatever the ledger's size.
AUDIT_BATCH = 1000

# The documented reasons, in the order a row's checks run.
REASONS = (
    "malformed",
    "unsupported_suite",
    "bad_hash",
    "broken_link",
    "seq_gap",
    "index_gap",
    "bad_receipt",
    "bad_signature",
    "unknown_key",
    "key_not_valid_at_time",
    "key_revoked",
    "uncertified_officer",
    "illegal_step",
    *APPLICANT_REASONS,
    "bad_checkpoint",
    "missing_from_tree",
    "root_mismatch",
)


@dataclass(frozen=True)
class Finding:
    case_id: str
    seq: int
    reason: str
    detail: str
    kind: str = INTEGRITY
    resolution: str | None = None  # ratified / repudiated, for resolved policy findings

    def as_dict(self) -> dict[str, Any]:
        found = {
            "case_id": self.case_id,
            "seq": self.seq,
            "reason": self.reason,
            "detail": self.detail,
            "kind": self.kind,
        }
        if self.resolution is not None:
            found["resolution"] = self.resolution
        return found


@dataclass
class AuditReport:
    events: int = 0
    cases: int = 0
    licenses: int = 0  # license streams (counted apart from cases)
    findings: list[Finding] = field(default_factory=list)

    @property
    def integrity_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == INTEGRITY]

    @property
    def open_policy_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == POLICY and f.resolution is None]

    @property
    def ok(self) -> bool:
        return not self.integrity_findings and not self.open_policy_findings

    @property
    def exit_code(self) -> int:
        """0 clean, 1 any integrity finding, 2 only unresolved policy findings."""
        if self.integrity_findings:
            return 1
        return 2 if self.open_policy_findings else 0

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"ok": self.ok, "events": self.events, "cases": self.cases}
        if self.licenses:
            found["licenses"] = self.licenses
        found["findings"] = [f.as_dict() for f in self.findings]
        return found


@dataclass
class _Chain:
    """What the audit remembers of the stream it is walking: constant memory per stream."""

    stream_id: uuid.UUID
    expected_seq: int = 1
    prev_hash: bytes | None = ZERO_HASH  # None after an unreadable object: nothing to link to
    flow: CaseState = field(default_factory=CaseState)
    is_license: bool = False  # a license stream (ledger.license_events), else a case
    license: LicenseState = field(default_factory=LicenseState)
    # False once a step is missing or unreadable: the stream's state is unknown from there on,
    # so its later steps are not replayed (each would be reported illegal for the one gap).
    replayable: bool = True

    def skip(self, seq: int) -> None:
        """Step over an object already reported unreadable, so it is not reported missing too."""
        self.expected_seq = seq + 1
        self.prev_hash = None
        self.replayable = False


class Auditor:
    def __init__(
        self,
        store: LedgerStore,
        mapper: AllowlistMapper,
        *,
        ledger_name: str,
        trusted_roots: dict[str, bytes],
        home_region: str = "",
        workflow: WorkflowPolicy | None = None,
        applicants: ApplicantRecords | None = None,
    ):
        self.workflow = workflow or WorkflowPolicy()
        self.applicants = applicants  # None: no applicant findings (a ledger copy alone)
        self.store = store
        self.mapper = mapper
        self.ledger_name = ledger_name
        self.trusted_roots = trusted_roots
        # Only node keys of the ledger's own region (from its name, as every verifier binds
        # it) receipt and checkpoint it; an empty home region trusted every region's.
        region = ledger_home_region(ledger_name)
        if home_region and home_region != region:
            raise LedgerError(
                f"home region {home_region} is not the region of {ledger_name}",
                reason="wrong_region",
                field="home_region",
            )
        self.registry = KeyRegistry(trusted_roots, home_region=region)
        self.registry_streams = {registry_stream_id(r): r for r in trusted_roots}
        self.findings: list[Finding] = []
        self._first: Envelope | None = None  # a stream's first envelope, parsed by _is_license

    # -- helpers ---------------------------------------------------------------------------

    def _find(
        self, stream_id: object, seq: int, reason: str, detail: str, kind: str = INTEGRITY
    ) -> None:
        self.findings.append(Finding(str(stream_id), seq, reason, detail, kind))

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
            receipt.signed.verify(node_key.public_key)
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
                chain = _Chain(row.stream_id, is_license=self._is_license(row))
                if chain.is_license:
                    report.licenses += 1
                else:
                    report.cases += 1
            report.events += 1
            self._check_event(chain, row)
            if progress is not None:
                progress(1)

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
        try:
            key = self.registry.officer_key_at(
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
            envelope.signed.verify(key.public_key)
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

    def _check_applicant(self, row: LedgerRow, envelope: Envelope) -> None:
        """The rules of opening a case (``ledger.opening``), checked on the stored step."""
        assert self.applicants is not None and row.seq is not None
        signed = signed_applicant(envelope)
        if signed is None:
            return
        record = self.applicants.applicant_record(signed[0])
        for reason, detail in applicant_problems(envelope, record, self._carries_ref(signed[0])):
            self._policy(row, reason, detail)

    def _carries_ref(self, ref: str) -> Callable[[str], bool]:
        def carries(case_text: str) -> bool:
            """Whether that case's stored ``received`` names ``ref`` (one row read)."""
            try:
                stored = self.store.select_entry(uuid.UUID(case_text), 1)
                if stored is None:
                    return False
                raw = self.mapper.transcoder.decode(stored.envelope)["envelope"]
                other = signed_applicant(parse_event(raw))
            except Exception:  # that case's own walk reports an unreadable step
                return False
            return other is not None and other[0] == ref

        return carries

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

    def _policy_or_integrity(self, row: LedgerRow, error: LedgerError, policy: bool) -> None:
        if policy:
            self._policy(row, error.reason, error.detail)
        else:
            assert row.seq is not None
            self._find(row.stream_id, row.seq, error.reason, error.detail)

    def _policy(self, row: LedgerRow, reason: str, detail: str) -> None:
        """A policy finding, with the administrator's resolution of it if one is recorded."""
        assert row.seq is not None
        finding = Finding(str(row.stream_id), row.seq, reason, detail, POLICY)
        resolved = self.registry.resolutions.get((finding.case_id, row.seq, reason))
        if resolved is not None:
            finding = replace(finding, resolution=resolved.resolution)
        self.findings.append(finding)

    # -- the dense index -------------------------------------------------------------------

    def check_indexes(self, indexes: Iterator[int]) -> None:
        expected = 1
        for index in indexes:
            if index != expected:
                span = str(expected) if index == expected + 1 else f"{expected}..{index - 1}"
                self._find("", 0, "index_gap", f"ledger index {span} missing")
            expected = index + 1

    # -- the stored checkpoints ------------------------------------------------------------

    def check_checkpoint(self, store: TreeStore) -> None:
        """The ledger against every stored checkpoint (``docs/transparency.md``).

        One streaming pass: the ledger rows' event hashes, in index order, go through a
        ``CompactRange`` (flat memory), never the tree tables (whoever could edit the rows could
        edit those too); the checkpoints are read alongside, in size order and in batches, and
        the recomputed root is compared at each one's size. So a cut followed by regrowth is
        caught at the checkpoints it contradicts, however large the later ones are.
        """
        rows = iter_object_hashes(store, batch=AUDIT_BATCH)
        pending: tuple[int, bytes] | None = None  # the next row, read ahead
        started = False  # no row is read before a checkpoint needs one
        tree = merkle.CompactRange()
        expected = 1  # the next ledger index the tree needs
        missing = _Spans()  # ledger index ranges missing
        largest = 0  # the largest size of a well-signed checkpoint
        first_affected: int | None = None  # the smallest such size a missing index falls under
        mismatched: list[int] = []  # the first MAX_LISTED sizes whose root differs
        more_mismatched, last_mismatched = 0, 0  # how many others, the largest of them
        for stored in iter_checkpoints(store):
            if not self._checkpoint_signed(stored):
                continue
            size = largest = stored.size
            if not started and size > 0:
                pending, started = next(rows, None), True
            while expected <= size:
                if pending is None or pending[0] > size:
                    missing.add(expected, size)
                    expected = size + 1
                    break
                index, object_hash = pending
                pending = next(rows, None)
                if index != expected:
                    missing.add(expected, index - 1)
                if not missing:
                    tree.append(merkle.leaf_hash(object_hash))
                expected = index + 1
            if missing:
                # Past a missing index no root can be recomputed: reported as missing instead.
                first_affected = size if first_affected is None else first_affected
                continue
            root = parse_checkpoint(parse_note(stored.note).text).root
            if tree.root() != root:
                if len(mismatched) < MAX_LISTED:
                    mismatched.append(size)
                else:
                    more_mismatched, last_mismatched = more_mismatched + 1, size
        for size in mismatched:
            self._find(
                "",
                0,
                "root_mismatch",
                f"the stored rows do not reproduce the root of the checkpoint of size {size}",
            )
        if more_mismatched:
            self._find(
                "",
                0,
                "root_mismatch",
                f"nor the roots of {more_mismatched} more stored checkpoints, the largest of "
                f"size {last_mismatched}",
            )
        if missing:
            spans = [_span(first, last) for first, last in missing.listed]
            if missing.more:
                spans.append(f"and {missing.more} more ranges")
            self._find(
                "",
                0,
                "missing_from_tree",
                f"ledger index {', '.join(spans)} missing, checkpointed at size {largest} "
                f"(first covered by the checkpoint of size {first_affected})",
            )

    def _checkpoint_signed(self, stored: StoredCheckpoint) -> bool:
        """True when the checkpoint is well formed and signed by a node key valid at its time."""
        try:
            note = parse_note(stored.note)
            checkpoint = parse_checkpoint(note.text)
        except LedgerError as error:
            self._find("", 0, "bad_checkpoint", f"checkpoint of size {stored.size}: {error.detail}")
            return False
        if checkpoint.origin != self.ledger_name or checkpoint.size != stored.size:
            self._find(
                "",
                0,
                "bad_checkpoint",
                f"checkpoint stored as size {stored.size} is for "
                f"{checkpoint.origin!r} size {checkpoint.size}",
            )
            return False
        for key in list(self.registry.keys.values()):
            if key.role != NODE:
                continue
            try:
                self.registry.node_key_at(key.kid, stored.issued_at)
                verify_note(note, self.ledger_name, key.public_key)
            except LedgerError:
                continue
            return True
        self._find(
            "",
            0,
            "bad_checkpoint",
            f"checkpoint of size {stored.size} is not signed by a node key of this region "
            f"valid at {stored.issued_at}",
        )
        return False


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}..{last}"


class _Spans:
    """Index ranges in ascending order, adjacent ones merged; the first ``MAX_LISTED`` kept,
    the others only counted (flat memory however many there are)."""

    def __init__(self) -> None:
        self.listed: list[list[int]] = []
        self.more = 0
        self.end = -1  # the last index of the newest range

    def __bool__(self) -> bool:
        return bool(self.listed)

    def add(self, first: int, last: int) -> None:
        if self.listed and self.end == first - 1:
            if not self.more:
                self.listed[-1][1] = last
        elif len(self.listed) < MAX_LISTED:
            self.listed.append([first, last])
        else:
            self.more += 1
        self.end = last


def auditor_for(app: Any, applicants: ApplicantRecords | None = None) -> Auditor:
    """An auditor of ``app``'s ledger (its store, mapper, trust roots and workflow), and of
    its cases' applicants if ``applicants`` is given."""
    return Auditor(
        app.store,
        app.mapper,
        ledger_name=app.ledger_name,
        trusted_roots=app.trusted_roots,
        home_region=app.home_region,
        workflow=app.workflow,
        applicants=applicants,
    )


def verify_ledger(
    app: Any,
    *,
    progress: Callable[[int], None] | None = None,
    jobs: int = 1,
    reopen: Callable[[], Any] | None = None,
    applicants: ApplicantRecords | None = None,
    reopen_applicants: Callable[[], ApplicantRecords] | None = None,
) -> AuditReport:
    """Verify every stored object of the ledger (``app`` is a ``LedgerApplication``).

    With ``jobs`` > 1 the case and license streams are checked by this process and
    ``jobs - 1`` worker processes, each stream whole by one of them (``reopen``, a picklable
    callable, opens the same ledger read-only in a worker); the report is the same, finding
    for finding and in the same order, as with one (``docs/audit.md``, Worker processes).
    With ``applicants`` each case's applicant is checked too (``reopen_applicants``, also
    picklable, opens them in a worker).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    if jobs > 1 and applicants is not None and reopen_applicants is None:
        raise ValueError("jobs > 1 with applicants needs reopen_applicants for the workers")
    auditor = auditor_for(app, applicants)
    report = AuditReport()
    auditor.load_registry()
    if jobs == 1:
        auditor.check_rows(app.store.iter_rows_by_stream(AUDIT_BATCH), report, progress)
        _check_whole_ledger(auditor, app.store)
        report.findings = auditor.findings
        return report
    if reopen is None:
        raise ValueError("jobs > 1 needs reopen: a picklable callable opening the same ledger")
    registry_findings, auditor.findings = auditor.findings, []
    ranges = stream_ranges(jobs * PARTS_PER_JOB)
    done: dict[int, AuditReport] = {}
    context = multiprocessing.get_context("spawn")  # no inherited connections or locks
    # This process is one of the ``jobs``: it starts ``jobs - 1`` workers, runs the
    # whole-ledger checks once while they start, then checks parts itself from the last one
    # down, taking only those no worker has begun (workers take them from the first one up).
    with ProcessPoolExecutor(
        jobs - 1,
        mp_context=context,
        initializer=_start_worker,
        initargs=(reopen, reopen_applicants if applicants is not None else None),
    ) as pool:
        futures = [pool.submit(_check_part, bounds) for bounds in ranges]
        _check_whole_ledger(auditor, app.store)
        whole_ledger, auditor.findings = auditor.findings, []
        for number in reversed(range(len(ranges))):
            if futures[number].cancel():
                done[number] = _check_range(auditor, ranges[number])
                if progress is not None:
                    progress(done[number].events)
        for number, future in enumerate(futures):
            if number not in done:
                done[number] = future.result()
                if progress is not None:
                    progress(done[number].events)
    stream_findings: list[Finding] = []
    for number in range(len(ranges)):  # in stream order, as one process would have found them
        part = done[number]
        report.events += part.events
        report.cases += part.cases
        report.licenses += part.licenses
        stream_findings.extend(part.findings)
    report.findings = registry_findings + stream_findings + whole_ledger
    return report


def _check_whole_ledger(auditor: Auditor, store: Any) -> None:
    """What only the whole ledger can show: the dense index, the checkpoints and their tree."""
    auditor.check_indexes(store.iter_indexes(AUDIT_BATCH))
    auditor.check_checkpoint(store)


# -- worker processes (``verify_ledger(jobs=N)``) ------------------------------------------

PARTS_PER_JOB = 2  # a few parts a worker for balance; each costs the database one more pass
_UUIDS = 2**128
_worker: tuple[Any, Auditor] | None = None  # the worker's application (kept open) and auditor


def stream_ranges(parts: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``parts`` consecutive stream-id ranges, both ends included, covering every UUID."""
    bounds = [_UUIDS * n // parts for n in range(parts + 1)]
    return [(uuid.UUID(int=low), uuid.UUID(int=high - 1)) for low, high in pairwise(bounds)]


def _start_worker(
    reopen: Callable[[], Any], reopen_applicants: Callable[[], ApplicantRecords] | None
) -> None:
    global _worker
    app = reopen()
    _worker = app, auditor_for(app, reopen_applicants() if reopen_applicants else None)
    _worker[1].load_registry()  # its findings are the parent's to report


def _check_part(bounds: tuple[uuid.UUID, uuid.UUID]) -> AuditReport:
    assert _worker is not None
    return _check_range(_worker[1], bounds)


def _check_range(auditor: Auditor, bounds: tuple[uuid.UUID, uuid.UUID]) -> AuditReport:
    """The streams whose ids lie in ``bounds``: their counts and findings alone."""
    auditor.findings = []
    part = AuditReport()
    auditor.check_rows(auditor.store.iter_rows_by_stream(AUDIT_BATCH, stream_range=bounds), part)
    part.findings, auditor.findings = auditor.findings, []
    return part


def verify_case(
    app: Any, case_id: uuid.UUID, *, applicants: ApplicantRecords | None = None
) -> AuditReport:
    """Verify one case (and the key registries it depends on; its applicant, given
    ``applicants``)."""
    auditor = auditor_for(app, applicants)
    report = AuditReport()
    auditor.load_registry()
    registry_findings = list(auditor.findings)
    auditor.check_rows(app.store.select_stream_rows(case_id), report)
    report.findings = registry_findings + auditor.findings[len(registry_findings) :]
    return report
