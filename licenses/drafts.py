"""What an issuance signs, drawn up from what the node said of the case (``docs/license.md``
§12.1): the license document (a draft, then the issued one), the ``license_issued`` event's
body and the compact form.

Two callers build the same things: the issuing body's program (``api/license_client.py``,
its own license key) and the officers' pages, where the node seals with the body's key for
them (``api/routes/license_drafts.py``, ``docs/pages.md``). Nothing here signs an event or
stores anything; a document is signed by the ``seal`` handed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ledger.suites import Signer
from licenses.compact import encode_compact
from licenses.document import Holder, Issuer, LicenseDocument, StatusEntry, build_license
from licenses.identifiers import LicenseIdentifier, parse_identifier
from licenses.types import FaceField, LicenseType, get_type

__all__ = [
    "IssuanceDraft",
    "compact_of",
    "default_valid_until",
    "derived_face",
    "draft_issuance",
    "issued_from_draft",
    "typed_face_fields",
]


def default_valid_until(license_type: LicenseType, valid_from: date) -> date | None:
    """The last day of the type's statutory term from ``valid_from``; ``None``: no end."""
    years = license_type.validity_years
    if not years:
        return None
    try:
        end = valid_from.replace(year=valid_from.year + years)
    except ValueError:  # 29 February, and the term ends in a common year
        end = valid_from.replace(year=valid_from.year + years, day=28) + timedelta(days=1)
    return end - timedelta(days=1)


def _derived(spec: FaceField) -> bool:
    return spec.kind == "holder_code" or spec.key in ("holder_name", "issued_on", "issuer")


def typed_face_fields(license_type: LicenseType) -> tuple[FaceField, ...]:
    """The face fields an officer types; the others come from the holder, the day and the
    issuing body (:func:`derived_face`)."""
    return tuple(spec for spec in license_type.face_fields if not _derived(spec))


def derived_face(
    license_type: LicenseType,
    *,
    holder_name: str,
    holder_code: str,
    issued_on: date,
    issuer_name: str,
) -> dict[str, str]:
    """The face fields that are the holder's name and code, the issue day and the issuer."""
    values = {"holder_name": holder_name, "issued_on": issued_on.isoformat(), "issuer": issuer_name}
    return {
        spec.key: holder_code if spec.kind == "holder_code" else values[spec.key]
        for spec in license_type.face_fields
        if _derived(spec)
    }


@dataclass(frozen=True)
class IssuanceDraft:
    """A license as it will be issued, before any signature."""

    identifier: LicenseIdentifier
    license_type: LicenseType
    number: str
    holder: Holder
    issuer: Issuer
    issued_on: date
    valid_from: date
    valid_until: date | None
    jurisdiction: str
    face: Mapping[str, str]
    ledger: str
    case_id: uuid.UUID
    status: StatusEntry

    def document(self, seal: Signer, index: int = 0) -> bytes:
        """The document signed by ``seal``: the draft (``index`` 0) or the issued one."""
        return build_license(
            seal,
            identifier=self.identifier,
            name=self.license_type.name,
            number=self.number,
            holder=self.holder,
            issuer=self.issuer,
            issued_on=self.issued_on,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            jurisdiction=self.jurisdiction,
            face=self.face,
            ledger=self.ledger,
            case_id=self.case_id,
            issuance_index=index,
            status=self.status,
        )

    def event_body(
        self, *, delivered_seq: int, holder_commitment: bytes, document_digest: bytes
    ) -> dict[str, Any]:
        """The ``license_issued`` event's body (``docs/license.md`` §9) naming the draft."""
        return {
            "id": self.identifier.text,
            "type": self.identifier.type_code,
            "issuer_body": self.issuer.body,
            "case": str(self.case_id),
            "delivered_seq": delivered_seq,
            "holder_commitment": holder_commitment,
            "status": {"list": self.status.list, "index": self.status.index},
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else "",
            "document_digest": document_digest,
        }


def draft_issuance(
    prepared: Mapping[str, Any],
    *,
    holder_name: str,
    holder_code: str,
    body_id: str,
    body_name: str,
    issued_on: date,
    face: Mapping[str, str] | None = None,
    number: str | None = None,
    valid_from: date | None = None,
    valid_until: date | str | None = "default",
) -> IssuanceDraft:
    """The license the prepared issuance (``LicenseService.prepare``'s answer) makes for the
    case's applicant. ``face`` adds to, and may replace, the derived face fields;
    ``valid_until`` ``"default"`` is the type's statutory term, ``None`` no end."""
    identifier = parse_identifier(str(prepared["identifier"]))
    license_type = get_type(identifier.type_code)
    valid_from = valid_from or issued_on
    if valid_until == "default":
        valid_until = default_valid_until(license_type, valid_from)
    assert not isinstance(valid_until, str)
    faces = derived_face(
        license_type,
        holder_name=holder_name,
        holder_code=holder_code,
        issued_on=issued_on,
        issuer_name=body_name,
    )
    faces.update(face or {})
    return IssuanceDraft(
        identifier=identifier,
        license_type=license_type,
        number=number or identifier.serial,
        holder=Holder(holder_name, holder_code, license_type.holder_kind),
        issuer=Issuer(body_name, identifier.issuer_code, body_id),
        issued_on=issued_on,
        valid_from=valid_from,
        valid_until=valid_until,
        jurisdiction=str(prepared["jurisdiction"]),
        face=faces,
        ledger=str(prepared["ledger"]),
        case_id=uuid.UUID(str(prepared["case"])),
        status=StatusEntry(prepared["status"]["list"], prepared["status"]["index"]),
    )


def issued_from_draft(draft: LicenseDocument, seal: Signer, index: int) -> bytes:
    """The issued document: ``draft`` with ``issuance_index`` = ``index``, signed by ``seal``
    (which must be the key that signed the draft: ``Issuance.complete`` checks every field)."""
    return build_license(
        seal,
        identifier=draft.id,
        name=draft.name,
        number=draft.number,
        holder=draft.holder,
        issuer=draft.issuer,
        issued_on=draft.issued_on,
        valid_from=draft.valid_from,
        valid_until=draft.valid_until,
        jurisdiction=draft.jurisdiction,
        face=draft.face,
        ledger=draft.ledger,
        case_id=draft.case_id,
        issuance_index=index,
        status=draft.status,
    )


def compact_of(seal: Signer, document: LicenseDocument) -> str:
    """The ``TB1:`` text of an issued document, signed by ``seal`` (the key that signed it)."""
    return encode_compact(
        seal,
        identifier=document.id,
        valid_from=document.valid_from,
        valid_until=document.valid_until,
        status_list_id=document.status.list,
        status_index=document.status.index,
        holder_name=document.holder.name,
        holder_id=document.holder.code,
        document_digest=document.digest,
    )
