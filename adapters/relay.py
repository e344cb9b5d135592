"""The window node's side of relaying: check, queue, deliver, read through (``ledger.relay``).

:meth:`NodeRelay.relay` takes a step a clerk of this region signed for another region's
ledger. It checks what this node can (the signature, under its own registry's certification
of the officer), signs a relay receipt, keeps the step in the queue
(``adapters.relay_store``) *before* sending it anywhere, then tries to deliver it at once. A
``received`` step takes its applicant with it: the record this node's vault holds goes to
the home node's vault. This node keeps it (encrypted) only while the step waits (``queued``,
``held``) and erases it once the step's fate is settled, whatever it is: accepted (the home
node holds it now), refused, a conflict, or dropped by an operator (PIPL: no copy kept
without a purpose). :meth:`NodeRelay.deliver` sends whatever is still queued (the server's
delivery loop, ``tongban relay deliver``), in the order the steps reached this node, one
case's steps one after the other. The node never signs a step again: a step that meets a
conflict at home stays a conflict, with the home head, for its clerk.

Every call to a peer carries a ``Tongban-Peer`` header: the peer request this node signs for
that call (``ledger.relay``, docs/envelope.md §10).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from adapters.applicants import NodeApplicants
from adapters.relay_peers import PeerNode, load_peers
from adapters.relay_store import WAITING, RelayedStep, RelayStore
from adapters.vault import UnknownApplicant
from ledger.application import LedgerApplication
from ledger.envelope import Envelope, ledger_region
from ledger.errors import ConflictError, EnvelopeRejected, LedgerError
from ledger.opening import signed_applicant
from ledger.receipts import parse_receipt
from ledger.relay import make_peer_request, make_relay_receipt
from ledger.relay_mirror import build_mirror, mirror_stream_id, parse_mirror

log = logging.getLogger("tongban.relay")

PEER_HEADER = "Tongban-Peer"


class NoPeer(EnvelopeRejected):
    """The step is for a ledger this node has no peer for."""

    reason = "no_peer"


def unknown_ledger(ledger: str, own: str, peers: Mapping[str, PeerNode]) -> str:
    """Why a step signed for ``ledger`` can be neither appended nor relayed here, said so
    that the mistake shows (a malformed name, or a ledger no peer is configured for) with
    this node's own ledger and the ledgers it relays to."""
    named = ", ".join(sorted(peers)) or "none (tongban relay add-peer)"
    if ledger_region(ledger) is None or ledger != f"tongban/{ledger_region(ledger)}":
        why = (
            f"{ledger!r} is not a ledger name: write tongban/<6-digit region>, e.g. tongban/510000"
        )
    else:
        why = f"this node relays to no ledger {ledger} (no peer in peers.json)"
    return (
        f"the step is signed for ledger {ledger!r}: {why}; this node's own ledger is {own}, "
        f"the ledgers it relays to: {named}"
    )


class PeerUnreachable(Exception):
    """The home node gave no answer (or an answer meaning "not now": 5xx)."""


class PeerUnauthenticated(Exception):
    """The home node refused this node's peer request (401, or a 403 that is no answer of a
    Tongban node): a configuration to fix, not an outage; retrying changes nothing."""


@dataclass(frozen=True)
class PeerAnswer:
    status: int
    document: dict[str, Any]


def peer_headers(
    ledger: LedgerApplication, peer: PeerNode, method: str, path: str, body: bytes, now: int
) -> dict[str, str]:
    """The ``Tongban-Peer`` header of one call from this node to ``peer``."""
    assert ledger.node_signer is not None
    signed = make_peer_request(
        ledger.node_signer,
        sender=ledger.ledger_name,
        receiver=peer.ledger,
        method=method,
        path=path,
        body=body,
        time=now,
    )
    return {PEER_HEADER: base64.b64encode(signed).decode()}


@cache
def _shared_client() -> httpx.Client:
    # One client per process (connections kept): a new one per call costs a connection and
    # more each time; httpx clients are safe to share between the server's threads.
    return httpx.Client(timeout=10.0)


class NodeRelay:
    """Relays, queues and reads through for the clerks of this node (module docstring)."""

    def __init__(
        self,
        ledger: LedgerApplication,
        applicants: NodeApplicants,
        store: RelayStore,
        data_dir: Path,
        *,
        http: Callable[[], httpx.Client] = _shared_client,
    ):
        self.ledger = ledger
        self.applicants = applicants
        self.store = store
        self.data_dir = data_dir
        self.http = http

    def peer(self, home_ledger: str) -> PeerNode:
        peers = load_peers(self.data_dir)
        peer = peers.get(home_ledger)
        if peer is None:
            raise NoPeer(
                unknown_ledger(home_ledger, self.ledger.ledger_name, peers), field="ledger"
            )
        return peer

    # -- relaying ----------------------------------------------------------------------------

    def check(self, envelope: Envelope) -> None:
        """What this node can check of a step for another ledger: its officer is certified
        in this node's registry at this time, and the signature is theirs."""
        now = self.ledger.clock()
        who = {"body_id": envelope.body_id, "officer_id": envelope.officer_id}
        try:
            key = self.ledger.registry.officer_key_at(envelope.key_id, now, **who)
        except LedgerError:
            self.ledger.refresh_registry()  # certified meanwhile, by another process
            key = self.ledger.registry.officer_key_at(envelope.key_id, now, **who)
        if envelope.signed.suite.name != key.suite:
            raise EnvelopeRejected(
                f"signed with suite {envelope.signed.suite.name}, key {key.kid} is {key.suite}",
                reason="bad_signature",
                field="suite",
            )
        envelope.signed.verify(key.public_key)

    def relay(self, envelope: Envelope) -> RelayedStep:
        """Check, queue (durably), try to deliver; the step's row as it then stands."""
        peer = self.peer(envelope.ledger)
        self.check(envelope)
        found = self.store.get(envelope.hash)
        if found is None:
            now = self.ledger.clock()
            assert self.ledger.node_signer is not None
            receipt = make_relay_receipt(
                self.ledger.node_signer,
                relay=self.ledger.ledger_name,
                ledger=envelope.ledger,
                event_hash=envelope.hash,
                stream_id=envelope.case_id,
                seq=envelope.seq,
                time=now,
            )
            signed = signed_applicant(envelope) if envelope.type == "received" else None
            found = self.store.enqueue(
                event_hash=envelope.hash,
                home_ledger=envelope.ledger,
                case_id=str(envelope.case_id),
                seq=envelope.seq,
                body=envelope.body_id,
                step=envelope.type,
                envelope=envelope.raw,
                relay_receipt=receipt,
                relayed_at=now,
                applicant_ref=signed[0] if signed else None,
            )
        if found.state == "queued":
            before = self._waits_behind(found)
            if before is None:
                self._deliver_one(peer, found)
            else:
                self.store.note(
                    found.event_hash,
                    f"waits behind seq {before.seq} of this case, {before.state}: "
                    f"{before.detail or 'not delivered yet'}",
                )
            found = self.store.get(envelope.hash) or found
        return found

    def _waits_behind(self, step: RelayedStep) -> RelayedStep | None:
        """The earlier step of the same case still waiting (it goes first), if any."""
        for other in self.store.steps(case_id=step.case_id):
            if other.state in WAITING and other.seq < step.seq:
                return other
        return None

    def deliver(self, *, held: bool = False) -> list[RelayedStep]:
        """Send every queued step, oldest first; a case whose step finds its home node
        unreachable (or refusing this node's authentication) keeps its later steps queued.
        ``held``: the steps held after an authentication refusal are tried again too (an
        operator's delivery, once the configuration is fixed; never the server's loop).
        The rows delivered (settled) this time."""
        if held:
            self.store.release_held()
        blocked = {step.case_id for step in self.store.steps(state="held")}
        settled = []
        for step in self.store.steps(state="queued"):
            if step.case_id in blocked:
                continue
            try:
                peer = self.peer(step.home_ledger)
            except NoPeer:
                blocked.add(step.case_id)
                continue
            if self._deliver_one(peer, step):
                settled.append(self.store.get(step.event_hash) or step)
            else:
                blocked.add(step.case_id)
        return settled

    def _deliver_one(self, peer: PeerNode, step: RelayedStep) -> bool:
        """One delivery; True when the home node answered (the row is settled)."""
        applicant = None
        if step.applicant_ref is not None:
            held = self.applicants.hand_over(step.applicant_ref)
            if held is not None:
                data, secret = held
                applicant = {
                    "ref": step.applicant_ref,
                    "secret": base64.b64encode(secret).decode(),
                    "data": data.as_dict(),
                }
        document = {
            "envelope": base64.b64encode(step.envelope).decode(),
            "relay_receipt": base64.b64encode(step.relay_receipt).decode(),
            "applicant": applicant,
        }
        try:
            answer = self.call(peer, "POST", "/peer/steps", json.dumps(document).encode())
        except PeerUnreachable as error:
            self.store.attempted(step.event_hash, str(error))
            return False
        except PeerUnauthenticated as error:
            # Not an outage: held for an operator, not retried by the loop for ever.
            if self.store.hold(step.event_hash, str(error)):
                log.error("relayed step held: case %s seq %d: %s", step.case_id, step.seq, error)
            return False
        return self._settle(peer, step, answer)

    def _settle(self, peer: PeerNode, step: RelayedStep, answer: PeerAnswer) -> bool:
        """Record the home node's answer; False when its receipt cannot be relied on (the
        step stays queued: delivered again once ``peers.json`` names the right key)."""
        doc = answer.document
        if answer.status in (200, 201):
            try:
                receipt = base64.b64decode(doc["receipt"], validate=True)
            except (KeyError, TypeError, ValueError):
                receipt = b""
            why = receipt_mismatch(peer, step, receipt)
            if why is not None:
                log.error("home receipt refused: case %s seq %d: %s", step.case_id, step.seq, why)
                self.store.attempted(step.event_hash, why)
                return False
            settled = self.store.settle(
                step.event_hash, "accepted", home_receipt=receipt, home_index=doc["index"]
            )
            if settled:  # once per step, by the delivery that settled it
                self._mirror(step, receipt)
            # The home node holds the record now; this node keeps no copy.
            self.erase_applicant(step, f"delivered to {step.home_ledger}")
            return True
        detail = refusal_detail(doc, answer.status)
        if answer.status == 409 and isinstance(doc.get("head"), dict):
            head = (int(doc["head"]["seq"]), bytes.fromhex(doc["head"]["hash"]))
            self.store.settle(step.event_hash, "conflict", detail=detail, home_head=head)
            self.erase_applicant(step, f"the step met a conflict at {step.home_ledger}")
            return True
        self.store.settle(step.event_hash, "refused", detail=detail)
        # Refused for good: the node never signs it again, so the record has no purpose here.
        self.erase_applicant(step, f"the step was refused by {step.home_ledger}")
        return True

    def drop(self, event_hash: bytes, reason: str) -> RelayedStep | None:
        """An operator gives a waiting step up (never delivered from then on); its applicant
        is erased. None when no such step waits."""
        if not self.store.drop(event_hash, f"dropped by an operator: {reason}"):
            return None
        step = self.store.get(event_hash)
        assert step is not None
        self.erase_applicant(step, "its step was dropped by an operator")
        return step

    def _mirror(self, step: RelayedStep, home_receipt: bytes) -> None:
        """This node's own signed evidence of the accepted step (``ledger.relay_mirror``),
        appended to its own ledger, once: by the delivery that settled the step."""
        assert self.ledger.node_signer is not None
        stream_id = mirror_stream_id(step.home_ledger)
        for _ in range(5):  # another delivery may take the mirror's next seq meanwhile
            head = self.ledger.head(stream_id)
            raw = build_mirror(
                self.ledger.node_signer,
                ledger=self.ledger.ledger_name,
                home=step.home_ledger,
                seq=head.seq + 1,
                prev=head.event_hash,
                time=self.ledger.clock(),
                step=step.envelope,
                relay_receipt=step.relay_receipt,
                home_receipt=home_receipt,
            )
            try:
                self.ledger.append_mirror(raw)
                return
            except ConflictError:
                continue
            except Exception:  # the step stands accepted; the mirror is logged as missing
                log.exception("could not mirror seq %d of case %s", step.seq, step.case_id)
                return

    def remirror(self) -> list[RelayedStep]:
        """Mirror every accepted step its mirror stream lacks (an append that failed, or a
        crash between settling and mirroring); the steps mirrored now. Reads each mirror
        stream once: ``tongban relay deliver`` runs it, the server's loop does not."""
        done = []
        accepted = self.store.steps(state="accepted")
        for home in sorted({step.home_ledger for step in accepted}):
            entries = self.ledger.stream_entries(mirror_stream_id(home))
            mirrored = {parse_mirror(entry.envelope).step.hash for entry in entries}
            for step in accepted:
                if step.home_ledger == home and step.event_hash not in mirrored:
                    assert step.home_receipt is not None
                    self._mirror(step, step.home_receipt)
                    done.append(step)
        return done

    def erase_applicant(self, step: RelayedStep, why: str) -> None:
        """Erase the applicant a settled ``received`` step carried (idempotent; no-op for a
        step without one). A failure is logged, without personal data: the record stays
        encrypted and ``applicant_here`` says ``kept`` until an operator erases it."""
        if step.applicant_ref is None:
            return
        try:
            self.applicants.vault.erase(
                step.applicant_ref,
                now=datetime.now(UTC),
                reason=f"{why} (case {step.case_id})",
            )
        except UnknownApplicant:
            pass  # never stored here
        except Exception:
            log.exception("could not erase the applicant of case %s seq 1", step.case_id)

    def applicant_here(self, step: RelayedStep) -> str | None:
        """Whether this node still holds the applicant a ``received`` step carries: ``kept``
        (encrypted, while the step waits), ``erased``, or None (no applicant)."""
        if step.applicant_ref is None:
            return None
        try:
            return "erased" if self.applicants.vault.is_erased(step.applicant_ref) else "kept"
        except UnknownApplicant:
            return "erased"  # never held here: nothing to keep

    def outcome(self, step: RelayedStep) -> Mapping[str, Any]:
        """:func:`relay_outcome` with what this node holds of the applicant."""
        return relay_outcome(step, applicant_here=self.applicant_here(step))

    # -- reading through ---------------------------------------------------------------------

    def read_case(
        self, case_id: uuid.UUID, *, body: str, personal: bool, purpose: str
    ) -> PeerAnswer:
        """The home node's answer to a read of a case this node relayed steps of, on behalf
        of ``body`` (the home node checks it is on the case, and logs a personal read)."""
        home = self.store.home_of(str(case_id))
        assert home is not None
        params: dict[str, str] = {"body": body}
        if personal:
            params |= {"personal": "true", "purpose": purpose}
        return self.call(self.peer(home), "GET", f"/peer/cases/{case_id}?{urlencode(params)}", b"")

    def call(self, peer: PeerNode, method: str, path: str, body: bytes) -> PeerAnswer:
        headers = peer_headers(self.ledger, peer, method, path, body, self.ledger.clock())
        if body:
            headers["Content-Type"] = "application/json"
        try:
            response = self.http().request(method, peer.url + path, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise PeerUnreachable(
                f"{method} {peer.url}{path}: {error} (is {peer.url} still the address of "
                f"{peer.ledger}'s node? peers.json names it; a node served on --port 0 gets "
                "a new port at each start)"
            ) from error
        if response.status_code >= 500 or response.status_code in (408, 429):
            # Not now (a timeout, too many requests, a server error): the step stays queued.
            raise PeerUnreachable(f"{method} {peer.url}{path}: HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            document = {"detail": response.text[:500]}
        if not isinstance(document, dict):
            document = {"detail": str(document)[:500]}
        if authentication_refused(response.status_code, document):
            raise PeerUnauthenticated(
                authentication_detail(
                    self.ledger, peer, f"{method} {path}", response.status_code, document
                )
            )
        return PeerAnswer(response.status_code, document)


def authentication_refused(status: int, document: Mapping[str, Any]) -> bool:
    """A 401, or a 403 no Tongban node gave (a proxy's: no ``reason``); a 403 with a reason
    is the home node's refusal of the step or read itself (``unknown_body``, ``forbidden``)."""
    return status == 401 or (status == 403 and not document.get("reason"))


def authentication_detail(
    ledger: LedgerApplication, peer: PeerNode, call: str, status: int, document: Mapping[str, Any]
) -> str:
    """What the home node said and what to fix, for the clerk, the operator and the log."""
    assert ledger.node_signer is not None
    said = document.get("detail") or document.get("reason") or ""
    return (
        f"authentication refused by {peer.ledger} ({peer.url}, {call}: HTTP {status}: {said}); "
        f"not an outage, so not retried: the home node's peers.json must name this node, "
        f"`tongban relay add-peer --ledger {ledger.ledger_name} --url <this node's URL> "
        f"--key {ledger.node_signer.public_key.hex()}` at {peer.ledger}'s node (its node "
        "key, not its root key), and both clocks must agree within the claim tolerance; "
        "then `tongban relay deliver` here"
    )


def receipt_mismatch(peer: PeerNode, step: RelayedStep, raw: bytes) -> str | None:
    """None when ``raw`` is the home node's receipt of ``step``, signed by the node key
    ``peers.json`` configures for it; else why not (the step is then not taken as accepted,
    neither stored nor mirrored: a receipt nobody can check proves nothing)."""
    try:
        receipt = parse_receipt(raw)
    except LedgerError as error:
        return f"the home node's receipt does not decode: {error.detail}"
    if (receipt.ledger, receipt.event_hash, receipt.seq) != (
        step.home_ledger,
        step.event_hash,
        step.seq,
    ):
        return (
            f"the home node's receipt is of {receipt.ledger} seq {receipt.seq}, event "
            f"{receipt.event_hash.hex()[:16]}…, not of this step"
        )
    try:
        receipt.signed.verify(peer.public_key)
    except LedgerError:
        return (
            f"the home node's receipt does not verify under the node key peers.json "
            f"configures for {peer.ledger} ({peer.public_key.hex()[:16]}…): set its node key "
            "(GET /keys, role node; not its root key) with `tongban relay add-peer`, then "
            "`tongban relay deliver`"
        )
    return None


_REFUSAL = re.compile(
    r"(?P<reason>[^\s:()]+)(?: \(field (?P<field>[^\s)]+)\))?: (?P<text>.*)", re.S
)


def refusal_detail(document: Mapping[str, Any], status: int) -> str:
    """A home node's problem as a relay row keeps it: ``reason (field F): detail``, the way
    the CLI prints a problem, so the field survives (:func:`refusal_parts` reads it back)."""
    field = document.get("field")
    where = f" (field {field})" if isinstance(field, str) and field else ""
    return f"{document.get('reason', status)}{where}: {document.get('detail', '')}"


def refusal_parts(detail: str) -> tuple[str, str | None, str]:
    """``(reason, field, text)`` of a row's :func:`refusal_detail`."""
    found = _REFUSAL.fullmatch(detail)
    if found is None:
        return "refused", None, detail
    return found["reason"], found["field"], found["text"]


def relay_outcome(step: RelayedStep, *, applicant_here: str | None = None) -> Mapping[str, Any]:
    """A row as the clerk and the CLI see it (no personal data: refs and hashes only);
    ``applicant_here``: :meth:`NodeRelay.applicant_here`."""
    outcome: dict[str, Any] = {
        "state": step.state,
        "home_ledger": step.home_ledger,
        "case_id": step.case_id,
        "seq": step.seq,
        "step": step.step,
        "body": step.body,
        "event_hash": step.event_hash.hex(),
        "relayed_at": step.relayed_at,
        "relay_receipt": base64.b64encode(step.relay_receipt).decode(),
        "attempts": step.attempts,
        "detail": step.detail,
        "applicant_here": applicant_here,
    }
    if step.home_receipt is not None:
        outcome["home_receipt"] = base64.b64encode(step.home_receipt).decode()
        outcome["home_index"] = step.home_index
    if step.home_head_seq is not None and step.home_head_hash is not None:
        outcome["home_head"] = {"seq": step.home_head_seq, "hash": step.home_head_hash.hex()}
    return outcome
