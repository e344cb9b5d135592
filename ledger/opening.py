"""Opening a case: the one path every writer takes for a case's ``received`` step.

A ``received`` step names its applicant by a vault ref and signs HMAC commitments to the
applicant's data (``ledger.personal``). What the signature alone cannot show is that the ref
is this node's record of *that* person, stored by the receiving body, and used by no other
case: a ref read from the public ledger would otherwise open a second case and show its
person to a body never entitled to it. :class:`CaseOpening` checks it, in order:

1. the step is a ``received`` at seq 1 (``illegal_step``, ``type``);
2. the ref is one the signing body stored at this node, not bound to another case
   (``applicant_not_yours``, ``body.applicant.ref``);
3. the signed commitments are those the vault computes for the ref (``commitment_mismatch``,
   ``body.applicant.commitments``);
4. the ref is claimed for the case atomically (two openings racing with one ref: one wins);
5. the step is appended (every ledger check); if that fails the claim is released, unless
   the case stored meanwhile carries the ref (a repost of the same bytes).

The HTTP routes (``POST /cases`` and a ``received`` posted to ``/cases/{id}/events``), the demo
builder and the bulk loader all open cases here. :func:`applicant_findings` is the audit's side
of the same rules (``docs/audit.md``, applicant findings).

The applicants themselves live outside the ledger (``adapters.applicants`` implements
:class:`ApplicantRecords` over the vault and the access store).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ledger.application import Appended
from ledger.envelope import Envelope, parse_event
from ledger.errors import EnvelopeRejected, StepNotAllowed


class ApplicantNotYours(EnvelopeRejected):
    """The ref was not stored by the signing body here, or another case uses it."""

    reason = "applicant_not_yours"


class CommitmentMismatch(EnvelopeRejected):
    """The signed commitments are not those of the stored applicant."""

    reason = "commitment_mismatch"


@dataclass(frozen=True)
class ApplicantRecord:
    """What this node holds of one applicant ref."""

    body: str  # the body that stored the applicant (POST /applicants)
    case_id: str | None  # the one case the ref was claimed for, if any
    # Recomputed from the vault's data and commitment secret; None when the vault cannot
    # (erased, or no vault row behind the binding).
    commitments: Mapping[str, bytes] | None
    erased: bool = False


class ApplicantRecords(Protocol):
    """The read port onto the applicants stored at this node (the audit needs only this)."""

    def applicant_record(self, ref: str) -> ApplicantRecord | None:
        """What is held of ``ref``, or None if this node never stored it."""
        ...


class ApplicantClaims(ApplicantRecords, Protocol):
    """The write port: tie a ref to the one case it opens, or undo that."""

    def claim_applicant(self, ref: str, body: str, case_id: str) -> bool:
        """Atomically bind a ref ``body`` stored to ``case_id``; False if taken or not theirs."""
        ...

    def release_applicant(self, ref: str, case_id: str) -> None:
        """Undo the claim of ``ref`` by ``case_id`` (nothing if it holds no such claim)."""
        ...


class Appender(Protocol):
    """What the opening needs of the ledger (``LedgerApplication``): its checked, durable
    append, and one stored object's bytes."""

    def append_envelope(self, envelope: Envelope, *, relayed_at: int | None = None) -> Appended: ...

    def envelope_at(self, stream_id: uuid.UUID, seq: int) -> bytes | None: ...


def signed_applicant(envelope: Envelope) -> tuple[str, object] | None:
    """``(ref, commitments)`` of a ``received`` body, or None if it names no ref (the
    workflow refuses such a body with its own reason and field)."""
    applicant = envelope.body.get("applicant")
    if not isinstance(applicant, dict) or not isinstance(applicant.get("ref"), str):
        return None
    return applicant["ref"], applicant.get("commitments")


class CaseOpening:
    """Opens cases under the applicant rules above, then the ledger's own."""

    def __init__(self, ledger: Appender, applicants: ApplicantClaims):
        self.ledger = ledger
        self.applicants = applicants

    def open(self, envelope: Envelope, *, relayed_at: int | None = None) -> Appended:
        """Append the ``received`` step that opens ``envelope.case_id``; return the ledger's
        ``Appended`` (``created`` False for a repost of the same bytes). ``relayed_at``: the
        time of a checked relay receipt (``LedgerApplication.append_envelope``)."""
        if envelope.seq != 1 or envelope.type != "received":
            raise StepNotAllowed(
                "a case opens with a `received` step at seq 1; later steps go to "
                f"/cases/{envelope.case_id}/events",
                field="type",
            )
        ref = self._claim(envelope)
        try:
            return self.ledger.append_envelope(envelope, relayed_at=relayed_at)
        except BaseException:
            if ref is not None and not self._case_uses(envelope, ref):
                self.applicants.release_applicant(ref, str(envelope.case_id))
            raise

    def _claim(self, envelope: Envelope) -> str | None:
        signed = signed_applicant(envelope)
        if signed is None:
            return None
        ref, commitments = signed
        case_id = str(envelope.case_id)
        record = self.applicants.applicant_record(ref)
        if (
            record is None
            or record.body != envelope.body_id
            or record.case_id
            not in (
                None,
                case_id,
            )
        ):
            raise ApplicantNotYours(
                "the applicant ref must be one your body stored at this node (POST /applicants) "
                "and not used by another case",
                field="body.applicant.ref",
            )
        if record.commitments is None or commitments != dict(record.commitments):
            raise CommitmentMismatch(
                "the signed commitments are not those of the stored applicant",
                field="body.applicant.commitments",
            )
        if not self.applicants.claim_applicant(ref, envelope.body_id, case_id):
            raise ApplicantNotYours(
                "the applicant ref was just used by another case", field="body.applicant.ref"
            )
        return ref

    def _case_uses(self, envelope: Envelope, ref: str) -> bool:
        raw = self.ledger.envelope_at(envelope.case_id, 1)
        if raw is None:
            return False
        stored = signed_applicant(parse_event(raw))
        return stored is not None and stored[0] == ref


# -- the audit's side of the same rules --------------------------------------------------------

# Policy findings of a case's ``received`` step (docs/audit.md, "Applicant findings").
APPLICANT_REASONS = ("applicant_unmatched", "applicant_reused", "applicant_unbound")


def applicant_problems(
    envelope: Envelope,
    record: ApplicantRecord | None,
    carries_ref: Callable[[str], bool],
) -> list[tuple[str, str]]:
    """``(reason, detail)`` of each rule the stored ``received`` step breaks, given what this
    node holds of its ref; ``carries_ref(case_id)`` says whether that case's own ``received``
    names the same ref. An erased applicant's commitments can no longer be recomputed: that
    is erasure working, not a finding."""
    signed = signed_applicant(envelope)
    if signed is None:
        return []  # a malformed body: the workflow replay reports it
    ref, commitments = signed
    if record is None:
        return [("applicant_unmatched", f"ref {ref} names no applicant stored at this node")]
    problems = []
    if not record.erased and (
        record.commitments is None or commitments != dict(record.commitments)
    ):
        problems.append(
            (
                "applicant_unmatched",
                f"the signed commitments are not those the vault holds for ref {ref}",
            )
        )
    case_id = str(envelope.case_id)
    if record.case_id == case_id:
        return problems
    if record.case_id is not None and carries_ref(record.case_id):
        problems.append(
            ("applicant_reused", f"ref {ref} also opens case {record.case_id}, bound to it")
        )
    else:
        held = f"bound to case {record.case_id}" if record.case_id else "bound to no case"
        problems.append(("applicant_unbound", f"ref {ref} is {held}, not to this case"))
    return problems
