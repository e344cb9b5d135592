"""Building and appending key records: what an administrator's tool does with its keys.

The clerk reads the registry head, builds the next record, signs it with the key the caller
holds and appends it. It never stores a key.

:func:`draft_officer_record` is for a body key held elsewhere (the administrator's browser,
``/pages/keys``): it builds an officer record's canonical content bytes on the registry's
head, unsigned, after the checks the registry would make of the signed record, so a mistake
is named before anything is signed. The holder of the key decodes, checks and signs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger import canonical
from ledger.application import Appended, LedgerApplication
from ledger.envelope import FORMAT_VERSION, KEY_RECORD_CONTEXT, check_identifier, require
from ledger.errors import LedgerError, MalformedEncoding, RegistryError
from ledger.keys import build_key_record, sign_rotation_proof
from ledger.keys.key_info import BODY, OFFICER, KeyInfo
from ledger.keys.registry import KeyRegistry
from ledger.suites import Signer, check_public_key, key_id, suite_of_public_key


class RegistryClerk:
    def __init__(self, app: LedgerApplication, region: str):
        self.app = app
        self.region = region

    def append(self, signer: Signer, record_type: str, body: Mapping[str, Any]) -> Appended:
        self.app.refresh_registry()
        seq, prev = self.app.registry.head(self.region)
        raw = build_key_record(
            signer,
            region=self.region,
            seq=seq + 1,
            prev=prev,
            record_type=record_type,
            time=self.app.clock(),
            body=body,
        )
        return self.app.append_key_record(raw)

    def _key(self, public_key: bytes, valid_from: int | None) -> dict[str, Any]:
        return {
            "public_key": public_key,
            "key_suite": suite_of_public_key(public_key),
            "valid_from": self.app.clock() if valid_from is None else valid_from,
        }

    def establish_root(self, root: Signer, *, valid_from: int | None = None) -> Appended:
        return self.append(root, "root_established", self._key(root.public_key, valid_from))

    def certify_node(
        self, root: Signer, node_public_key: bytes, node_id: str, *, valid_from: int | None = None
    ) -> Appended:
        body = {**self._key(node_public_key, valid_from), "node_id": node_id}
        return self.append(root, "node_key_certified", body)

    def register_body(
        self,
        root: Signer,
        body_id: str,
        name: str,
        public_key: bytes,
        *,
        org: Mapping[str, Any] | None = None,
        valid_from: int | None = None,
    ) -> Appended:
        body = {**self._key(public_key, valid_from), "body_id": body_id, "name": name}
        body["org"] = dict(org or {})
        return self.append(root, "body_registered", body)

    def rotate_body_key(
        self, root: Signer, body_id: str, public_key: bytes, *, valid_from: int | None = None
    ) -> Appended:
        body = {**self._key(public_key, valid_from), "body_id": body_id}
        return self.append(root, "body_key_rotated", body)

    def certify_officer(
        self,
        body_key: Signer,
        body_id: str,
        officer_id: str,
        public_key: bytes,
        *,
        valid_from: int | None = None,
        device: str | None = None,
        head: bool = False,
    ) -> Appended:
        """The officer's key. ``device`` names one of several (docs/keys.md §5): the key of a
        device the officer has none for is added beside the others, else it replaces it.
        ``head``: the officer is the body's head (负责人), who approves extensions."""
        body = {**self._key(public_key, valid_from), "body_id": body_id, "officer_id": officer_id}
        if device is not None:
            body["device"] = device
        if head:  # left out otherwise, so earlier records keep their bytes
            body["head"] = True
        return self.append(body_key, "officer_certified", body)

    def certify_license_key(
        self,
        root: Signer,
        body_id: str,
        public_key: bytes,
        *,
        valid_from: int | None = None,
        valid_until: int | None = None,
    ) -> Appended:
        """A key the body signs its electronic licenses with (docs/license.md §5.1)."""
        body = {**self._key(public_key, valid_from), "body_id": body_id}
        if valid_until is not None:
            body["valid_until"] = valid_until
        return self.append(root, "license_key_certified", body)

    def revoke(
        self, signer: Signer, kid: str, *, compromised_since: int, reason: str = ""
    ) -> Appended:
        body = {"kid": kid, "compromised_since": compromised_since, "reason": reason}
        return self.append(signer, "key_revoked", body)

    def rotate_root(
        self, old_root: Signer, new_root: Signer, *, valid_from: int | None = None
    ) -> Appended:
        body = self._key(new_root.public_key, valid_from)
        body["proof"] = sign_rotation_proof(
            new_root, region=self.region, old_kid=old_root.key_id, valid_from=body["valid_from"]
        )
        return self.append(old_root, "root_rotated", body)

    def resolve_finding(
        self, root: Signer, *, case_id: str, seq: int, reason: str, resolution: str, note: str = ""
    ) -> Appended:
        body = {
            "case": case_id,
            "seq": seq,
            "reason": reason,
            "resolution": resolution,
            "note": note,
        }
        return self.append(root, "finding_resolved", body)


# -- drafts for a key held elsewhere ----------------------------------------------------------

#: What a draft request may name of each record type; the node fills in the rest (the key's
#: suite, ``valid_from``, a revocation's default time). ``head`` is not offered: a body's
#: head is certified with the command line.
DRAFT_FIELDS: dict[str, frozenset[str]] = {
    "officer_certified": frozenset({"body_id", "officer_id", "device", "public_key"}),
    "key_revoked": frozenset({"kid", "compromised_since", "reason"}),
}
MAX_REVOCATION_REASON = 500  # characters; informative text, not screened


@dataclass(frozen=True)
class DraftedRecord:
    """A key record's canonical content bytes, unsigned, and where it goes in the registry."""

    content: bytes
    region: str
    seq: int
    prev: bytes


def body_signer(registry: KeyRegistry, kid: str, body_id: str, moment: int) -> KeyInfo:
    """The body key ``kid`` if it is a key of ``body_id`` valid at ``moment``; refused
    (field ``kid``) as the registry would refuse the signed record: ``unknown_key``,
    ``not_entitled`` (another owner's key), ``key_revoked``, ``key_not_valid_at_time``."""
    signer = registry.key(kid)
    if signer.role != BODY or signer.owner != body_id:
        raise RegistryError(
            f"key {kid} is not a key of body {body_id}", reason="not_entitled", field="kid"
        )
    signer.check_valid_at(moment)
    return signer


def draft_officer_record(
    app: LedgerApplication, signer_kid: str, record_type: str, fields: Mapping[str, Any]
) -> DraftedRecord:
    """The content bytes of an ``officer_certified`` or an officer's ``key_revoked`` record
    that the body key ``signer_kid`` is to sign, on the registry head of the body's region,
    timed by the node's clock. Refusals name the field as ``POST /keys/records`` would:
    ``body.<name>`` for the record's body, ``kid`` for the signer, ``type``."""
    if record_type not in DRAFT_FIELDS:
        raise MalformedEncoding(
            f"only {', '.join(sorted(DRAFT_FIELDS))} records are drafted here", field="type"
        )
    unknown = sorted(set(fields) - DRAFT_FIELDS[record_type])
    if unknown:
        raise MalformedEncoding(
            f"a {record_type} draft names no {unknown[0]}", field=f"body.{unknown[0]}"
        )
    app.refresh_registry()
    registry, now = app.registry, app.clock()
    if record_type == "officer_certified":
        signer, body = _certified_body(registry, signer_kid, fields, now)
    else:
        signer, body = _revoked_body(registry, signer_kid, fields, now)
    region = signer.region
    seq, prev = registry.head(region)
    content = {
        "v": FORMAT_VERSION,
        "suite": signer.suite,
        "ctx": KEY_RECORD_CONTEXT,
        "kid": signer.kid,
        "region": region,
        "seq": seq + 1,
        "prev": prev,
        "type": record_type,
        "time": now,
        "body": body,
    }
    return DraftedRecord(canonical.encode(content), region, seq + 1, prev)


def _identifier(fields: Mapping[str, Any], name: str) -> str:
    field = f"body.{name}"
    return check_identifier(require(fields, name, str, field=field), field)


def _certified_body(
    registry: KeyRegistry, signer_kid: str, fields: Mapping[str, Any], now: int
) -> tuple[KeyInfo, dict[str, Any]]:
    body_id = _identifier(fields, "body_id")
    if body_id not in registry.bodies:
        raise RegistryError(f"no body {body_id}", reason="unknown_body", field="body.body_id")
    signer = body_signer(registry, signer_kid, body_id, now)
    officer_id = _identifier(fields, "officer_id")
    body: dict[str, Any] = {"body_id": body_id, "officer_id": officer_id}
    if "device" in fields:
        body["device"] = _identifier(fields, "device")
    public_key = require(fields, "public_key", bytes, field="body.public_key")
    try:
        suite = suite_of_public_key(public_key)
        check_public_key(suite, public_key)
    except LedgerError as error:
        raise MalformedEncoding(
            f"not a public key: {error.detail}", field="body.public_key"
        ) from None
    kid = key_id(suite, public_key)
    if kid in registry.keys:
        raise RegistryError(
            f"key {kid} is already registered", reason="duplicate_key", field="body.public_key"
        )
    body |= {"public_key": public_key, "key_suite": suite, "valid_from": now}
    return signer, body


def _revoked_body(
    registry: KeyRegistry, signer_kid: str, fields: Mapping[str, Any], now: int
) -> tuple[KeyInfo, dict[str, Any]]:
    kid = require(fields, "kid", str, field="body.kid")
    try:
        target = registry.key(kid)
    except LedgerError as error:
        raise RegistryError(error.detail, reason=error.reason, field="body.kid") from None
    if target.role != OFFICER:
        raise RegistryError(
            f"key {kid} is not an officer's key", reason="not_entitled", field="body.kid"
        )
    signer = body_signer(registry, signer_kid, target.owner, now)
    since = fields.get("compromised_since", now)
    if since is None:
        since = now
    if not canonical.is_integer(since) or not 0 <= since <= now:
        raise MalformedEncoding(
            "compromised_since is a time in microseconds, not after now",
            field="body.compromised_since",
        )
    reason = fields.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REVOCATION_REASON:
        raise MalformedEncoding(
            f"reason is text of at most {MAX_REVOCATION_REASON} characters", field="body.reason"
        )
    return signer, {"kid": kid, "compromised_since": since, "reason": reason}
