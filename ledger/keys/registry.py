"""The key registry: region root → bodies → officers, append-only and signed.

Each region keeps one registry stream of key records (``tongban/key/v1`` signed objects,
``docs/keys.md``; :mod:`ledger.keys.records`), and each is signed by the key entitled to make it
(what each record type changes: :mod:`ledger.keys.effects`). :class:`KeyRegistry` applies them
in order and answers which key may sign what at a receipt time.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace

from ledger.calendars import CalendarBook
from ledger.catalog import load_catalog, regions
from ledger.envelope import ZERO_HASH, ledger_region
from ledger.errors import LedgerError, RegistryError
from ledger.keys.catalog_versions import CatalogVersions
from ledger.keys.effects import Effects, Resolution, effects_of, new_key
from ledger.keys.key_info import (
    LICENSE,
    NODE,
    OFFICER,
    ROOT,
    KeyInfo,
    KeyRevoked,
    UncertifiedOfficer,
    UnknownKey,
)
from ledger.keys.organizations import BodyInfo, BodyView, HallInfo
from ledger.keys.records import KeyRecord

#: The officer id of case events the node signs itself (node-signed ratings); no officer key
#: certified for this id can sign a case event.
NODE_OFFICER = "node"
# Records that change how a case's time limits are counted (its legs, its rectification).
COUNTING_RECORDS = frozenset({"calendar_published", "catalog_amended"})

TONGBAN_NAMESPACE = uuid.UUID("6f1c5f0e-2b1a-5d7e-9a43-0e1c7d7a2b10")


def registry_stream_id(region: str) -> uuid.UUID:
    """The stream id of a region's key registry (same on every node)."""
    return uuid.uuid5(TONGBAN_NAMESPACE, f"registry/{region}")


def ledger_home_region(ledger: str) -> str:
    """The region a ledger belongs to, or ``unknown_ledger``: :func:`ledger.envelope.ledger_region`
    (the text after the last ``/``, a GB/T 2260 code; docs/envelope.md §5.1) for verifiers that
    must not go on without one.

    The one binding every verifier uses (bundles, receipts, checkpoints, witnesses): only node
    keys of this region receipt the ledger's objects and sign its checkpoints. It is read from
    the ledger's name, never from what a bundle or a request says its region is, so another
    region's node key (valid in its own registry) cannot pass for this ledger's.
    """
    region = ledger_region(ledger)
    if region is None:
        raise LedgerError(
            f"a ledger name ends with its region code (tongban/<region>), not {ledger!r}",
            reason="unknown_ledger",
            field="ledger",
        )
    return region


@dataclass
class RegionRegistry:
    """One region's registry state, rebuilt by applying its records in order."""

    region: str
    trusted_root: bytes
    seq: int = 0
    head: bytes = ZERO_HASH
    root_kid: str = ""


class KeyRegistry:
    """All regions' key registries a node trusts, built from their records.

    ``trusted_roots`` maps a region code to the root public key (Ed25519, raw) this node is
    configured with; records of any other region are refused.
    """

    def __init__(self, trusted_roots: Mapping[str, bytes], *, home_region: str = ""):
        # The region whose ledger this is: only its root resolves findings, only its node
        # keys sign receipts.
        self.home_region = home_region
        self.regions = {
            region: RegionRegistry(region, bytes(root)) for region, root in trusted_roots.items()
        }
        self.keys: dict[str, KeyInfo] = {}
        self.bodies: dict[str, BodyInfo] = {}
        # (body, officer, device) -> that device's current kid ("" for the first device)
        self.officers: dict[tuple[str, str, str], str] = {}
        self.resolutions: dict[tuple[str, int, str], Resolution] = {}
        # Every catalog version a case may pin: the packaged ones, then signed amendments.
        self.catalogs = CatalogVersions(
            load_catalog(region) for region in trusted_roots if region in regions()
        )
        # Working-day calendars the regions' roots published (calendar_published).
        self.calendars = CalendarBook()
        # Each body's newest hall information (hall_published).
        self.halls: dict[str, HallInfo] = {}
        self.last_index = 0
        # The newest record that changes how time limits are counted (a calendar, a catalog
        # amendment): what a kept bulletin counted on (adapters.supervision.bulletin_for).
        self.counting_index = 0

    # -- reading -----------------------------------------------------------------------------

    def key(self, kid: str) -> KeyInfo:
        try:
            return self.keys[kid]
        except KeyError:
            raise UnknownKey(f"no key {kid} in the registry", field="kid") from None

    def head(self, region: str) -> tuple[int, bytes]:
        state = self._region(region)
        return state.seq, state.head

    def officer_key_at(self, kid: str, moment: int, *, body_id: str, officer_id: str) -> KeyInfo:
        """The officer key ``kid`` if it may sign for ``body_id``/``officer_id`` at ``moment``."""
        info = self.key(kid)
        if info.role != OFFICER or info.owner != body_id or info.officer_id != officer_id:
            raise UncertifiedOfficer(
                f"key {kid} is not certified for officer {officer_id} of body {body_id}",
                field="kid",
            )
        info.check_valid_at(moment)
        certifier = self.keys.get(info.certified_by)
        if certifier is None or (
            certifier.compromised_since is not None
            and info.certified_at >= certifier.compromised_since
        ):
            raise UncertifiedOfficer(
                f"the body key that certified {kid} was compromised when it did", field="kid"
            )
        return info

    def event_key_at(self, kid: str, moment: int, *, body_id: str, officer_id: str) -> KeyInfo:
        """The key that may sign a case event of ``body_id``/``officer_id`` at ``moment``.

        An officer's key, except for the reserved officer :data:`NODE_OFFICER`: such an event
        is signed by this region's node key (a rating the applicant made with the slip's code,
        ``docs/envelope.md`` §5.5; the workflow allows it for nothing else)."""
        if officer_id == NODE_OFFICER:
            return self.node_key_at(kid, moment)
        return self.officer_key_at(kid, moment, body_id=body_id, officer_id=officer_id)

    def node_key_at(self, kid: str, moment: int) -> KeyInfo:
        info = self.key(kid)
        if info.role != NODE or (self.home_region and info.region != self.home_region):
            raise UnknownKey(f"key {kid} is not a node ledger key of this region", field="kid")
        info.check_valid_at(moment)
        return info

    def license_key_at(self, kid: str, moment: int, *, body_id: str | None = None) -> KeyInfo:
        """The license key ``kid`` if it may sign a license at ``moment`` (microseconds).

        ``body_id``, when given, is the body the license names as its issuer: a license key of
        another body is ``unknown_key`` for it. Keys of every trusted region are answered, not
        only the home region's: verifying other provinces' licenses is what they are for.
        Refusals: ``unknown_key`` (no such key, not a license key, another body's),
        ``key_not_valid_at_time`` (before ``valid_from`` or from ``valid_until``) and
        ``key_revoked`` (compromised at ``moment``, or certified by a root key at or after
        that root's ``compromised_since``).
        """
        info = self.key(kid)
        if info.role != LICENSE:
            raise UnknownKey(f"key {kid} is not a license key", field="kid")
        if body_id is not None and info.owner != body_id:
            raise UnknownKey(f"key {kid} is not a license key of body {body_id}", field="kid")
        info.check_valid_at(moment)
        certifier = self.keys.get(info.certified_by)
        if certifier is None or (
            certifier.compromised_since is not None
            and info.certified_at >= certifier.compromised_since
        ):
            # Unlike officers (``uncertified_officer``), a license verifier knows no reason of
            # its own for this: to it the key is as good as revoked.
            raise KeyRevoked(
                f"the root key that certified license key {kid} was compromised when it did",
                field="kid",
            )
        return info

    def is_head(self, kid: str) -> bool:
        """Whether ``kid`` is an officer key certified as its body's head (负责人)."""
        info = self.keys.get(kid)
        return info is not None and info.role == OFFICER and info.head

    def body_view(self, body_id: str) -> BodyView | None:
        """A body's organization data for entitlement, or None if unknown."""
        info = self.bodies.get(body_id)
        if info is None:
            return None
        org = info.org
        return BodyView(
            body_id=body_id,
            region=info.region,
            division=str(org.get("division", "")),
            level=str(org.get("level", "")),
            sector=str(org.get("sector", "")),
            roles=frozenset(org.get("roles", [])),
        )

    def body(self, body_id: str) -> BodyInfo:
        try:
            return self.bodies[body_id]
        except KeyError:
            raise RegistryError(f"no body {body_id!r}", reason="unknown_body") from None

    # -- writing -----------------------------------------------------------------------------

    def _region(self, region: str) -> RegionRegistry:
        try:
            return self.regions[region]
        except KeyError:
            raise RegistryError(
                f"region {region!r} is not among this node's trusted roots",
                reason="untrusted_region",
                field="region",
            ) from None

    def check(self, record: KeyRecord, receipt_time: int) -> None:
        """Raise unless ``record`` may be appended now (chain, signer, signature, rules)."""
        self._apply(record, receipt_time, index=0, dry_run=True)

    def apply(self, record: KeyRecord, receipt_time: int, index: int) -> None:
        """Apply an accepted record (checks everything again)."""
        self._apply(record, receipt_time, index=index, dry_run=False)
        self.last_index = max(self.last_index, index)
        if record.type in COUNTING_RECORDS:
            self.counting_index = max(self.counting_index, index)

    def _apply(self, record: KeyRecord, receipt_time: int, *, index: int, dry_run: bool) -> None:
        state = self._region(record.region)
        if record.seq != state.seq + 1:
            raise RegistryError(
                f"registry {record.region} is at seq {state.seq}; record has seq {record.seq}",
                reason="conflict" if record.seq <= state.seq else "seq_gap",
                field="seq",
            )
        if record.prev != state.head:
            raise RegistryError(
                "prev does not link to the registry head", reason="broken_link", field="prev"
            )
        body = record.body
        effects = Effects()
        if record.type == "root_established":
            if state.seq != 0:
                raise RegistryError("root_established must be the first record", field="type")
            new = new_key(self, record, body, role=ROOT, owner="", certified_by="")
            if new.public_key != state.trusted_root:
                raise RegistryError(
                    "root key is not the configured trust root",
                    reason="untrusted_root",
                    field="body.public_key",
                )
            if record.signer_kid != new.kid:
                # Only the new root may establish itself: any other signer is not entitled to
                # (keys.md §3), the same reason as for every other record.
                raise RegistryError(
                    f"root_established must be signed by the root it establishes ({new.kid}), "
                    f"not {record.signer_kid}",
                    reason="not_entitled",
                    field="kid",
                )
            record.signed.verify(new.public_key)
            effects.keys.append(replace(new, certified_at=receipt_time))
        else:
            if state.seq == 0:
                raise RegistryError("the registry starts with root_established", field="type")
            signer = self.key(record.signer_kid)
            signer.check_valid_at(receipt_time)
            record.signed.verify(signer.public_key)
            effects = effects_of(self, record, body, signer, state, receipt_time, index)
        if dry_run:
            return
        for info in effects.keys:
            if info.kid not in self.keys:
                info = replace(info, registered_index=index)
            self.keys[info.kid] = info
            if info.role == ROOT and info.valid_until is None:
                state.root_kid = info.kid
        if effects.body is not None:
            self.bodies[effects.body.body_id] = effects.body
        if effects.officer is not None:
            body_id, officer_id, device, kid = effects.officer
            self.officers[(body_id, officer_id, device)] = kid
        if effects.catalog is not None:
            self.catalogs.add(effects.catalog, since=receipt_time)
        if effects.calendar is not None:
            self.calendars.publish(effects.calendar)
        if effects.hall is not None:
            self.halls[effects.hall.body_id] = effects.hall
        if effects.resolution is not None:
            found = effects.resolution
            self.resolutions[(found.case_id, found.seq, found.reason)] = found
        state.seq = record.seq
        state.head = record.hash
