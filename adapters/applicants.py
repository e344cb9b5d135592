"""The applicants stored at a node: the vault's records and the access store's bindings,
as the ledger's ports (``ledger.opening.ApplicantClaims``, ``ledger.access.ApplicantReads``)
see them.

``POST /applicants``, the demo builder and the bulk loader store an applicant here
(:meth:`NodeApplicants.store`: the vault's encrypted record, then the binding to the storing
body); ``ledger.opening.CaseOpening`` claims it for one case; the audit reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Literal

from adapters.access import AccessStore, open_access_store
from adapters.vault import (
    ApplicantErased,
    PersonalDataVault,
    StoredApplicant,
    UnknownApplicant,
    load_or_create_master_key,
    open_vault,
)
from ledger.access import ERASED, UNKNOWN
from ledger.opening import ApplicantRecord
from ledger.personal import PersonalData, commitments


class NodeApplicants:
    """``ApplicantClaims`` and ``ApplicantReads`` over a node's vault and access store."""

    def __init__(self, access: AccessStore, vault: PersonalDataVault):
        self.access = access
        self.vault = vault

    def store(self, data: PersonalData, *, body: str, now: datetime) -> StoredApplicant:
        """Store ``data`` for ``body``: its ref is then ``body``'s to open one case with."""
        stored = self.vault.store(data, now=now)
        self.access.bind_applicant(stored.ref, body, now=now)
        return stored

    def adopt(
        self, ref: str, data: PersonalData, secret: bytes, *, body: str, now: datetime
    ) -> StoredApplicant:
        """Keep an applicant a window node stored for ``body`` (a relayed ``received`` step):
        this node alone holds, shows and erases it from then on."""
        stored = self.vault.adopt(ref, data, secret, now=now)
        if self.access.applicant_binding(ref) is None:
            self.access.bind_applicant(ref, body, now=now)
        return stored

    def hand_over(self, ref: str) -> tuple[PersonalData, bytes] | None:
        """``(data, commitment secret)`` of a ref to send to its case's home node, or None
        when this node holds no live record of it (never stored, or already erased)."""
        try:
            return self.vault.read(ref), self.vault.commitment_secret(ref)
        except (ApplicantErased, UnknownApplicant):
            return None

    def applicant_record(self, ref: str) -> ApplicantRecord | None:
        binding = self.access.applicant_binding(ref)
        if binding is None:
            return None
        body, case_id = binding
        try:
            expected = commitments(self.vault.commitment_secret(ref), self.vault.read(ref))
        except ApplicantErased:
            return ApplicantRecord(body, case_id, None, erased=True)
        except UnknownApplicant:
            return ApplicantRecord(body, case_id, None)
        return ApplicantRecord(body, case_id, expected)

    def applicant_data(self, ref: str) -> Mapping[str, str] | Literal["erased", "unknown"]:
        try:
            return self.vault.read(ref).as_dict()
        except ApplicantErased:
            return ERASED
        except UnknownApplicant:
            return UNKNOWN

    def claim_applicant(self, ref: str, body: str, case_id: str) -> bool:
        return self.access.claim_applicant(ref, body, case_id)

    def release_applicant(self, ref: str, case_id: str) -> None:
        self.access.release_applicant(ref, case_id)


def open_node_applicants(
    database_url: str, data_dir: Path, *, schema: str | None = None, read_only: bool = False
) -> NodeApplicants:
    """The applicants of the node whose data directory (vault key) and database these are;
    ``read_only`` (the audit) writes nothing: it works on a read-only snapshot."""
    vault = open_vault(
        database_url,
        data_dir,
        load_or_create_master_key(data_dir),
        schema=schema or "public",
        read_only=read_only,
    )
    access = open_access_store(database_url, data_dir, schema=schema, read_only=read_only)
    return NodeApplicants(access, vault)
