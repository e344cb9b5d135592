"""The service's status lists (``docs/license-offline.md`` §1.4): this node's lists, derived
from the ledger's license events and re-signed with the node key whenever they change or near
expiry; peers' lists, verified under their node key and kept."""

from __future__ import annotations

from typing import Final

from ledger.domain import LICENSE_TOPICS, License
from ledger.envelope import ledger_region
from ledger.errors import LedgerError
from ledger.keys import NODE, KeyRegistry
from licenses.context import ServiceContext
from licenses.errors import LicenseNotFound
from licenses.status import (
    MIN_ENTRIES,
    LicenseStatus,
    SignedStatusList,
    StatusIndexError,
    StatusList,
    StatusListRejected,
    build_status_list,
    parse_status_list,
)

__all__ = ["ENTRY", "StatusLists", "check_status_list"]

# Re-sign an unchanged list once less than this share of its lifetime is left.
_REFRESH_SHARE: Final = 4
#: The status each ledger state puts in a license's entry.
ENTRY: Final = {
    "issued": LicenseStatus.VALID,
    "reinstated": LicenseStatus.VALID,
    "suspended": LicenseStatus.SUSPENDED,
    "revoked": LicenseStatus.REVOKED,
}


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


class StatusLists:
    """This node's status lists and the peers' lists it keeps."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._derived: tuple[int, dict[str, bytes]] | None = None

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
        last = self.ctx.ledger.store.max_index()
        cached = self._derived
        if cached is not None and cached[0] == last:
            return cached[1]
        lists: dict[str, StatusList] = {}
        for stream_id in self.ctx.ledger.store.select_stream_ids(LICENSE_TOPICS[0]):
            state: object = self.ctx.ledger.repository.get(stream_id)
            assert isinstance(state, License)
            entry = lists.setdefault(state.license.status_list, StatusList(MIN_ENTRIES))
            entry.set(state.license.status_index, ENTRY[state.license.state])
        derived = {list_id: bits.bitstring() for list_id, bits in lists.items()}
        self._derived = (last, derived)
        return derived

    def status_list(self, list_id: str) -> bytes:
        """The newest signed version of one of this node's lists, re-signed (next version) if
        the ledger changed it or less than a quarter of its lifetime is left."""
        # Only lists in use (and the first): an unauthenticated GET must not make the node
        # sign and store lists for any id it is asked about.
        if list_id != f"{self.ctx.region}-1" and list_id not in self.ctx.store.list_ids():
            raise LicenseNotFound(
                "unknown_status_list", f"this node publishes no list {list_id}", field="list_id"
            )
        signer = self.ctx.ledger.node_signer
        assert signer is not None
        while True:
            now = self.ctx.clock()
            bits = self.derive_status_list(list_id)
            latest = self.ctx.store.latest_status_list(list_id)
            if latest is not None:
                current = parse_status_list(latest[1])
                fresh = now < current.valid_until - self.ctx.lifetime // _REFRESH_SHARE
                if fresh and current.bits == bits.bitstring():
                    return latest[1]
            version = latest[0] + 1 if latest else 1
            raw = build_status_list(
                signer,
                bits,
                list_id=list_id,
                issuer=self.ctx.ledger.ledger_name,
                version=version,
                issued_at=now,
                valid_until=now + self.ctx.lifetime,
            )
            if self.ctx.store.add_status_list(list_id, version, raw):
                return raw

    def own_status(self, list_id: str, index: int) -> LicenseStatus | None:
        if not self.ctx.own_list(list_id):
            return None
        try:
            return self.derive_status_list(list_id).get(index)
        except StatusIndexError:
            return None

    def check_peer_status_list(self, raw: bytes) -> SignedStatusList:
        """A peer's status list, verified under its node key in this node's key registry."""
        self.ctx.ledger.refresh_registry()
        return check_status_list(self.ctx.ledger.registry, raw)

    def keep_peer_status_list(self, raw: bytes) -> SignedStatusList:
        status_list = self.check_peer_status_list(raw)
        # check_peer_status_list refused an issuer that names no region.
        region = ledger_region(status_list.issuer) or ""
        self.ctx.store.keep_peer_status_list(status_list.list_id, region, status_list.version, raw)
        return status_list
