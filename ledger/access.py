"""Who may read a case, its applicant's personal data and its listings, and who may post on it.

:class:`CaseAccess` holds the rules the routes (``api/routes/cases.py``) call; each refusal is a
domain error with a reason and a field that ``api/errors.py`` maps to HTTP:

- a case is read by the bodies on it (:func:`ledger.case_listing.parties`), auditors and the
  administrator (:class:`Forbidden`, ``forbidden``);
- a body lists only its own cases (:class:`Forbidden`, ``forbidden``, field ``body``);
- a body's token posts only envelopes signed for that body (:class:`Forbidden`,
  ``forbidden``, field ``actor.body``);
- an applicant's personal data is shown in clear only to a body on the case
  (:class:`Forbidden`, ``forbidden``), for a stated purpose that itself carries no personal
  data (:class:`PurposeRefused`, ``malformed``, field ``purpose``), only when the applicant
  record held here matches what the case signed (:class:`RecordMismatch`,
  ``commitment_mismatch``), and every such read is logged (who, when, why) through
  :class:`AccessLog` before the data is read.

Errors (all :class:`~ledger.errors.LedgerError`)::

    LedgerError
    ├── Forbidden          the caller may not do this (reason ``forbidden``)
    ├── PurposeRefused     no purpose, or one carrying personal data (``malformed``, ``purpose``)
    └── RecordMismatch     the applicant record does not match the case (``commitment_mismatch``)

The ports are declared here and in ``ledger.opening`` / ``ledger.case_listing``; the access
store (``adapters/access.py``) implements :class:`AccessLog`, ``adapters.applicants``
implements :class:`ApplicantReads`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Final, Literal, Protocol

from ledger.case_listing import CaseListing, CaseQuery, CaseSummaries, parties
from ledger.domain import Case
from ledger.envelope import Envelope, parse_event
from ledger.errors import LedgerError
from ledger.opening import ApplicantRecord, ApplicantRecords
from ledger.personal import find_personal_data

# Who may read any case (besides the bodies on it).
OVERSEERS = ("auditor", "admin")
ERASED: Final = "erased"  # ApplicantReads.applicant_data of an erased applicant
UNKNOWN: Final = "unknown"  # ... of a ref the vault never stored


class Forbidden(LedgerError):
    """The caller may not read or post this."""

    reason = "forbidden"


class PurposeRefused(LedgerError):
    """A personal-data read states no purpose, or a purpose carrying personal data."""

    reason = "malformed"


class RecordMismatch(LedgerError):
    """The applicant record held here does not match the commitments the case signed."""

    reason = "commitment_mismatch"


class Reader(Protocol):
    """Who a request acts as (``adapters.access.Principal``): a body, an auditor, a peer
    region or the administrator, and its id."""

    @property
    def kind(self) -> str: ...

    @property
    def subject(self) -> str: ...


class AccessLog(Protocol):
    """The write port of the personal-data access log (``GET /cases/{id}/access`` lists it)."""

    def record_access(
        self, case_id: str, principal: Reader, *, purpose: str, fields: str, now: datetime
    ) -> None: ...


class ApplicantReads(ApplicantRecords, Protocol):
    """The applicants stored here, with their data in clear."""

    def applicant_data(self, ref: str) -> Mapping[str, str] | Literal["erased", "unknown"]:
        """The stored data of ``ref``; ``"erased"`` or ``"unknown"`` when it cannot be read."""
        ...


class CaseReader(Protocol):
    """What the rules read of the ledger (``LedgerApplication``)."""

    def get_case(self, case_id: uuid.UUID) -> Case: ...

    def envelope_at(self, stream_id: uuid.UUID, seq: int) -> bytes | None: ...


def check_poster(poster: Reader, envelope: Envelope) -> None:
    """A body's token (the route checks the token's kind first) posts only envelopes signed
    by that body's officers."""
    signer_body = envelope.body_id
    if signer_body != poster.subject:
        raise Forbidden(
            f"this token belongs to body {poster.subject}; the envelope is signed for "
            f"{signer_body}",
            field="actor.body",
        )


def check_reader(reader: Reader, case: Case) -> None:
    """The bodies on ``case``, auditors and the administrator read it."""
    if reader.kind in OVERSEERS:
        return
    if reader.kind == "body" and reader.subject in parties(case):
        return
    raise Forbidden("only the bodies on this case, auditors and the administrator read it")


def _commitments_match(record: ApplicantRecord, signed: object) -> bool:
    return record.commitments is not None and signed == dict(record.commitments)


class CaseAccess:
    """Reads of cases, listings and personal data under the rules above."""

    def __init__(
        self,
        ledger: CaseReader,
        listing: CaseListing,
        applicants: ApplicantReads,
        log: AccessLog,
        *,
        now: Callable[[], datetime],
    ):
        self.ledger = ledger
        self.listing = listing
        self.applicants = applicants
        self.log = log
        self.now = now

    def case(self, reader: Reader, case_id: uuid.UUID) -> Case:
        """The case, if ``reader`` may read it (an unknown case is ``UnknownCase`` first)."""
        case = self.ledger.get_case(case_id)
        check_reader(reader, case)
        return case

    def list_cases(self, reader: Reader, query: CaseQuery) -> CaseSummaries:
        """The cases ``query`` admits; a body lists only the cases it is on."""
        if reader.kind == "body":
            if query.body is not None and query.body != reader.subject:
                raise Forbidden("a body lists only its own cases", field="body")
            query = replace(query, body=reader.subject)
        return self.listing.list_cases(query)

    def read_applicant(self, reader: Reader, case: Case, purpose: str) -> dict[str, str]:
        """The applicant's data in clear for a body on the case (with its ``ref``; an erased
        or unknown applicant as ``erased``/``unknown``: ``"true"``); the read is logged."""
        if reader.kind != "body" or reader.subject not in parties(case):
            raise Forbidden("personal data is shown in clear only to bodies on the case")
        if not purpose.strip():
            raise PurposeRefused("say why you read personal data (purpose)", field="purpose")
        found = find_personal_data(purpose)
        if found is not None:  # the access log shows the purpose to auditors, not on the case
            raise PurposeRefused(f"the purpose must not carry {found} in clear", field="purpose")
        signed = self._signed_applicant(case.id)
        assert signed is not None  # a stored case opened with a checked `received` body
        ref: str = signed["ref"]
        record = self.applicants.applicant_record(ref)
        if (
            record is None
            or record.case_id != str(case.id)
            or (not record.erased and not _commitments_match(record, signed["commitments"]))
        ):
            # Never show a person whose stored data does not match what this case signed.
            raise RecordMismatch(
                "this case's applicant record does not match its signed commitments"
            )
        self.log.record_access(
            str(case.id), reader, purpose=purpose, fields="applicant", now=self.now()
        )
        data = self.applicants.applicant_data(ref)
        if isinstance(data, str):  # ERASED or UNKNOWN
            return {"ref": ref, data: "true"}
        return {"ref": ref, **data}

    def _signed_applicant(self, case_id: uuid.UUID) -> dict[str, Any] | None:
        """The ``applicant`` of a case's signed ``received`` step (one row read), or None."""
        raw = self.ledger.envelope_at(case_id, 1)
        applicant = parse_event(raw).body.get("applicant") if raw is not None else None
        return applicant if isinstance(applicant, dict) else None
