"""The service's trust lists: this region's root-signed list (published here, made by the root
holder's tool), peers' lists fetched and checked against the pinned roots, and the peers' key
records and status lists fetched with them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ledger.keys import LICENSE, KeyRegistry, parse_key_record
from licenses.context import ServiceContext
from licenses.errors import LicenseNotFound, LicenseRefused
from licenses.ports import HeldTrustLists
from licenses.status_lists import StatusLists
from licenses.trust import (
    LicenseKeyEntry,
    Recognition,
    TrustList,
    TrustListRejected,
    TrustStore,
    build_trust_list,
    parse_trust_list,
)

__all__ = ["TrustLists", "sign_trust_list", "trust_list_from_registry"]


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


class TrustLists:
    """The trust lists held here and the fetching of peers."""

    def __init__(self, ctx: ServiceContext, status_lists: StatusLists) -> None:
        self.ctx = ctx
        self.status_lists = status_lists
        self._trust_cache: tuple[object, TrustStore] | None = None

    def trust_store_of(self, held: HeldTrustLists) -> TrustStore:
        """Every held trust list (this region's and peers'), verified under pinned roots; the
        store is shared by requests: read it, never add to it."""
        # The same bytes under the same pinned roots verify the same way: the store is built
        # (each list's signature checked) once per set of held lists, not once per request. A
        # list published or fetched since, by this process or the CLI, changes the key.
        key = (
            tuple(sorted(self.ctx.ledger.trusted_roots.items())),
            tuple(sorted((region, raw) for region, (_, raw, _) in held.items())),
        )
        cached = self._trust_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        store = TrustStore(self.ctx.ledger.trusted_roots)
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
        held = self.ctx.store.trust_lists()
        store = TrustStore(self.ctx.ledger.trusted_roots)
        trust_list = parse_trust_list(raw)
        if trust_list.region in held:
            store.add(held[trust_list.region][1])
        trust_list = store.add(raw)
        self.ctx.store.keep_trust_list(trust_list.region, trust_list.version, raw, url)
        return trust_list

    def publish_trust_list(self, raw: bytes) -> TrustList:
        """This region's own list, signed by its root (the root holder's tool made it)."""
        if parse_trust_list(raw).region != self.ctx.region:
            raise LicenseRefused(
                "wrong_region",
                f"this node publishes region {self.ctx.region}'s list",
                field="region",
            )
        return self.keep_trust_list(raw)

    def trust_list(self, region: str | None = None) -> bytes:
        held = self.ctx.store.trust_lists().get(region or self.ctx.region)
        if held is None:
            raise LicenseNotFound(
                "no_trust_list", f"no trust list of region {region or self.ctx.region} is held here"
            )
        return held[1]

    def fetch_peer(self, url: str, lists: Iterable[str] = ()) -> dict[str, Any]:
        """Fetch a peer node's key records, trust list and the named status lists; keep what
        verifies. Key records go into this ledger's registry (of a pinned region only)."""
        if self.ctx.fetch is None:
            raise LicenseNotFound("no_fetch", "this node has no client for other nodes")
        records = json.loads(self.ctx.fetch(f"{url.rstrip('/')}/keys"))["records"]
        imported = 0
        for record in records:
            raw = base64.b64decode(record["record"])
            region = parse_key_record(raw).region
            if region == self.ctx.region or region not in self.ctx.ledger.trusted_roots:
                continue
            if self.ctx.ledger.append_key_record(raw).created:
                imported += 1
        trust_list = self.keep_trust_list(self.ctx.fetch(f"{url.rstrip('/')}/trust-list"), url)
        kept = [
            self.status_lists.keep_peer_status_list(
                self.ctx.fetch(f"{url.rstrip('/')}/status-lists/{list_id}")
            )
            for list_id in lists
        ]
        return {
            "region": trust_list.region,
            "trust_list_version": trust_list.version,
            "key_records_imported": imported,
            "status_lists": {s.list_id: s.version for s in kept},
        }
