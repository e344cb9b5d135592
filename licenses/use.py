"""Holder use of a license: grants the holder gives at the issuing body, reads that honour
them (status for every reader, more with a grant, everything for the issuer) and the use log
(用证记录) of every read but the issuer's, for the holder and the issuer to see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ledger.keys import NODE
from ledger.personal import find_personal_data
from licenses.context import ServiceContext
from licenses.document import LicenseDocument, parse_license
from licenses.errors import (
    DocumentErased,
    LicenseError,
    LicenseForbidden,
    LicenseNotFound,
    LicenseRefused,
)
from licenses.grant import Grant, GrantRejected, build_grant, parse_grant
from licenses.identifiers import parse_holder_code
from licenses.ports import LicenseUse
from licenses.status_lists import ENTRY

__all__ = ["HolderUse", "LicenseView", "Reader"]


@dataclass(frozen=True)
class Reader:
    """Who reads: a principal's kind and subject, and the region it speaks for."""

    kind: str  # body, peer, auditor, admin
    subject: str
    region: str  # the body's region, the peer's region; "" for auditors and the admin


@dataclass(frozen=True)
class LicenseView:
    """What a reader sees of a license: status for everyone, more with a grant."""

    identifier: str
    state: str
    status: str
    type: str
    issuer_body: str
    status_list: str
    status_index: int
    issuance_index: int
    last_index: int
    head_seq: int
    head_hash: str
    valid_from: str
    valid_until: str
    scope: tuple[str, ...] = ()
    metadata: dict[str, Any] | None = None
    face: dict[str, str] | None = None
    document: bytes | None = None
    grant_uses_left: int | None = None


def _screen_purpose(purpose: str) -> None:
    # A purpose is shown to others (the use log to auditors, a grant to another region):
    # it must not carry the holder's ID or phone number in clear.
    found = find_personal_data(purpose)
    if found is not None:
        raise LicenseRefused(
            "malformed", f"the purpose must not carry {found} in clear", field="purpose"
        )


def _metadata(document: LicenseDocument) -> dict[str, Any]:
    return {
        "name": document.name,
        "number": document.number,
        "holder": {
            "name": document.holder.name,
            "code": document.holder.code,
            "code_type": document.holder.code_type.value,
        },
        "issuer": {
            "name": document.issuer.name,
            "code": document.issuer.code,
            "body": document.issuer.body,
        },
        "issued_on": document.issued_on.isoformat(),
        "valid_from": document.valid_from.isoformat(),
        "valid_until": document.valid_until.isoformat() if document.valid_until else "",
        "jurisdiction": document.jurisdiction,
        "case": str(document.case_id),
        "ledger": document.ledger,
    }


class HolderUse:
    """Grants, reads and the use log."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def read(
        self, identifier: str, reader: Reader, *, grant_raw: bytes | None, purpose: str
    ) -> LicenseView:
        """A license as ``reader`` may see it; every read but the issuer's is logged."""
        self.ctx.check_identifier(identifier)
        _screen_purpose(purpose)
        event, _ = self.ctx.issued_event(identifier)
        state = self.ctx.ledger.license_state(identifier)
        stream = self.ctx.stream(identifier)
        body = event.body
        view = LicenseView(
            identifier=identifier,
            state=state.state,
            status=ENTRY[state.state].name.lower(),
            type=body["type"],
            issuer_body=body["issuer_body"],
            status_list=body["status"]["list"],
            status_index=body["status"]["index"],
            issuance_index=state.issuance_index,
            last_index=state.last_index,
            head_seq=stream.head.seq,
            head_hash=stream.head.event_hash.hex(),
            valid_from=body["valid_from"],
            valid_until=body["valid_until"],
        )
        issuer = reader.kind == "body" and reader.subject == body["issuer_body"]
        scope: tuple[str, ...] = ()
        grant: Grant | None = None
        if issuer:
            scope = ("metadata", "face", "document")
        elif grant_raw is not None:
            try:
                grant = self._admit(identifier, reader, grant_raw)
            except GrantRejected as refused:
                # A refused lookup is a lookup too: the holder sees who tried.
                self._log(identifier, reader, purpose, f"refused:{refused.reason}", "")
                raise
            scope = grant.scope
        if not issuer:
            self._log(
                identifier,
                reader,
                grant.purpose if grant else purpose,
                ",".join(scope) or "status",
                grant.grant_id if grant else "",
            )
        if not scope:
            return view
        document = self._document(identifier)
        left = None
        if grant is not None:
            stored = self.ctx.store.grant(grant.grant_id)
            left = stored.uses - stored.used if stored else None
        return replace(
            view,
            scope=scope,
            metadata=_metadata(document) if "metadata" in scope else None,
            face=dict(document.face) if "face" in scope else None,
            document=document.raw if "document" in scope else None,
            grant_uses_left=left,
        )

    def _log(self, identifier: str, reader: Reader, purpose: str, scope: str, grant: str) -> None:
        when = datetime.fromtimestamp(self.ctx.clock() / 1_000_000, UTC).isoformat()
        self.ctx.store.record_use(
            LicenseUse(
                identifier, reader.kind, reader.subject, purpose or "status", scope, grant, when
            )
        )

    def _document(self, identifier: str) -> LicenseDocument:
        try:
            raw = self.ctx.store.document(identifier, "issued") or self.ctx.store.document(
                identifier, "draft"
            )
        except DocumentErased as error:
            raise LicenseNotFound("erased", str(error), field="identifier") from None
        if raw is None:
            raise LicenseNotFound("no_document", f"no document of {identifier} is kept here")
        return parse_license(raw, allow_draft=True)

    def _admit(self, identifier: str, reader: Reader, grant_raw: bytes) -> Grant:
        grant = parse_grant(grant_raw)
        signer = self.ctx.ledger.node_signer
        assert signer is not None
        self.ctx.ledger.refresh_registry()
        key = self.ctx.ledger.registry.keys.get(grant.key_id)
        if key is None or key.role != NODE or key.region != self.ctx.region:
            raise GrantRejected(
                "wrong_key", "the grant is not signed by this region's node", field="kid"
            )
        grant.verify(key.public_key)
        body = reader.subject if reader.kind == "body" else None
        if reader.kind not in ("body", "peer"):
            raise GrantRejected(
                "wrong_audience", "grants are for bodies and peers", field="audience"
            )
        grant.admits(identifier, reader.region, body, self.ctx.clock())
        stored = self.ctx.store.grant(grant.grant_id)
        if stored is None or stored.raw != grant.raw:
            raise GrantRejected("unknown_grant", "this node did not issue that grant", field="id")
        if stored.withdrawn_at is not None:
            raise GrantRejected("grant_withdrawn", "the holder withdrew the grant", field="id")
        if not self.ctx.store.use_grant(grant.grant_id):
            raise GrantRejected("grant_used_up", f"all {grant.uses} uses were made", field="uses")
        return grant

    def grant(
        self,
        identifier: str,
        body: str,
        *,
        holder_code: str,
        audience_region: str,
        audience_body: str,
        scope: Iterable[str],
        purpose: str,
        expires_at: int,
        uses: int,
    ) -> bytes:
        """A grant the holder gives at the issuing body: signed by this node's key.

        The holder proves presence with their code (checked against the document, never stored
        in the grant); only the issuing body asks for it.
        """
        event, _ = self.ctx.issued_event(identifier)
        if event.body_id != body:
            raise LicenseForbidden(
                "forbidden", f"grants for {identifier} are made at its issuer {event.body_id}"
            )
        _screen_purpose(purpose)
        if audience_body:  # else a grant nobody could use: only bodies known here get tokens
            self.ctx.ledger.refresh_registry()
            found = self.ctx.ledger.registry.bodies.get(audience_body)
            if found is None or found.region != audience_region:
                raise LicenseRefused(
                    "malformed",
                    f"{audience_body} is not a body of region {audience_region} known here",
                    field="audience_body",
                )
        document = self._document(identifier)
        try:
            given = parse_holder_code(holder_code, document.holder.code_type)
        except LicenseError:
            given = None
        if given is None or given.value != document.holder.code:
            raise LicenseForbidden(
                "holder_mismatch",
                "the holder code is not the license holder's",
                field="holder_code",
            )
        now = self.ctx.clock()
        if expires_at <= now:
            raise LicenseRefused(
                "malformed", "expires_at must be in the future", field="expires_at"
            )
        signer = self.ctx.ledger.node_signer
        assert signer is not None
        grant_id = self.ctx.token_hex(16)
        raw = build_grant(
            signer,
            grant_id=grant_id,
            license=identifier,
            ledger=self.ctx.ledger.ledger_name,
            audience_region=audience_region,
            audience_body=audience_body,
            scope=scope,
            purpose=purpose,
            issued_at=now,
            expires_at=expires_at,
            uses=uses,
        )
        self.ctx.store.add_grant(grant_id, identifier, uses, raw)
        return raw

    def withdraw_grant(self, identifier: str, grant_id: str, body: str) -> None:
        event, _ = self.ctx.issued_event(identifier)
        # The issuer first: another body learns nothing about which grant ids exist.
        if event.body_id != body:
            raise LicenseForbidden("forbidden", f"{identifier} was issued by {event.body_id}")
        stored = self.ctx.store.grant(grant_id)
        if stored is None or stored.identifier != identifier:
            raise LicenseNotFound(
                "unknown_grant", f"no grant {grant_id} of {identifier}", field="grant_id"
            )
        self.ctx.store.withdraw_grant(
            grant_id, now=datetime.fromtimestamp(self.ctx.clock() / 1_000_000, UTC)
        )

    def erase_documents(self, identifier: str) -> None:
        """Make the license's documents (the holder's name and ID) unreadable for good: its
        status, events and signatures stay; reads that would show a document answer 404
        ``erased``."""
        self.ctx.issued_event(identifier)
        self.ctx.store.erase_documents(
            identifier, now=datetime.fromtimestamp(self.ctx.clock() / 1_000_000, UTC)
        )

    def uses(self, identifier: str, reader: Reader) -> list[LicenseUse]:
        event, _ = self.ctx.issued_event(identifier)
        if reader.kind == "body" and reader.subject != event.body_id:
            raise LicenseForbidden("forbidden", f"the use log is {event.body_id}'s to read")
        return self.ctx.store.uses(identifier)
