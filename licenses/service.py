"""The node's license service: what the ``/licenses``, ``/trust-list`` and ``/status-lists``
routes and the license commands call (``docs/license.md`` §12).

Rules stay where they are: the document format and verification in ``licenses``, the life of a
license in ``ledger.license_events`` (checked again by ``LedgerApplication.append_license_event``).
The service joins them to the ports ``licenses.ports`` declares (the license store, the holder
secrets of the personal-data vault, a ``fetch`` of other regions' nodes); ``adapters``
implements them and ``adapters.bootstrap`` wires them. It is a thin facade over its parts:

- **issuance** (:mod:`licenses.issuance`): :meth:`LicenseService.prepare`, ``issue`` (the
  draft against the signed ``license_issued`` event), ``complete`` (the issued document), and
  ``change_status`` (suspend, reinstate, revoke);
- **status lists** (:mod:`licenses.status_lists`): derived from the ledger's license events and
  re-signed with the node key whenever they change or near expiry (``status_list``); peers'
  lists kept once verified;
- **trust lists** (:mod:`licenses.trust_lists`): this region's root-signed list
  (``publish_trust_list``), peers' lists fetched and checked against the pinned roots
  (``fetch_peer``);
- **verification** (:mod:`licenses.verification`): ``verify`` a presented license here now;
- **use** (:mod:`licenses.use`): grants (``grant``), reads that honour them (``read``) and the
  use log.

Errors: the ``LicenseServiceError`` tree of :mod:`licenses.errors` (``api/errors.py`` maps it).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from ledger.application import Appended, LedgerApplication
from licenses.context import DEFAULT_STATUS_LIST_LIFETIME, ServiceContext
from licenses.document import LicenseDocument
from licenses.issuance import Issuance
from licenses.ports import Fetch, HolderSecrets, LicenseStore, LicenseUse
from licenses.status import LicenseStatus, SignedStatusList, StatusList
from licenses.status_lists import StatusLists
from licenses.trust import TrustList
from licenses.trust_lists import TrustLists
from licenses.use import HolderUse, LicenseView, Reader
from licenses.verification import Verification
from licenses.verify import Verdict

__all__ = ["LicenseService"]


class LicenseService:
    """Licenses on one node (see the module docstring)."""

    def __init__(
        self,
        ledger: LedgerApplication,
        store: LicenseStore,
        holders: HolderSecrets,
        *,
        region: str,
        fetch: Fetch | None = None,
        status_list_lifetime: int = DEFAULT_STATUS_LIST_LIFETIME,
        randbelow: Callable[[int], int] = secrets.randbelow,
        token_hex: Callable[[int], str] = secrets.token_hex,
    ):
        self.ctx = ServiceContext(
            ledger,
            store,
            holders,
            region,
            fetch=fetch,
            lifetime=status_list_lifetime,
            randbelow=randbelow,
            token_hex=token_hex,
        )
        self.status_lists = StatusLists(self.ctx)
        self.trust_lists = TrustLists(self.ctx, self.status_lists)
        self.issuance = Issuance(self.ctx, self.status_lists)
        self.verification = Verification(self.ctx, self.status_lists, self.trust_lists)
        self.holder_use = HolderUse(self.ctx)

    @property
    def ledger(self) -> LedgerApplication:
        return self.ctx.ledger

    @property
    def store(self) -> LicenseStore:
        return self.ctx.store

    @property
    def region(self) -> str:
        return self.ctx.region

    @property
    def fetch(self) -> Fetch | None:
        return self.ctx.fetch

    @fetch.setter
    def fetch(self, fetch: Fetch | None) -> None:
        self.ctx.fetch = fetch  # every part reads it from the shared context

    @property
    def clock(self) -> Callable[[], int]:
        return self.ctx.ledger.clock

    def own_list(self, list_id: str) -> bool:
        return self.ctx.own_list(list_id)

    # -- issuance ----------------------------------------------------------------------------

    def prepare(self, case_id: uuid.UUID, identifier: str, body: str) -> dict[str, Any]:
        return self.issuance.prepare(case_id, identifier, body)

    def issue(self, event_raw: bytes, draft_raw: bytes, body: str) -> Appended:
        return self.issuance.issue(event_raw, draft_raw, body)

    def complete(self, identifier: str, document_raw: bytes, body: str) -> LicenseDocument:
        return self.issuance.complete(identifier, document_raw, body)

    def change_status(self, identifier: str, action: str, event_raw: bytes, body: str) -> Appended:
        return self.issuance.change_status(identifier, action, event_raw, body)

    # -- status lists ------------------------------------------------------------------------

    def derive_status_list(self, list_id: str) -> StatusList:
        return self.status_lists.derive_status_list(list_id)

    def status_list(self, list_id: str) -> bytes:
        return self.status_lists.status_list(list_id)

    def own_status(self, list_id: str, index: int) -> LicenseStatus | None:
        return self.status_lists.own_status(list_id, index)

    def check_peer_status_list(self, raw: bytes) -> SignedStatusList:
        return self.status_lists.check_peer_status_list(raw)

    def keep_peer_status_list(self, raw: bytes) -> SignedStatusList:
        return self.status_lists.keep_peer_status_list(raw)

    # -- trust lists -------------------------------------------------------------------------

    def keep_trust_list(self, raw: bytes, url: str | None = None) -> TrustList:
        return self.trust_lists.keep_trust_list(raw, url)

    def publish_trust_list(self, raw: bytes) -> TrustList:
        return self.trust_lists.publish_trust_list(raw)

    def trust_list(self, region: str | None = None) -> bytes:
        return self.trust_lists.trust_list(region)

    def fetch_peer(self, url: str, lists: Iterable[str] = ()) -> dict[str, Any]:
        return self.trust_lists.fetch_peer(url, lists)

    # -- verification ------------------------------------------------------------------------

    def verify(
        self,
        presented: bytes | str,
        *,
        holder_code: str | None = None,
        online: bool = True,
        max_status_age: int | None = None,
    ) -> Verdict:
        return self.verification.verify(
            presented, holder_code=holder_code, online=online, max_status_age=max_status_age
        )

    # -- reading, grants and the use log -----------------------------------------------------

    def read(
        self, identifier: str, reader: Reader, *, grant_raw: bytes | None, purpose: str
    ) -> LicenseView:
        return self.holder_use.read(identifier, reader, grant_raw=grant_raw, purpose=purpose)

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
        return self.holder_use.grant(
            identifier,
            body,
            holder_code=holder_code,
            audience_region=audience_region,
            audience_body=audience_body,
            scope=scope,
            purpose=purpose,
            expires_at=expires_at,
            uses=uses,
        )

    def withdraw_grant(self, identifier: str, grant_id: str, body: str) -> None:
        self.holder_use.withdraw_grant(identifier, grant_id, body)

    def erase_documents(self, identifier: str) -> None:
        self.holder_use.erase_documents(identifier)

    def uses(self, identifier: str, reader: Reader) -> list[LicenseUse]:
        return self.holder_use.uses(identifier, reader)
