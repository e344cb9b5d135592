"""The monitor of each home ledger this node relays to (``ledger.monitor``, docs/relay.md).

:func:`monitor_peers` reconciles, per peer, the home receipts this node holds (its relay
queue's accepted steps) with what the home node shows now: its newest signed checkpoint
(checked to extend the last one accepted from it, which is then kept), an inclusion proof of
every receipted step within it, and the step in the home ledger's case (a peer read). The
report names what was proven, what is still pending (receipted after the newest checkpoint)
and every finding with its evidence; findings are also logged at error level (the alert).

:func:`monitor_run` is one run as ``tongban monitor`` (once, or ``--every`` seconds) and the
server's monitor thread (``TONGBAN_MONITOR_SECONDS``) make it: the reports, one log line per
peer (no personal data: ledgers, counts, kinds, case ids), and the run kept in the relay
store (``tongban monitor status`` reads it back, evidence included). A run *alerts* when a
peer has findings, cannot be reached, or refuses this node's authentication.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from adapters.relay import NodeRelay, PeerUnauthenticated, PeerUnreachable
from adapters.relay_peers import PeerNode, load_peers
from adapters.relay_store import RelayedStep
from ledger.errors import LedgerError
from ledger.monitor import (
    MonitorFinding,
    extends,
    included,
    missing_cosignatures,
    verified_checkpoint,
)
from ledger.notes import Checkpoint, parse_checkpoint, parse_note

log = logging.getLogger("tongban.monitor")


@dataclass
class PeerReport:
    """The reconciliation of one home ledger. Every receipt is counted once:
    ``receipts == proven + pending + failed + unchecked``."""

    peer: str
    receipts: int = 0
    proven: int = 0  # in the newest checkpoint (inclusion proof) and still in the home case
    pending: int = 0  # after the newest checkpoint, or before the witnesses cosigned it
    failed: int = 0  # a finding about this receipt (missing_from_tree, missing_from_ledger)
    unchecked: int = 0  # not checked: the peer unreachable, or its checkpoint unusable
    checkpoint_size: int | None = None
    unreachable: str = ""
    unauthenticated: str = ""  # the home node refused this node's peer request: what to fix
    uncosigned: str = ""  # the newest checkpoint lacks the witnesses' cosignatures required
    findings: list[MonitorFinding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "receipts": self.receipts,
            "proven": self.proven,
            "pending": self.pending,
            "failed": self.failed,
            "unchecked": self.unchecked,
            "checkpoint_size": self.checkpoint_size,
            "unreachable": self.unreachable,
            "unauthenticated": self.unauthenticated,
            "uncosigned": self.uncosigned,
            "findings": [f.as_dict() for f in self.findings],
        }


def _b64(raw: bytes | None) -> str:
    return base64.b64encode(raw or b"").decode()


def _receipt_evidence(step: RelayedStep) -> dict[str, Any]:
    return {
        "home_receipt": _b64(step.home_receipt),
        "relay_receipt": _b64(step.relay_receipt),
        "event_hash": step.event_hash.hex(),
    }


class _PeerWatch:
    def __init__(self, relay: NodeRelay, peer: PeerNode, steps: list[RelayedStep]):
        self.relay = relay
        self.peer = peer
        self.steps = steps
        self.report = PeerReport(peer.ledger, receipts=len(steps))

    def get(self, path: str) -> tuple[int, Mapping[str, Any] | str]:
        answer = self.relay.call(self.peer, "GET", path, b"")
        return answer.status, answer.document

    def find(
        self, kind: str, detail: str, step: RelayedStep | None = None, **evidence: Any
    ) -> None:
        if step is None:
            finding = MonitorFinding(kind, self.peer.ledger, detail, evidence=evidence)
        else:
            finding = MonitorFinding(
                kind,
                self.peer.ledger,
                detail,
                case_id=step.case_id,
                seq=step.seq,
                index=step.home_index or 0,
                evidence={**_receipt_evidence(step), **evidence},
            )
        self.report.findings.append(finding)
        log.error("monitor: %s at %s: %s", kind, self.peer.ledger, detail)

    def run(self) -> PeerReport:
        try:
            return self._run()
        except PeerUnauthenticated as error:
            # Not an outage: the report says so, and what to fix; what was not checked yet
            # stays unchecked (every receipt is still counted once).
            r = self.report
            r.unauthenticated = str(error)
            r.unchecked = r.receipts - r.proven - r.pending - r.failed
            return r

    def _run(self) -> PeerReport:
        try:
            note_text = self._latest_note()
        except PeerUnreachable as error:
            self.report.unreachable = str(error)
            self.report.unchecked = len(self.steps)
            return self.report
        if note_text is None:
            self.report.pending = len(self.steps)
            return self.report
        try:
            checkpoint = verified_checkpoint(note_text, self.peer.ledger, self.peer.public_key)
        except LedgerError as error:
            self.find("bad_checkpoint", self._why_not_verified(error), checkpoint=note_text)
            self.report.unchecked = len(self.steps)
            return self.report
        self.report.checkpoint_size = checkpoint.size
        try:
            extended = self._extends_held(checkpoint, note_text)
        except PeerUnreachable as error:
            self.report.unreachable = str(error)
            self.report.unchecked = len(self.steps)
            return self.report
        if not extended:
            self.report.unchecked = len(self.steps)
            return self.report
        if self.peer.witnesses:
            why = missing_cosignatures(
                note_text, self.peer.public_key, self.peer.witnesses, self.peer.min_cosignatures
            )
            if why is not None:  # not misbehaviour yet: its proofs wait for the witnesses
                self.report.uncosigned = why
                self.report.pending = len(self.steps)
                return self.report
        for done, step in enumerate(self.steps):
            try:
                self._reconcile(step, checkpoint, note_text)
            except PeerUnreachable as error:  # went away mid-run: the rest stays unchecked
                self.report.unreachable = str(error)
                self.report.unchecked = len(self.steps) - done
                break
        return self.report

    def _why_not_verified(self, error: LedgerError) -> str:
        cause = error.__cause__
        if not (
            isinstance(cause, LedgerError) and cause.reason in ("unknown_signer", "bad_signature")
        ):
            return error.detail
        return (
            f"{error.detail}: the node key peers.json configures for {self.peer.ledger} "
            f"({self.peer.public_key.hex()[:16]}…) does not match the checkpoint's signer "
            "(a wrong key configured? set the home node's node key, from its GET /keys, role "
            "node, with `tongban relay add-peer`; else the home node signed with another key)"
        )

    def _latest_note(self) -> str | None:
        try:
            response = self.relay.http().get(f"{self.peer.url}/audit/checkpoint")
        except Exception as error:
            raise PeerUnreachable(f"GET {self.peer.url}/audit/checkpoint: {error}") from error
        if response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            raise PeerUnauthenticated(
                f"GET {self.peer.url}/audit/checkpoint: HTTP {response.status_code}: the home "
                "node (or a proxy before it) refuses this node: check its URL and access rules"
            )
        if response.status_code != 200:
            raise PeerUnreachable(f"GET /audit/checkpoint: HTTP {response.status_code}")
        return response.text

    def _extends_held(self, checkpoint: Checkpoint, note_text: str) -> bool:
        store = self.relay.store
        held = store.held_checkpoint(self.peer.ledger)
        old = parse_checkpoint(parse_note(held).text) if held else None
        proof: list[bytes] = []
        if old is not None and 0 < old.size < checkpoint.size:
            query = urlencode({"from": old.size, "to": checkpoint.size})
            status, answer = self.get(f"/audit/proof/consistency?{query}")
            if status == 200 and isinstance(answer, Mapping):
                proof = [base64.b64decode(h) for h in answer["proof"]]
        why = extends(old, checkpoint, proof) if old is not None else None
        if why is not None:
            assert held is not None
            self.find(
                "not_an_extension",
                why,
                old_checkpoint=held,
                new_checkpoint=note_text,
                proof=[_b64(h) for h in proof],
            )
            return False
        store.hold_checkpoint(self.peer.ledger, checkpoint.size, note_text)
        return True

    def _reconcile(self, step: RelayedStep, checkpoint: Checkpoint, note_text: str) -> None:
        index = step.home_index or 0
        if index > checkpoint.size:
            self.report.pending += 1
            return
        query = urlencode({"event": index, "size": checkpoint.size})
        status, answer = self.get(f"/audit/proof/inclusion?{query}")
        proof = (
            [base64.b64decode(h) for h in answer["proof"]]
            if status == 200 and isinstance(answer, Mapping)
            else []
        )
        why = (
            included(step.event_hash, index, checkpoint, proof)
            if status == 200
            else (
                f"the home node gives no inclusion proof of index {index}: HTTP {status} {answer}"
            )
        )
        if why:
            self.find("missing_from_tree", why, step, checkpoint=note_text, answer=str(answer))
            self.report.failed += 1
            return
        path = f"/peer/cases/{step.case_id}?{urlencode({'body': step.body})}"
        status, case = self.get(path)
        head = case.get("head") if isinstance(case, Mapping) else None
        if status != 200 or not isinstance(head, Mapping) or int(head["seq"]) < step.seq:
            self.find(
                "missing_from_ledger",
                f"the home node signed a receipt and a checkpoint holding seq {step.seq} of case "
                f"{step.case_id} (index {index}); its case now shows head {head or status}",
                step,
                checkpoint=note_text,
                inclusion_proof=[_b64(h) for h in proof],
                home_answer=case if isinstance(case, Mapping) else str(case),
            )
            self.report.failed += 1
            return
        self.report.proven += 1


def monitor_peers(relay: NodeRelay) -> list[PeerReport]:
    """Reconcile every peer this node holds receipts of (see the module docstring)."""
    peers = load_peers(relay.data_dir)
    accepted = relay.store.steps(state="accepted")
    reports = []
    for ledger in sorted({step.home_ledger for step in accepted}):
        steps = [s for s in accepted if s.home_ledger == ledger]
        peer = peers.get(ledger)
        if peer is None:
            reports.append(
                PeerReport(
                    ledger, len(steps), unchecked=len(steps), unreachable="no peer in peers.json"
                )
            )
            continue
        reports.append(_PeerWatch(relay, peer, steps).run())
    return reports


@dataclass(frozen=True)
class MonitorRun:
    """One run of the monitor: when, and the report of each peer."""

    checked_at: str
    reports: list[PeerReport]

    @property
    def alert(self) -> bool:
        """Findings, or a peer that cannot be reached or refuses this node."""
        return any(r.findings or r.unreachable or r.unauthenticated for r in self.reports)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at,
            "alert": self.alert,
            "peers": [r.as_dict() for r in self.reports],
        }


def monitor_run(relay: NodeRelay, *, now: datetime | None = None) -> MonitorRun:
    """Reconcile every peer, log one line per peer, keep the run (module docstring)."""
    at = (now or datetime.now(UTC)).isoformat()
    run = MonitorRun(at, monitor_peers(relay))
    for r in run.reports:
        counts = (
            f"{r.receipts} receipts: {r.proven} proven, {r.pending} pending, {r.failed} failed, "
            f"{r.unchecked} unchecked; {len(r.findings)} findings"
        )
        if r.unauthenticated:
            log.error("monitor: %s refuses this node: %s (%s)", r.peer, r.unauthenticated, counts)
        elif r.unreachable:
            log.error("monitor: %s unreachable: %s (%s)", r.peer, r.unreachable, counts)
        elif r.findings:
            kinds = ", ".join(sorted({f.kind for f in r.findings}))
            log.error("monitor: %s: %s (%s)", r.peer, counts, kinds)
        else:
            log.info("monitor: %s: %s", r.peer, counts)
    relay.store.record_monitor_run(at, json.dumps(run.as_dict(), ensure_ascii=False))
    return run


def last_monitor_run(relay: NodeRelay) -> dict[str, Any] | None:
    """The monitor's last run as :meth:`MonitorRun.as_dict` kept it, or None."""
    found = relay.store.last_monitor_run()
    if found is None:
        return None
    document: dict[str, Any] = json.loads(found[1])
    return document
