"""Issuance in two requests, and the status changes after it.

A document names its issuance event's ledger index and the event names the document's digest:
:meth:`Issuance.issue` checks a *draft* (issuance_index 0) against the officer-signed
``license_issued`` event, appends the event and keeps the draft; :meth:`Issuance.complete`
takes the issued document (the draft with the index filled in, signed by the same key) and
keeps it. Both documents are stored encrypted and erasable. Suspension, reinstatement and
revocation are signed events appended by :meth:`Issuance.change_status`, which publishes the
new status list at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from ledger.application import Appended
from ledger.envelope import Envelope, parse_event
from ledger.errors import LedgerError
from ledger.license_events import (
    ISSUED,
    REINSTATED,
    REVOKED,
    SUSPENDED,
    check_issued_body,
    license_stream_id,
)
from ledger.personal import commit
from licenses.context import ServiceContext
from licenses.document import InvalidLicense, LicenseDocument, parse_license, verify_issued_by
from licenses.errors import (
    HolderSecretUnavailable,
    LicenseConflict,
    LicenseForbidden,
    LicenseNotFound,
    LicenseRefused,
    StatusIndexTaken,
)
from licenses.identifiers import HolderKind
from licenses.status import MIN_ENTRIES, allocate_index
from licenses.status_lists import StatusLists

__all__ = ["STATUS_ACTIONS", "Issuance"]

_STATUS_ACTIONS: Final = {"suspend": SUSPENDED, "reinstate": REINSTATED, "revoke": REVOKED}
#: What a change posted to ``/licenses/{id}/<action>`` must be.
STATUS_ACTIONS: Final[Mapping[str, str]] = _STATUS_ACTIONS


def _refused(error: InvalidLicense, prefix: str = "document") -> LicenseRefused:
    where = f"{prefix}.{error.field}" if error.field else prefix
    return LicenseRefused(error.reason, error.detail, field=where)


class Issuance:
    """Issuing licenses and changing their status."""

    def __init__(self, ctx: ServiceContext, status_lists: StatusLists) -> None:
        self.ctx = ctx
        self.status_lists = status_lists

    def _case_holder_secret(self, case_id: uuid.UUID) -> bytes:
        raw = self.ctx.ledger.envelope_at(case_id, 1)
        applicant = parse_event(raw).body.get("applicant", {}) if raw else {}
        try:
            return self.ctx.holders.commitment_secret(str(applicant.get("ref", "")))
        except HolderSecretUnavailable as error:
            raise LicenseRefused(
                "holder_unavailable",
                f"the case's applicant cannot be checked ({error.cause})",
                field="document.holder.code",
            ) from None

    def prepare(self, case_id: uuid.UUID, identifier: str, body: str) -> dict[str, Any]:
        """A status entry for ``identifier`` and what the issuing body signs about the case.

        Only the case's home body prepares; the entry is held for the identifier from now on
        (asking again returns the same one).
        """
        self.ctx.check_identifier(identifier)
        case = self.ctx.ledger.get_case(case_id)
        if case.flow.home_body != body:
            raise LicenseForbidden(
                "not_entitled",
                f"a license is issued by the case's home body {case.flow.home_body}",
                field="case",
            )
        held = self.ctx.store.index_of(identifier)
        if held is None:
            list_id = f"{self.ctx.region}-1"
            while True:
                try:
                    index = allocate_index(
                        self.ctx.store.taken_indexes(list_id),
                        MIN_ENTRIES,
                        randbelow=self.ctx.randbelow,
                    )
                except ValueError:  # the list is full: the next one
                    number = int(list_id.rpartition("-")[2]) + 1
                    list_id = f"{self.ctx.region}-{number}"
                    continue
                try:
                    self.ctx.store.hold_index(list_id, index, identifier, body)
                    break
                except StatusIndexTaken:  # another request took it meanwhile: draw again
                    continue
            held = (list_id, index, body)
        received = parse_event(self.ctx.ledger.envelope_at(case_id, 1) or b"")
        delivered = [seq for seq, step_type, _, _ in case.steps if step_type == "delivered"]
        return {
            "case": str(case_id),
            "identifier": identifier,
            "ledger": self.ctx.ledger.ledger_name,
            "status": {"list": held[0], "index": held[1]},
            "holder_commitment": received.body["applicant"]["commitments"]["id_number"],
            "delivered_seq": delivered[-1] if delivered else None,
            "jurisdiction": received.body.get("jurisdiction", ""),
        }

    def _check_draft(self, envelope: Envelope, draft: LicenseDocument) -> None:
        """Refuse a draft that does not say what the ``license_issued`` event says."""
        body = envelope.body
        agreements: list[tuple[bool, str, str]] = [
            (draft.is_draft, "issuance_index", "a draft has issuance_index 0"),
            (draft.id.text == body["id"], "id", "the event's id"),
            (draft.issuer.body == body["issuer_body"], "issuer.body", "the event's issuer_body"),
            (str(draft.case_id) == body["case"], "case", "the event's case"),
            (draft.ledger == self.ctx.ledger.ledger_name, "ledger", "this ledger's name"),
            (
                (draft.status.list, draft.status.index)
                == (body["status"]["list"], body["status"]["index"]),
                "status",
                "the event's status entry",
            ),
            (draft.valid_from.isoformat() == body["valid_from"], "valid_from", "the event's"),
            (
                (draft.valid_until.isoformat() if draft.valid_until else "") == body["valid_until"],
                "valid_until",
                "the event's",
            ),
            (draft.digest == body["document_digest"], "digest", "the event's document_digest"),
        ]
        for agrees, name, what in agreements:
            if not agrees:
                raise LicenseRefused(
                    "document_mismatch",
                    f"the document's {name} is not {what}",
                    field=f"document.{name}",
                )
        if draft.holder.code_type is HolderKind.RIC:
            secret = self._case_holder_secret(draft.case_id)
            if commit(secret, "id_number", draft.holder.code) != body["holder_commitment"]:
                raise LicenseRefused(
                    "document_mismatch",
                    "the document's holder is not the case's applicant",
                    field="document.holder.code",
                )

    def issue(self, event_raw: bytes, draft_raw: bytes, body: str) -> Appended:
        """Check the draft against the signed ``license_issued`` event, append the event and
        keep the draft. Refusals name the field (``document.<field>`` for the draft)."""
        try:
            envelope = parse_event(event_raw)
        except LedgerError as error:  # the request's field is `event`, not a posted envelope
            field = "event" if error.field in (None, "envelope") else f"event.{error.field}"
            raise LicenseRefused(error.reason, error.detail, field=field) from None
        if envelope.type != ISSUED:
            raise LicenseRefused("malformed", f"{envelope.type} is not {ISSUED}", field="type")
        if envelope.body_id != body:
            raise LicenseForbidden(
                "forbidden", f"the event is signed for {envelope.body_id}", field="actor.body"
            )
        check_issued_body(envelope.body)
        try:
            draft = parse_license(draft_raw, allow_draft=True)
        except InvalidLicense as error:
            raise _refused(error) from None
        self._check_draft(envelope, draft)
        self.ctx.ledger.refresh_registry()
        try:
            verify_issued_by(draft, self.ctx.ledger.registry, moment=self.ctx.clock())
        except InvalidLicense as error:
            raise _refused(error) from None
        status = envelope.body["status"]
        if not self.ctx.own_list(status["list"]):
            raise LicenseRefused(
                "unknown_status_list",
                f"this node publishes lists {self.ctx.region}-<n>, not {status['list']}",
                field="body.status.list",
            )
        try:
            self.ctx.store.hold_index(status["list"], status["index"], envelope.body["id"], body)
        except StatusIndexTaken as error:
            raise LicenseConflict(
                "status_index_taken", str(error), field="body.status.index"
            ) from None
        appended = self.ctx.ledger.append_license_event(event_raw)
        self.ctx.store.put_document(envelope.body["id"], "draft", draft_raw)
        return appended

    def complete(self, identifier: str, document_raw: bytes, body: str) -> LicenseDocument:
        """Keep the issued document: the draft with ``issuance_index`` set, same key."""
        event, moment = self.ctx.issued_event(identifier)
        if event.body_id != body:
            raise LicenseForbidden("forbidden", f"{identifier} was issued by {event.body_id}")
        try:
            document = parse_license(document_raw)
        except InvalidLicense as error:
            raise _refused(error) from None
        draft_raw = self.ctx.store.document(identifier, "draft")
        if draft_raw is None:
            raise LicenseNotFound("unknown_license", f"no draft of {identifier} is kept here")
        draft = parse_license(draft_raw, allow_draft=True)
        index = self.ctx.ledger.license_state(identifier).issuance_index
        if document.issuance_index != index:
            raise LicenseRefused(
                "document_mismatch",
                f"issuance_index must be {index}, the ledger index of the issuance",
                field="document.issuance_index",
            )
        if {**document.signed.content, "issuance_index": 0} != draft.signed.content:
            changed = sorted(
                name
                for name in draft.signed.content
                if name != "issuance_index"
                and document.signed.content.get(name) != draft.signed.content[name]
            )
            raise LicenseRefused(
                "document_mismatch",
                "the issued document differs from the draft the event names beyond its "
                "issuance_index",
                field=f"document.{changed[0] if changed else 'kid'}",
            )
        self.ctx.ledger.refresh_registry()
        try:
            verify_issued_by(document, self.ctx.ledger.registry, moment=moment)
        except InvalidLicense as error:
            raise _refused(error) from None
        self.ctx.store.put_document(identifier, "issued", document_raw)
        return document

    def change_status(self, identifier: str, action: str, event_raw: bytes, body: str) -> Appended:
        """Append a signed suspension, reinstatement or revocation; publish the new list."""
        envelope = parse_event(event_raw)
        wanted = _STATUS_ACTIONS[action]
        if envelope.type != wanted:
            raise LicenseRefused(
                "malformed", f"/{action} takes a {wanted} event, not {envelope.type}", field="type"
            )
        if envelope.case_id != license_stream_id(identifier):
            raise LicenseRefused("wrong_stream", f"the event is not for {identifier}", field="case")
        if envelope.body_id != body:
            raise LicenseForbidden(
                "forbidden", f"the event is signed for {envelope.body_id}", field="actor.body"
            )
        event, _ = self.ctx.issued_event(identifier)
        if event.body_id != body:
            raise LicenseForbidden(
                "forbidden", f"{identifier} is {event.body_id}'s to change", field="actor.body"
            )
        appended = self.ctx.ledger.append_license_event(event_raw)
        self.status_lists.status_list(event.body["status"]["list"])  # fresh at once
        return appended
