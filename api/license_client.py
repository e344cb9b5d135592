"""The issuing body's side of licenses, over a node's HTTP API (``docs/license.md`` §12).

:func:`issue_license` is what an issuing body's system does for an approved, delivered case:
hold a status entry, read the holder from the case (a logged personal-data read), sign the
draft document with the body's **license key** and the ``license_issued`` event with the
officer's key, post both, then sign and post the issued document (the draft with its ledger
index) and make the compact QR form. The node checks each piece; nothing here is trusted.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from api.client import TongbanClient
from ledger.envelope import ZERO_HASH
from ledger.license_events import ISSUED, license_stream_id
from ledger.suites import Signer
from licenses.document import parse_license
from licenses.drafts import compact_of, draft_issuance
from licenses.identifiers import LicenseIdentifier, make_identifier
from licenses.issuance import STATUS_ACTIONS
from licenses.trust import BEIJING

__all__ = [
    "IssuedLicense",
    "PreparedIssuance",
    "change_status",
    "identifier_for",
    "issue_license",
    "prepare_issuance",
]


@dataclass(frozen=True)
class IssuedLicense:
    identifier: str
    index: int
    document: bytes
    compact: str


@dataclass(frozen=True)
class PreparedIssuance:
    """The signed pieces of an issuance before they are posted: the ``license_issued`` event,
    the draft, the issued document for a ledger index and the compact form of a document."""

    identifier: str
    event: bytes
    draft: bytes
    document: Callable[[int], bytes]
    compact: Callable[[bytes], str]


def identifier_for(case_id: uuid.UUID, type_code: str, issuer_code: str) -> LicenseIdentifier:
    """The identifier a case's license of ``type_code`` gets: serial = the case id's first 24
    hex digits in upper case, so one case yields one license per type, known before delivery
    (the ``delivered`` step lists it)."""
    return make_identifier(type_code, issuer_code, case_id.hex[:24].upper())


def _today() -> date:
    return datetime.now(BEIJING).date()


def prepare_issuance(
    client: TongbanClient,
    license_key: Signer,
    case_id: uuid.UUID,
    identifier: str,
    *,
    face: Mapping[str, str] | None = None,
    number: str | None = None,
    valid_from: date | None = None,
    valid_until: date | str | None = "default",
    issued_on: date | None = None,
) -> PreparedIssuance:
    """Hold the status entry, read the holder and sign the event and the draft (nothing of
    the license is stored yet)."""
    prepared = client.http_json(
        "POST", "/licenses/prepare", {"case": str(case_id), "identifier": identifier}
    )
    if prepared["delivered_seq"] is None:
        raise ValueError(f"case {case_id} has no delivered step listing {identifier}")
    holder_data = client.case(case_id, personal=True, purpose="issue license")["applicant"]
    body_name = client.http_json("GET", f"/bodies/{client.body_id}")["name"]
    drafted = draft_issuance(
        prepared,
        holder_name=holder_data["name"],
        holder_code=holder_data["id_number"],
        body_id=client.body_id,
        body_name=body_name,
        issued_on=issued_on or _today(),
        face=face,
        number=number,
        valid_from=valid_from,
        valid_until=valid_until,
    )

    def document(index: int) -> bytes:
        return drafted.document(license_key, index)

    draft = document(0)
    event = client.sign(
        license_stream_id(identifier),
        1,
        ZERO_HASH,
        ISSUED,
        drafted.event_body(
            delivered_seq=prepared["delivered_seq"],
            holder_commitment=base64.b64decode(prepared["holder_commitment"]),
            document_digest=parse_license(draft, allow_draft=True).digest,
        ),
    )

    def compact(issued: bytes) -> str:
        return compact_of(license_key, parse_license(issued))

    return PreparedIssuance(identifier, event, draft, document, compact)


def issue_license(
    client: TongbanClient,
    license_key: Signer,
    case_id: uuid.UUID,
    identifier: str,
    **options: Any,
) -> IssuedLicense:
    """Issue the license ``identifier`` for ``case_id`` (see the module docstring); ``options``
    are :func:`prepare_issuance`'s."""
    prepared = prepare_issuance(client, license_key, case_id, identifier, **options)
    appended = client.http_json(
        "POST",
        "/licenses",
        {
            "event": base64.b64encode(prepared.event).decode(),
            "document": base64.b64encode(prepared.draft).decode(),
        },
    )
    issued = prepared.document(appended["index"])
    client.http_json(
        "PUT",
        f"/licenses/{identifier}/document",
        {"document": base64.b64encode(issued).decode()},
    )
    return IssuedLicense(identifier, appended["index"], issued, prepared.compact(issued))


def change_status(
    client: TongbanClient, identifier: str, action: str, reason: str
) -> dict[str, Any]:
    """Sign and post a suspension, reinstatement or revocation on the license's head."""
    # An unknown action must not fall through to signing a revocation.
    event_type = STATUS_ACTIONS.get(action)
    if event_type is None:
        raise ValueError(f"action must be one of {', '.join(STATUS_ACTIONS)}, not {action!r}")
    head = client.http_json("GET", f"/licenses/{identifier}", None)["head"]
    raw = client.sign(
        license_stream_id(identifier),
        head["seq"] + 1,
        bytes.fromhex(head["hash"]),
        event_type,
        {"reason": reason},
    )
    answer: dict[str, Any] = client.post_signed(f"/licenses/{identifier}/{action}", raw)
    return answer
