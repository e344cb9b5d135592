"""What the registry knows of one public key, and whether it may sign at a receipt time.

Validity is always judged at a *receipt time* (the node's clock when it accepted the object),
never at the signer's claimed time: a key is valid at ``t`` when ``valid_from <= t``, no later
key replaced it before ``t`` and it was not compromised at or before ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.errors import EnvelopeRejected

ROOT = "root"
BODY = "body"
OFFICER = "officer"
NODE = "node"
LICENSE = "license"  # signs a body's electronic licenses (docs/license.md)


class UnknownKey(EnvelopeRejected):
    reason = "unknown_key"


class KeyNotValidAtTime(EnvelopeRejected):
    reason = "key_not_valid_at_time"


class KeyRevoked(EnvelopeRejected):
    reason = "key_revoked"


class UncertifiedOfficer(EnvelopeRejected):
    reason = "uncertified_officer"


@dataclass(frozen=True)
class KeyInfo:
    """What the registry knows of one public key."""

    kid: str
    suite: str
    public_key: bytes
    role: str  # root, body, officer, node or license
    region: str
    valid_from: int
    # body id for body and license keys; body id of the officer's body for officer keys
    owner: str = ""
    officer_id: str = ""
    valid_until: int | None = None  # set when a newer key replaces this one
    compromised_since: int | None = None
    revoked_at_index: int | None = None  # ledger index of the revocation record
    certified_by: str = ""  # kid of the key that signed this key's record
    certified_at: int = 0  # receipt time of that record
    registered_index: int = 0  # ledger index of the record that registered this key
    # An officer key of the body's head (负责人): approves extensions (docs/supervision.md §3).
    head: bool = False

    def check_valid_at(self, moment: int) -> None:
        """Raise unless this key may sign at ``moment`` (a receipt time, microseconds)."""
        if self.compromised_since is not None and moment >= self.compromised_since:
            raise KeyRevoked(
                f"key {self.kid} is revoked, compromised since {self.compromised_since}",
                field="kid",
            )
        if moment < self.valid_from or (
            self.valid_until is not None and moment >= self.valid_until
        ):
            raise KeyNotValidAtTime(f"key {self.kid} is not valid at {moment}", field="kid")
