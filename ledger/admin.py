"""Building and appending key records: what an administrator's tool does with its keys.

The clerk reads the registry head, builds the next record, signs it with the key the caller
holds and appends it. It never stores a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.application import Appended, LedgerApplication
from ledger.keys import build_key_record, sign_rotation_proof
from ledger.suites import Signer, suite_of_public_key


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
