"""The node's license service: what the ``/licenses``, ``/trust-list`` and ``/status-lists``
routes call (``docs/license.md`` §12).

Rules stay where they are: the document format and verification in ``licenses``, the life of a
license in ``ledger.license_events`` (checked again by ``LedgerApplication.append_license_event``).
This service joins them to storage (:mod:`adapters.license_store`, the vault) and to other
regions' nodes (a ``fetch`` function, injected):

- **issuance** in two requests, because a document names its issuance event's ledger index and
  the event names the document's digest: :meth:`issue` checks a *draft* (issuance_index 0)
  against the officer-signed ``license_issued`` event, appends the event and keeps the draft;
  :meth:`complete` takes the issued document (the draft with the index filled in, signed by
  the same key) and keeps it. Both documents are stored encrypted and erasable;
- **status**: lists are derived from the ledger's license events and re-signed with the node
  key whenever they change or near expiry (:meth:`status_list`);
- **trust**: this region's root-signed trust list (:meth:`publish_trust_list`), peers' lists
  fetched and checked against the pinned roots (:meth:`fetch_peer`);
- **use**: grants (:meth:`grant`), reads that honour them (:meth:`read`) and the use log.

Errors (each carries ``reason``, ``detail`` and ``field``; ``api/errors.py`` maps them)::

    LicenseServiceError
    ├── LicenseRefused     bad input: a document or event that does not agree (422)
    ├── LicenseNotFound    no such license, list, grant or trust list (404)
    ├── LicenseForbidden   the caller may not do this (403)
    └── LicenseConflict    a status entry already held, a trust list not newer (409)
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from adapters.license_store import (
    DocumentErased,
    LicenseStore,
    LicenseUse,
    StatusIndexTaken,
)
from adapters.vault import PersonalDataVault, VaultError
from ledger.application import Appended, LedgerApplication
from ledger.domain import LICENSE_TOPICS, License
from ledger.envelope import Envelope, ledger_region, parse_event
from ledger.errors import LedgerError
from ledger.keys import LICENSE, NODE, KeyRegistry, parse_key_record
from ledger.license_events import (
    ISSUED,
    REINSTATED,
    REVOKED,
    SUSPENDED,
    check_issued_body,
    license_stream_id,
)
from ledger.personal import commit, find_personal_data
from ledger.receipts import parse_receipt
from licenses.compact import CompactLicense, CompactRejected, decode_compact
from licenses.document import InvalidLicense, LicenseDocument, parse_license, verify_issued_by
from licenses.errors import LicenseError
from licenses.grant import Grant, GrantRejected, build_grant, parse_grant
from licenses.identifiers import HolderKind, parse_holder_code, parse_identifier
from licenses.status import (
    MIN_ENTRIES,
    LicenseStatus,
    SignedStatusList,
    StatusIndexError,
    StatusList,
    StatusListRejected,
    allocate_index,
    build_status_list,
    parse_status_list,
)
from licenses.trust import (
    LicenseKeyEntry,
    Recognition,
    TrustList,
    TrustListRejected,
    TrustStore,
    build_trust_list,
    parse_trust_list,
)
from licenses.verify import Verdict, verify_license

__all__ = [
    "STATUS_ACTIONS",
    "LicenseConflict",
    "LicenseForbidden",
    "LicenseNotFound",
    "LicenseRefused",
    "LicenseService",
    "LicenseServiceError",
    "LicenseView",
    "Reader",
    "check_status_list",
    "sign_trust_list",
    "trust_list_from_registry",
]

#: How long a published status list speaks (docs/license-offline.md §1.4 suggests a day).
DEFAULT_STATUS_LIST_LIFETIME: Final = 24 * 3600 * 1_000_000
# Re-sign an unchanged list once less than this share of its lifetime is left.
_REFRESH_SHARE: Final = 4
# The status each ledger state puts in a license's entry.
_ENTRY: Final = {
    "issued": LicenseStatus.VALID,
    "reinstated": LicenseStatus.VALID,
    "suspended": LicenseStatus.SUSPENDED,
    "revoked": LicenseStatus.REVOKED,
}
_STATUS_ACTIONS: Final = {"suspend": SUSPENDED, "reinstate": REINSTATED, "revoke": REVOKED}
#: What a change posted to ``/licenses/{id}/<action>`` must be.
STATUS_ACTIONS: Final[Mapping[str, str]] = _STATUS_ACTIONS


class LicenseServiceError(Exception):
    def __init__(self, reason: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.field = field


class LicenseRefused(LicenseServiceError):
    pass


class LicenseNotFound(LicenseServiceError):
    pass


class LicenseForbidden(LicenseServiceError):
    pass


class LicenseConflict(LicenseServiceError):
    pass


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


def _refused(error: InvalidLicense, prefix: str = "document") -> LicenseRefused:
    where = f"{prefix}.{error.field}" if error.field else prefix
    return LicenseRefused(error.reason, error.detail, field=where)


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


def trust_list_from_registry(
    registry: KeyRegistry, region: str, issuer_codes: Mapping[str, str]
) -> list[LicenseKeyEntry]:
    """The license keys of ``region``'s bodies, as its trust list names them.

    ``issuer_codes`` maps a body id to its USCC (the registry does not hold it); a body with a
    license key and no code is refused, so no key is published without the code it signs for.
    """
    entries = []
    for info in sorted(registry.keys.values(), key=lambda k: k.kid):
        if info.role != LICENSE or info.region != region:
            continue
        code = issuer_codes.get(info.owner)
        if code is None:
            raise ValueError(
                f"give the USCC of body {info.owner} (it holds license key {info.kid})"
            )
        entries.append(
            LicenseKeyEntry(
                kid=info.kid,
                suite=info.suite,
                public_key=info.public_key,
                body_id=info.owner,
                issuer_code=code,
                valid_from=info.valid_from,
                valid_until=info.valid_until,
                revoked_since=info.compromised_since,
            )
        )
    return entries


def sign_trust_list(
    registry: KeyRegistry,
    root: Any,
    *,
    region: str,
    version: int,
    issued_at: int,
    valid_until: int,
    issuer_codes: Mapping[str, str],
    recognition: Mapping[str, Iterable[str]],
) -> bytes:
    """A trust list of ``region`` from its registry, signed by its root key ``root``."""
    return build_trust_list(
        root,
        region=region,
        version=version,
        issued_at=issued_at,
        valid_until=valid_until,
        license_keys=trust_list_from_registry(registry, region, issuer_codes),
        recognition=[Recognition(t, frozenset(r)) for t, r in recognition.items()],
    )


def check_status_list(registry: KeyRegistry, raw: bytes) -> SignedStatusList:
    """A status list verified under the node key its ``kid`` names: a node key of the region
    its ``issuer`` ledger belongs to, in ``registry`` (whose roots are pinned), valid when the
    list was signed (docs/license-offline.md §1.4). Raises ``StatusListRejected``."""
    status_list = parse_status_list(raw)
    info = registry.keys.get(status_list.key_id)
    region = ledger_region(status_list.issuer)
    if info is None or info.role != NODE or region is None or info.region != region:
        raise StatusListRejected(
            "wrong_key",
            f"kid {status_list.key_id} is not a node key of region {region} known here "
            "(fetch the region's keys first)",
            field="kid",
        )
    try:
        info.check_valid_at(status_list.issued_at)
    except LedgerError as error:
        raise StatusListRejected("wrong_key", error.detail, field="kid") from None
    status_list.verify(info.public_key)
    return status_list


def _decoded(presented: bytes | str) -> CompactLicense | LicenseDocument | None:
    """The presented license decoded, or None when it does not decode."""
    try:
        return decode_compact(presented) if isinstance(presented, str) else parse_license(presented)
    except (CompactRejected, InvalidLicense):
        return None


class LicenseService:
    """Licenses on one node (see the module docstring)."""

    def __init__(
        self,
        ledger: LedgerApplication,
        store: LicenseStore,
        vault: PersonalDataVault,
        *,
        region: str,
        fetch: Callable[[str], bytes] | None = None,
        status_list_lifetime: int = DEFAULT_STATUS_LIST_LIFETIME,
        randbelow: Callable[[int], int] = secrets.randbelow,
        token_hex: Callable[[int], str] = secrets.token_hex,
    ):
        self.ledger = ledger
        self.store = store
        self.vault = vault
        self.region = region
        self.fetch = fetch
        self.lifetime = status_list_lifetime
        self.randbelow = randbelow
        self.token_hex = token_hex
        self._trust_cache: tuple[object, TrustStore] | None = None
        self._status_cache: tuple[bytes, SignedStatusList] | None = None
        self._derived: tuple[int, dict[str, bytes]] | None = None

    @property
    def clock(self) -> Callable[[], int]:
        return self.ledger.clock

    # -- helpers -----------------------------------------------------------------------------

    def own_list(self, list_id: str) -> bool:
        """Whether ``list_id`` is one of this node's lists (``<region>-<n>``, n ≥ 1)."""
        prefix, _, number = list_id.rpartition("-")
        return prefix == self.region and number.isdigit() and not number.startswith("0")

    def _stream(self, identifier: str) -> License:
        stream: object = self.ledger.repository.get(license_stream_id(identifier))
        assert isinstance(stream, License)
        return stream

    def _issued_event(self, identifier: str) -> tuple[Envelope, int]:
        """The ``license_issued`` envelope and its receipt time (the issuance moment)."""
        try:  # a mistyped identifier is bad input (422), not an unknown license (404)
            parse_identifier(identifier)
        except LicenseError as error:
            raise LicenseRefused("malformed", str(error), field="identifier") from None
        entries = self.ledger.stream_entries(license_stream_id(identifier))
        if not entries:
            raise LicenseNotFound("unknown_license", f"no license {identifier}", field="identifier")
        return parse_event(entries[0].envelope), parse_receipt(entries[0].receipt).time

    def _case_holder_secret(self, case_id: uuid.UUID) -> bytes:
        raw = self.ledger.envelope_at(case_id, 1)
        applicant = parse_event(raw).body.get("applicant", {}) if raw else {}
        try:
            return self.vault.commitment_secret(str(applicant.get("ref", "")))
        except VaultError as error:
            raise LicenseRefused(
                "holder_unavailable",
                f"the case's applicant cannot be checked ({type(error).__name__})",
                field="document.holder.code",
            ) from None

    # -- issuance ----------------------------------------------------------------------------

    def prepare(self, case_id: uuid.UUID, identifier: str, body: str) -> dict[str, Any]:
        """A status entry for ``identifier`` and what the issuing body signs about the case.

        Only the case's home body prepares; the entry is held for the identifier from now on
        (asking again returns the same one).
        """
        try:
            parse_identifier(identifier)
        except LicenseError as error:
            raise LicenseRefused("malformed", str(error), field="identifier") from None
        case = self.ledger.get_case(case_id)
        if case.flow.home_body != body:
            raise LicenseForbidden(
                "not_entitled",
                f"a license is issued by the case's home body {case.flow.home_body}",
                field="case",
            )
        held = self.store.index_of(identifier)
        if held is None:
            list_id = f"{self.region}-1"
            while True:
                try:
                    index = allocate_index(
                        self.store.taken_indexes(list_id), MIN_ENTRIES, randbelow=self.randbelow
                    )
                except ValueError:  # the list is full: the next one
                    number = int(list_id.rpartition("-")[2]) + 1
                    list_id = f"{self.region}-{number}"
                    continue
                try:
                    self.store.hold_index(list_id, index, identifier, body)
                    break
                except StatusIndexTaken:  # another request took it meanwhile: draw again
                    continue
            held = (list_id, index, body)
        received = parse_event(self.ledger.envelope_at(case_id, 1) or b"")
        delivered = [seq for seq, step_type, _, _ in case.steps if step_type == "delivered"]
        return {
            "case": str(case_id),
            "identifier": identifier,
            "ledger": self.ledger.ledger_name,
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
            (draft.ledger == self.ledger.ledger_name, "ledger", "this ledger's name"),
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
        self.ledger.refresh_registry()
        try:
            verify_issued_by(draft, self.ledger.registry, moment=self.clock())
        except InvalidLicense as error:
            raise _refused(error) from None
        status = envelope.body["status"]
        if not self.own_list(status["list"]):
            raise LicenseRefused(
                "unknown_status_list",
                f"this node publishes lists {self.region}-<n>, not {status['list']}",
                field="body.status.list",
            )
        try:
            self.store.hold_index(status["list"], status["index"], envelope.body["id"], body)
        except StatusIndexTaken as error:
            raise LicenseConflict(
                "status_index_taken", str(error), field="body.status.index"
            ) from None
        appended = self.ledger.append_license_event(event_raw)
        self.store.put_document(envelope.body["id"], "draft", draft_raw)
        return appended

    def complete(self, identifier: str, document_raw: bytes, body: str) -> LicenseDocument:
        """Keep the issued document: the draft with ``issuance_index`` set, same key."""
        event, moment = self._issued_event(identifier)
        if event.body_id != body:
            raise LicenseForbidden("forbidden", f"{identifier} was issued by {event.body_id}")
        try:
            document = parse_license(document_raw)
        except InvalidLicense as error:
            raise _refused(error) from None
        draft_raw = self.store.document(identifier, "draft")
        if draft_raw is None:
            raise LicenseNotFound("unknown_license", f"no draft of {identifier} is kept here")
        draft = parse_license(draft_raw, allow_draft=True)
        index = self.ledger.license_state(identifier).issuance_index
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
        self.ledger.refresh_registry()
        try:
            verify_issued_by(document, self.ledger.registry, moment=moment)
        except InvalidLicense as error:
            raise _refused(error) from None
        self.store.put_document(identifier, "issued", document_raw)
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
        event, _ = self._issued_event(identifier)
        if event.body_id != body:
            raise LicenseForbidden(
                "forbidden", f"{identifier} is {event.body_id}'s to change", field="actor.body"
            )
        appended = self.ledger.append_license_event(event_raw)
        self.status_list(event.body["status"]["list"])  # fresh at once
        return appended

    # -- status lists ------------------------------------------------------------------------

    def derive_status_list(self, list_id: str) -> StatusList:
        """The list as the ledger's license events say it now."""
        bits = self._derived_lists().get(list_id)
        return StatusList(MIN_ENTRIES) if bits is None else StatusList.from_bitstring(bits)

    def _derived_lists(self) -> dict[str, bytes]:
        """Every list's bits, derived in one pass over the license streams per ledger index."""
        # Each GET /status-lists/{id} and online verify of an own license asked for this; it
        # read every license stream each time. Indexes are given out under the events table's
        # lock, in commit order: at the same last index the ledger, so the lists, are the
        # same. The index is read first, so a write during the pass only makes the entry new.
        last = self.ledger.store.max_index()
        cached = self._derived
        if cached is not None and cached[0] == last:
            return cached[1]
        lists: dict[str, StatusList] = {}
        for stream_id in self.ledger.store.select_stream_ids(LICENSE_TOPICS[0]):
            state: object = self.ledger.repository.get(stream_id)
            assert isinstance(state, License)
            entry = lists.setdefault(state.license.status_list, StatusList(MIN_ENTRIES))
            entry.set(state.license.status_index, _ENTRY[state.license.state])
        derived = {list_id: bits.bitstring() for list_id, bits in lists.items()}
        self._derived = (last, derived)
        return derived

    def status_list(self, list_id: str) -> bytes:
        """The newest signed version of one of this node's lists, re-signed (next version) if
        the ledger changed it or less than a quarter of its lifetime is left."""
        # Only lists in use (and the first): an unauthenticated GET must not make the node
        # sign and store lists for any id it is asked about.
        if list_id != f"{self.region}-1" and list_id not in self.store.list_ids():
            raise LicenseNotFound(
                "unknown_status_list", f"this node publishes no list {list_id}", field="list_id"
            )
        signer = self.ledger.node_signer
        assert signer is not None
        while True:
            now = self.clock()
            bits = self.derive_status_list(list_id)
            latest = self.store.latest_status_list(list_id)
            if latest is not None:
                current = parse_status_list(latest[1])
                fresh = now < current.valid_until - self.lifetime // _REFRESH_SHARE
                if fresh and current.bits == bits.bitstring():
                    return latest[1]
            version = latest[0] + 1 if latest else 1
            raw = build_status_list(
                signer,
                bits,
                list_id=list_id,
                issuer=self.ledger.ledger_name,
                version=version,
                issued_at=now,
                valid_until=now + self.lifetime,
            )
            if self.store.add_status_list(list_id, version, raw):
                return raw

    def own_status(self, list_id: str, index: int) -> LicenseStatus | None:
        if not self.own_list(list_id):
            return None
        try:
            return self.derive_status_list(list_id).get(index)
        except StatusIndexError:
            return None

    def check_peer_status_list(self, raw: bytes) -> SignedStatusList:
        """A peer's status list, verified under its node key in this node's key registry."""
        self.ledger.refresh_registry()
        return check_status_list(self.ledger.registry, raw)

    def keep_peer_status_list(self, raw: bytes) -> SignedStatusList:
        status_list = self.check_peer_status_list(raw)
        # check_peer_status_list refused an issuer that names no region.
        region = ledger_region(status_list.issuer) or ""
        self.store.keep_peer_status_list(status_list.list_id, region, status_list.version, raw)
        return status_list

    # -- trust lists -------------------------------------------------------------------------

    def _trust_store_of(self, held: Mapping[str, tuple[int, bytes, str | None]]) -> TrustStore:
        """Every held trust list (this region's and peers'), verified under pinned roots; the
        store is shared by requests: read it, never add to it."""
        # The same bytes under the same pinned roots verify the same way: the store is built
        # (each list's signature checked) once per set of held lists, not once per request. A
        # list published or fetched since, by this process or the CLI, changes the key.
        key = (
            tuple(sorted(self.ledger.trusted_roots.items())),
            tuple(sorted((region, raw) for region, (_, raw, _) in held.items())),
        )
        cached = self._trust_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        store = TrustStore(self.ledger.trusted_roots)
        for _, (_, raw, _) in sorted(held.items()):
            try:
                store.add(raw)
            except TrustListRejected:  # a root since unpinned: the list vouches for nothing
                continue
        self._trust_cache = (key, store)
        return store

    def keep_trust_list(self, raw: bytes, url: str | None = None) -> TrustList:
        """Hold a region's trust list if a pinned root of its region signed it and it is not
        older than the held one (``TrustListRejected`` otherwise)."""
        held = self.store.trust_lists()
        store = TrustStore(self.ledger.trusted_roots)
        trust_list = parse_trust_list(raw)
        if trust_list.region in held:
            store.add(held[trust_list.region][1])
        trust_list = store.add(raw)
        self.store.keep_trust_list(trust_list.region, trust_list.version, raw, url)
        return trust_list

    def publish_trust_list(self, raw: bytes) -> TrustList:
        """This region's own list, signed by its root (the root holder's tool made it)."""
        if parse_trust_list(raw).region != self.region:
            raise LicenseRefused(
                "wrong_region", f"this node publishes region {self.region}'s list", field="region"
            )
        return self.keep_trust_list(raw)

    def trust_list(self, region: str | None = None) -> bytes:
        held = self.store.trust_lists().get(region or self.region)
        if held is None:
            raise LicenseNotFound(
                "no_trust_list", f"no trust list of region {region or self.region} is held here"
            )
        return held[1]

    def fetch_peer(self, url: str, lists: Iterable[str] = ()) -> dict[str, Any]:
        """Fetch a peer node's key records, trust list and the named status lists; keep what
        verifies. Key records go into this ledger's registry (of a pinned region only)."""
        if self.fetch is None:
            raise LicenseNotFound("no_fetch", "this node has no client for other nodes")
        records = json.loads(self.fetch(f"{url.rstrip('/')}/keys"))["records"]
        imported = 0
        for record in records:
            raw = base64.b64decode(record["record"])
            region = parse_key_record(raw).region
            if region == self.region or region not in self.ledger.trusted_roots:
                continue
            if self.ledger.append_key_record(raw).created:
                imported += 1
        trust_list = self.keep_trust_list(self.fetch(f"{url.rstrip('/')}/trust-list"), url)
        kept = [
            self.keep_peer_status_list(self.fetch(f"{url.rstrip('/')}/status-lists/{list_id}"))
            for list_id in lists
        ]
        return {
            "region": trust_list.region,
            "trust_list_version": trust_list.version,
            "key_records_imported": imported,
            "status_lists": {s.list_id: s.version for s in kept},
        }

    # -- verification ------------------------------------------------------------------------

    def _online_status(
        self, held: Mapping[str, tuple[int, bytes, str | None]], max_age: int | None = None
    ) -> Callable[[str, int], LicenseStatus | None]:
        """The status of an entry from its issuer: this node's ledger for its own lists, else
        the issuing region's node (its URL held with its trust list in ``held``)."""

        def ask(list_id: str, index: int) -> LicenseStatus | None:
            own = self.own_status(list_id, index)
            if own is not None or self.own_list(list_id):
                return own
            region = held.get(list_id.rpartition("-")[0])
            url = region[2] if region else None
            if url is None or self.fetch is None:
                return None
            try:
                kept = self.keep_peer_status_list(
                    self.fetch(f"{url.rstrip('/')}/status-lists/{list_id}")
                )
            except (OSError, StatusListRejected, ValueError):
                return None
            now = self.clock()
            if list_id != kept.list_id or now >= kept.valid_until:
                return None
            # The peer served a list older than the verifier accepts: no answer from it.
            if max_age is not None and now - kept.issued_at > max_age:
                return None
            return kept.status_at(index)

        return ask

    def verify(
        self,
        presented: bytes | str,
        *,
        holder_code: str | None = None,
        online: bool = True,
        max_status_age: int | None = None,
    ) -> Verdict:
        """The verdict on a presented license for use in this region now; ``max_status_age``
        (µs) is the oldest status list (by ``issued_at``) the caller accepts."""
        decoded = _decoded(presented)
        list_id = (
            None
            if decoded is None
            else decoded.status_list_id
            if isinstance(decoded, CompactLicense)
            else decoded.status.list
        )
        held, status_raw = self.store.verification_inputs(list_id)
        trust = self._trust_store_of(held)
        own = trust.get(self.region)
        if own is None:
            raise LicenseNotFound(
                "no_trust_list",
                f"region {self.region} has published no trust list: it recognizes nothing yet",
            )
        return verify_license(
            presented if decoded is None else decoded,  # undecodable: it says why
            trust=trust,
            recognition=own,
            status=self._parsed_status_list(status_raw) if status_raw else None,
            now=self.clock(),
            holder_code=holder_code,
            online_status=self._online_status(held, max_status_age) if online else None,
            max_status_age=max_status_age,
        )

    def _parsed_status_list(self, raw: bytes) -> SignedStatusList:
        """A kept peer list (verified when kept), parsed once per version held."""
        cached = self._status_cache
        if cached is not None and cached[0] == raw:
            return cached[1]
        parsed = parse_status_list(raw)
        self._status_cache = (raw, parsed)
        return parsed

    # -- reading, grants and the use log -----------------------------------------------------

    def read(
        self, identifier: str, reader: Reader, *, grant_raw: bytes | None, purpose: str
    ) -> LicenseView:
        """A license as ``reader`` may see it; every read but the issuer's is logged."""
        try:
            parse_identifier(identifier)
        except LicenseError as error:
            raise LicenseRefused("malformed", str(error), field="identifier") from None
        _screen_purpose(purpose)
        event, _ = self._issued_event(identifier)
        state = self.ledger.license_state(identifier)
        stream = self._stream(identifier)
        body = event.body
        view = LicenseView(
            identifier=identifier,
            state=state.state,
            status=_ENTRY[state.state].name.lower(),
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
            stored = self.store.grant(grant.grant_id)
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
        when = datetime.fromtimestamp(self.clock() / 1_000_000, UTC).isoformat()
        self.store.record_use(
            LicenseUse(
                identifier, reader.kind, reader.subject, purpose or "status", scope, grant, when
            )
        )

    def _document(self, identifier: str) -> LicenseDocument:
        try:
            raw = self.store.document(identifier, "issued") or self.store.document(
                identifier, "draft"
            )
        except DocumentErased as error:
            raise LicenseNotFound("erased", str(error), field="identifier") from None
        if raw is None:
            raise LicenseNotFound("no_document", f"no document of {identifier} is kept here")
        return parse_license(raw, allow_draft=True)

    def _admit(self, identifier: str, reader: Reader, grant_raw: bytes) -> Grant:
        grant = parse_grant(grant_raw)
        signer = self.ledger.node_signer
        assert signer is not None
        self.ledger.refresh_registry()
        key = self.ledger.registry.keys.get(grant.key_id)
        if key is None or key.role != NODE or key.region != self.region:
            raise GrantRejected(
                "wrong_key", "the grant is not signed by this region's node", field="kid"
            )
        grant.verify(key.public_key)
        body = reader.subject if reader.kind == "body" else None
        if reader.kind not in ("body", "peer"):
            raise GrantRejected(
                "wrong_audience", "grants are for bodies and peers", field="audience"
            )
        grant.admits(identifier, reader.region, body, self.clock())
        stored = self.store.grant(grant.grant_id)
        if stored is None or stored.raw != grant.raw:
            raise GrantRejected("unknown_grant", "this node did not issue that grant", field="id")
        if stored.withdrawn_at is not None:
            raise GrantRejected("grant_withdrawn", "the holder withdrew the grant", field="id")
        if not self.store.use_grant(grant.grant_id):
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
        event, _ = self._issued_event(identifier)
        if event.body_id != body:
            raise LicenseForbidden(
                "forbidden", f"grants for {identifier} are made at its issuer {event.body_id}"
            )
        _screen_purpose(purpose)
        if audience_body:  # else a grant nobody could use: only bodies known here get tokens
            self.ledger.refresh_registry()
            found = self.ledger.registry.bodies.get(audience_body)
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
        now = self.clock()
        if expires_at <= now:
            raise LicenseRefused(
                "malformed", "expires_at must be in the future", field="expires_at"
            )
        signer = self.ledger.node_signer
        assert signer is not None
        grant_id = self.token_hex(16)
        raw = build_grant(
            signer,
            grant_id=grant_id,
            license=identifier,
            ledger=self.ledger.ledger_name,
            audience_region=audience_region,
            audience_body=audience_body,
            scope=scope,
            purpose=purpose,
            issued_at=now,
            expires_at=expires_at,
            uses=uses,
        )
        self.store.add_grant(grant_id, identifier, uses, raw)
        return raw

    def withdraw_grant(self, identifier: str, grant_id: str, body: str) -> None:
        event, _ = self._issued_event(identifier)
        # The issuer first: another body learns nothing about which grant ids exist.
        if event.body_id != body:
            raise LicenseForbidden("forbidden", f"{identifier} was issued by {event.body_id}")
        stored = self.store.grant(grant_id)
        if stored is None or stored.identifier != identifier:
            raise LicenseNotFound(
                "unknown_grant", f"no grant {grant_id} of {identifier}", field="grant_id"
            )
        self.store.withdraw_grant(
            grant_id, now=datetime.fromtimestamp(self.clock() / 1_000_000, UTC)
        )

    def erase_documents(self, identifier: str) -> None:
        """Make the license's documents (the holder's name and ID) unreadable for good: its
        status, events and signatures stay; reads that would show a document answer 404
        ``erased``."""
        self._issued_event(identifier)
        self.store.erase_documents(
            identifier, now=datetime.fromtimestamp(self.clock() / 1_000_000, UTC)
        )

    def uses(self, identifier: str, reader: Reader) -> list[LicenseUse]:
        event, _ = self._issued_event(identifier)
        if reader.kind == "body" and reader.subject != event.body_id:
            raise LicenseForbidden("forbidden", f"the use log is {event.body_id}'s to read")
        return self.store.uses(identifier)
