"""The key registry: region root → bodies → officers, append-only and signed.

Each region keeps one registry stream of key records (``tongban/key/v1`` signed objects,
``docs/keys.md``). The records of a stream are chained by ``prev`` and numbered by ``seq`` like
case events, and each is signed by the key entitled to make it:

==========================  ==========================  ====================================
record type                 signed by                   effect
==========================  ==========================  ====================================
``root_established``        the new root itself         seq 1; must be a configured trust root
``root_rotated``            the current root            new root; ``proof`` signed by the new
                                                        key, so both roots signed the change
``body_registered``         the root                    a body (department, hall, window)
``body_key_rotated``        the root                    a body's new key; the old one ends
``officer_certified``       a valid key of the body     an officer's key (first or rotated)
``node_key_certified``      the root                    the node's ledger key (receipts)
``key_revoked``             the root, or for an         a key is compromised since a time
                            officer key its body
``finding_resolved``        the root                    ``ratified`` / ``repudiated`` policy
                                                        finding
``catalog_amended``         the root                    a new catalog version, current from
                                                        this record's receipt time
``license_key_certified``   the root                    a key of role ``license`` of one of
                                                        the region's bodies: it signs that
                                                        body's electronic licenses
==========================  ==========================  ====================================

Validity is always judged at a *receipt time* (the node's clock when it accepted the object),
never at the signer's claimed time: a key is valid at ``t`` when ``valid_from <= t``, no later
key replaced it before ``t`` and it was not compromised at or before ``t``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ledger import canonical
from ledger.catalog import Catalog, CatalogError, load_catalog, regions
from ledger.envelope import (
    KEY_PROOF_CONTEXT,
    KEY_RECORD_CONTEXT,
    ZERO_HASH,
    SignedObject,
    SignedView,
    check_identifier,
    ledger_region,
    open_signed,
    require,
    seal,
)
from ledger.errors import EnvelopeRejected, LedgerError, MalformedEncoding, RegistryError
from ledger.suites import Signer, get_suite, key_id, signing_input

TONGBAN_NAMESPACE = uuid.UUID("6f1c5f0e-2b1a-5d7e-9a43-0e1c7d7a2b10")

ROOT = "root"
BODY = "body"
OFFICER = "officer"
NODE = "node"
LICENSE = "license"  # signs a body's electronic licenses (docs/license.md)


ROLES = frozenset({"cross_province_window", "in_province_window", "handler"})
LEVELS = ("province", "city", "county", "township")
_DIVISION = re.compile(r"[1-9][0-9]{5}")


@dataclass(frozen=True)
class BodyView:
    """The organization data entitlement needs (GB/T 2260 division, level, sector, roles)."""

    body_id: str
    region: str
    division: str
    level: str
    sector: str
    roles: frozenset[str]


def check_org(org: object, region: str) -> dict[str, Any]:
    """Validate a body's organization data; an empty map is a body without roles."""
    if not isinstance(org, dict):
        raise MalformedEncoding("org must be a map", field="body.org")
    if not org:
        return org
    allowed = {"division", "level", "sector", "parent", "roles"}
    if set(org) - allowed:
        raise MalformedEncoding(
            f"unknown org fields {sorted(set(org) - allowed)}", field="body.org"
        )
    division = org.get("division")
    if not isinstance(division, str) or not _DIVISION.fullmatch(division):
        raise MalformedEncoding(
            "org.division is a 6-digit GB/T 2260 code", field="body.org.division"
        )
    if division[:2] != region[:2]:
        raise MalformedEncoding(
            f"org.division {division} is outside region {region}", field="body.org.division"
        )
    if org.get("level") not in LEVELS:
        raise MalformedEncoding(f"org.level is one of {list(LEVELS)}", field="body.org.level")
    if not isinstance(org.get("sector"), str) or not org["sector"]:
        raise MalformedEncoding(
            "org.sector is the body's sector (e.g. 市场监管)", field="body.org.sector"
        )
    if not isinstance(org.get("parent", ""), str):
        raise MalformedEncoding("org.parent is a body id", field="body.org.parent")
    roles = org.get("roles", [])
    if (
        not isinstance(roles, list)
        or not all(isinstance(role, str) for role in roles)
        or not set(roles) <= ROLES
    ):
        raise MalformedEncoding(f"org.roles is a subset of {sorted(ROLES)}", field="body.org.roles")
    return org


class CatalogVersions:
    """The catalog versions a ledger knows: the packaged ones and signed amendments."""

    def __init__(self, catalogs: Iterable[Catalog] = ()):
        self.versions: dict[str, Catalog] = {}
        # Per region, (since, version) in order: which version new cases must pin when.
        self.history: dict[str, list[tuple[int, str]]] = {}
        for catalog in catalogs:
            self.add(catalog, since=0)

    def add(self, catalog: Catalog, *, since: int) -> None:
        self.versions[catalog.version] = catalog
        self.history.setdefault(catalog.region, []).append((since, catalog.version))

    def current_at(self, region: str, moment: int) -> str | None:
        """The version new cases of ``region`` pin at ``moment`` (a receipt time)."""
        current = None
        for since, version in self.history.get(region, []):
            if since <= moment:
                current = version
        return current

    def get(self, version: str) -> Catalog | None:
        return self.versions.get(version)

    def current(self, region: str, moment: int) -> Catalog:
        """The catalog new cases of ``region`` pin at ``moment``: the latest signed amendment,
        else the packaged one (``UnknownRegion`` when none ships for ``region``)."""
        version = self.current_at(region, moment)
        catalog = self.versions.get(version) if version is not None else None
        return catalog if catalog is not None else load_catalog(region)

    def amend(self, base_version: str, region: str, changes: list[Any]) -> Catalog:
        base = self.versions.get(base_version)
        if base is None or base.region != region:
            raise ValueError(f"no catalog version {base_version} of region {region}")
        return base.amended(changes)


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


@dataclass(frozen=True)
class BodyInfo:
    """A registered body (department, hall, window) and its organization data."""

    body_id: str
    name: str
    region: str
    org: dict[str, Any] = field(default_factory=dict)
    current_kid: str = ""


@dataclass(frozen=True)
class KeyRecord(SignedView):
    """A decoded key record (its signature not yet checked)."""

    signed: SignedObject
    region: str
    seq: int
    prev: bytes
    type: str
    time: int
    body: dict[str, Any]

    @property
    def signer_kid(self) -> str:
        return self.key_id


RECORD_TYPES = frozenset(
    {
        "root_established",
        "root_rotated",
        "body_registered",
        "body_key_rotated",
        "officer_certified",
        "node_key_certified",
        "key_revoked",
        "finding_resolved",
        "catalog_amended",
        "license_key_certified",
    }
)


#: The body fields of ``license_key_certified``; ``valid_until`` is optional.
LICENSE_KEY_FIELDS = frozenset({"body_id", "public_key", "key_suite", "valid_from", "valid_until"})

#: A key record's content holds exactly these fields (docs/keys.md §2).
RECORD_FIELDS = frozenset({"v", "suite", "ctx", "kid", "region", "seq", "prev", "type", "time"})
RECORD_FIELDS |= {"body"}
_KEY_FIELDS = frozenset({"public_key", "key_suite", "valid_from"})
#: The body fields each record type may hold, the optional ones included (docs/keys.md §3):
#: any other is ``malformed``, so no record has a second, longer spelling that one verifier
#: reads and another refuses.
BODY_FIELDS: dict[str, frozenset[str]] = {
    "root_established": _KEY_FIELDS,
    "root_rotated": _KEY_FIELDS | {"proof"},
    "body_registered": _KEY_FIELDS | {"body_id", "name", "org"},
    "body_key_rotated": _KEY_FIELDS | {"body_id"},
    "officer_certified": _KEY_FIELDS | {"body_id", "officer_id"},
    "node_key_certified": _KEY_FIELDS | {"node_id"},
    "key_revoked": frozenset({"kid", "compromised_since", "reason"}),
    "finding_resolved": frozenset({"case", "seq", "reason", "resolution", "note"}),
    "catalog_amended": frozenset({"base_version", "changes"}),
    "license_key_certified": LICENSE_KEY_FIELDS,
}


def parse_key_record(raw: bytes) -> KeyRecord:
    """Decode a key record and check its shape."""
    signed = open_signed(raw, context=KEY_RECORD_CONTEXT)
    content = signed.content
    record_type = require(content, "type", str)
    if record_type not in RECORD_TYPES:
        raise MalformedEncoding(f"unknown key record type {record_type!r}", field="type")
    unknown = sorted(set(content) - RECORD_FIELDS)
    if unknown:
        raise MalformedEncoding(f"unknown fields {unknown}", field=unknown[0])
    seq = require(content, "seq", int)
    if seq < 1:
        raise MalformedEncoding("seq starts at 1", field="seq")
    body = require(content, "body", dict)
    unknown = sorted(set(body) - BODY_FIELDS[record_type])
    if unknown:
        raise MalformedEncoding(
            f"unknown {record_type} body fields {unknown}", field=f"body.{unknown[0]}"
        )
    prev = require(content, "prev", bytes)
    if len(prev) != signed.suite.digest_size:
        raise MalformedEncoding(
            f"prev must be one digest ({signed.suite.digest_size} bytes)", field="prev"
        )
    time = require(content, "time", int)
    if time < 0:
        raise MalformedEncoding("time must be >= 0", field="time")
    return KeyRecord(
        signed=signed,
        region=require(content, "region", str),
        seq=seq,
        prev=prev,
        type=record_type,
        time=time,
        body=body,
    )


def build_key_record(
    signer: Signer,
    *,
    region: str,
    seq: int,
    prev: bytes,
    record_type: str,
    time: int,
    body: Mapping[str, Any],
) -> bytes:
    """Sign a key record: its exact bytes."""
    raw = seal(
        {
            "ctx": KEY_RECORD_CONTEXT,
            "region": region,
            "seq": seq,
            "prev": prev,
            "type": record_type,
            "time": time,
            "body": dict(body),
        },
        signer,
    )
    parse_key_record(raw)
    return raw


def rotation_proof_input(region: str, old_kid: str, public_key: bytes, valid_from: int) -> bytes:
    """What the new root signs to prove it consents to a root rotation."""
    statement = canonical.encode(
        {"region": region, "old": old_kid, "public_key": public_key, "valid_from": valid_from}
    )
    return signing_input(KEY_PROOF_CONTEXT, get_suite("ed25519-sha256"), statement)


def sign_rotation_proof(new_root: Signer, *, region: str, old_kid: str, valid_from: int) -> bytes:
    return new_root.sign(rotation_proof_input(region, old_kid, new_root.public_key, valid_from))


@dataclass(frozen=True)
class Resolution:
    """An administrator's signed answer to a policy finding."""

    case_id: str
    seq: int
    reason: str
    resolution: str  # ratified or repudiated
    note: str


@dataclass
class Effects:
    """What one record changes, computed before anything is changed."""

    keys: list[KeyInfo] = field(default_factory=list)
    body: BodyInfo | None = None
    officer: tuple[str, str, str] | None = None  # body id, officer id, kid
    resolution: Resolution | None = None
    catalog: Catalog | None = None


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
        self.officers: dict[tuple[str, str], str] = {}  # (body, officer) -> current kid
        self.resolutions: dict[tuple[str, int, str], Resolution] = {}
        # Every catalog version a case may pin: the packaged ones, then signed amendments.
        self.catalogs = CatalogVersions(
            load_catalog(region) for region in trusted_roots if region in regions()
        )
        self.last_index = 0

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
            new = self._new_key(record, body, role=ROOT, owner="", certified_by="")
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
            effects = self._effects(record, body, signer, state, receipt_time, index)
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
            body_id, officer_id, kid = effects.officer
            self.officers[(body_id, officer_id)] = kid
        if effects.catalog is not None:
            self.catalogs.add(effects.catalog, since=receipt_time)
        if effects.resolution is not None:
            found = effects.resolution
            self.resolutions[(found.case_id, found.seq, found.reason)] = found
        state.seq = record.seq
        state.head = record.hash

    def _new_key(
        self,
        record: KeyRecord,
        body: dict[str, Any],
        *,
        role: str,
        owner: str,
        certified_by: str,
        officer_id: str = "",
    ) -> KeyInfo:
        public_key = require(body, "public_key", bytes)
        suite = require(body, "key_suite", str)
        get_suite(suite)
        kid = key_id(suite, public_key)
        if kid in self.keys:
            raise RegistryError(
                f"key {kid} is already registered", reason="duplicate_key", field="body.public_key"
            )
        return KeyInfo(
            kid=kid,
            suite=suite,
            public_key=public_key,
            role=role,
            region=record.region,
            valid_from=require(body, "valid_from", int),
            owner=owner,
            officer_id=officer_id,
            certified_by=certified_by,
            certified_at=0,
        )

    def _require_root(self, signer: KeyInfo, state: RegionRegistry, what: str) -> None:
        if signer.role != ROOT or signer.kid != state.root_kid:
            raise RegistryError(
                f"{what} must be signed by the region root", reason="not_entitled", field="kid"
            )

    def _effects(
        self,
        record: KeyRecord,
        body: dict[str, Any],
        signer: KeyInfo,
        state: RegionRegistry,
        receipt_time: int,
        index: int,
    ) -> Effects:
        kind = record.type
        if kind == "root_rotated":
            self._require_root(signer, state, kind)
            new = self._new_key(record, body, role=ROOT, owner="", certified_by=signer.kid)
            proof = require(body, "proof", bytes)
            get_suite(new.suite).verify(
                new.public_key,
                rotation_proof_input(record.region, signer.kid, new.public_key, new.valid_from),
                proof,
            )
            return Effects(
                keys=[
                    replace(signer, valid_until=max(new.valid_from, receipt_time)),
                    replace(new, certified_at=receipt_time),
                ]
            )
        if kind in {"body_registered", "body_key_rotated"}:
            self._require_root(signer, state, kind)
            body_id = check_identifier(require(body, "body_id", str), "body.body_id")
            known = self.bodies.get(body_id)
            if kind == "body_registered" and known is not None:
                raise RegistryError(f"body {body_id} is already registered", field="body.body_id")
            if kind == "body_key_rotated" and (known is None or known.region != record.region):
                # A region's root may only rotate keys of its own bodies.
                raise RegistryError(
                    f"no body {body_id} in region {record.region}",
                    reason="unknown_body",
                    field="body.body_id",
                )
            new = replace(
                self._new_key(record, body, role=BODY, owner=body_id, certified_by=signer.kid),
                certified_at=receipt_time,
            )
            effects = Effects(keys=[new])
            if known is not None:
                effects.keys.append(
                    replace(
                        self.keys[known.current_kid], valid_until=max(new.valid_from, receipt_time)
                    )
                )
                effects.body = replace(known, current_kid=new.kid)
            else:
                org = check_org(body.get("org", {}), record.region)
                effects.body = BodyInfo(
                    body_id, require(body, "name", str), record.region, org, new.kid
                )
            return effects
        if kind == "officer_certified":
            body_id = require(body, "body_id", str)
            if signer.role != BODY or signer.owner != body_id:
                raise RegistryError(
                    "an officer is certified by a key of their own body",
                    reason="not_entitled",
                    field="kid",
                )
            owner = self.bodies.get(body_id)
            if owner is None or owner.region != record.region:
                raise RegistryError(
                    f"body {body_id} is not a body of region {record.region}",
                    reason="not_entitled",
                    field="body.body_id",
                )
            officer_id = check_identifier(require(body, "officer_id", str), "body.officer_id")
            new = replace(
                self._new_key(
                    record,
                    body,
                    role=OFFICER,
                    owner=body_id,
                    certified_by=signer.kid,
                    officer_id=officer_id,
                ),
                certified_at=receipt_time,
            )
            effects = Effects(keys=[new], officer=(body_id, officer_id, new.kid))
            current = self.officers.get((body_id, officer_id))
            if current is not None:
                effects.keys.append(
                    replace(self.keys[current], valid_until=max(new.valid_from, receipt_time))
                )
            return effects
        if kind == "node_key_certified":
            self._require_root(signer, state, kind)
            node_id = check_identifier(require(body, "node_id", str), "body.node_id")
            new = self._new_key(record, body, role=NODE, owner=node_id, certified_by=signer.kid)
            return Effects(keys=[replace(new, certified_at=receipt_time)])
        if kind == "license_key_certified":
            return self._license_key_effects(record, body, signer, state, receipt_time)
        if kind == "key_revoked":
            target = self.key(require(body, "kid", str))
            compromised_since = require(body, "compromised_since", int)
            entitled = signer.kid == state.root_kid or (
                target.role == OFFICER and signer.role == BODY and signer.owner == target.owner
            )
            if not entitled or target.region != record.region:
                raise RegistryError(
                    "not entitled to revoke this key", reason="not_entitled", field="kid"
                )
            if target.compromised_since is not None:
                compromised_since = min(compromised_since, target.compromised_since)
            return Effects(
                keys=[replace(target, compromised_since=compromised_since, revoked_at_index=index)]
            )
        if kind == "finding_resolved":
            self._require_root(signer, state, kind)
            if self.home_region and record.region != self.home_region:
                raise RegistryError(
                    "only this ledger's own region root resolves its findings",
                    reason="not_entitled",
                    field="region",
                )
            resolution = require(body, "resolution", str)
            if resolution not in {"ratified", "repudiated"}:
                raise MalformedEncoding(
                    "resolution is ratified or repudiated", field="body.resolution"
                )
            return Effects(
                resolution=Resolution(
                    require(body, "case", str),
                    require(body, "seq", int),
                    require(body, "reason", str),
                    resolution,
                    str(body.get("note", "")),
                )
            )
        if kind == "catalog_amended":
            self._require_root(signer, state, kind)
            base = require(body, "base_version", str)
            changes = require(body, "changes", list)
            current = self.catalogs.current_at(record.region, receipt_time)
            if base != current:
                # Amending an older version would silently drop the amendments since.
                raise RegistryError(
                    f"an amendment starts from the current catalog version {current}, not {base}",
                    reason="stale_catalog_version",
                    field="body.base_version",
                )
            try:
                amended = self.catalogs.amend(base, record.region, changes)
            except (CatalogError, ValueError, TypeError) as error:
                raise RegistryError(
                    f"catalog amendment refused: {error}",
                    reason="bad_amendment",
                    field="body.changes",
                ) from error
            return Effects(catalog=amended)
        raise MalformedEncoding(f"unknown record type {kind}", field="type")  # pragma: no cover

    def _license_key_effects(
        self,
        record: KeyRecord,
        body: dict[str, Any],
        signer: KeyInfo,
        state: RegionRegistry,
        receipt_time: int,
    ) -> Effects:
        """A license key of one of the region's bodies, certified by the region root.

        License keys are not rotated by replacement: a body may hold several at once (one per
        signing device, say); each ends at its own ``valid_until`` or by ``key_revoked``.
        """
        self._require_root(signer, state, "license_key_certified")
        # A new record type, so it can be strict from the start: no unknown body fields.
        unknown = set(body) - LICENSE_KEY_FIELDS
        if unknown:
            raise MalformedEncoding(
                f"unknown license_key_certified fields {sorted(unknown)}",
                field=f"body.{sorted(unknown)[0]}",
            )
        body_id = check_identifier(require(body, "body_id", str), "body.body_id")
        owner = self.bodies.get(body_id)
        if owner is None or owner.region != record.region:
            raise RegistryError(
                f"no body {body_id} in region {record.region}",
                reason="unknown_body",
                field="body.body_id",
            )
        new = self._new_key(record, body, role=LICENSE, owner=body_id, certified_by=signer.kid)
        valid_until = None
        if "valid_until" in body:
            valid_until = require(body, "valid_until", int)
            if valid_until <= new.valid_from:
                raise MalformedEncoding(
                    "valid_until must be later than valid_from", field="body.valid_until"
                )
        return Effects(keys=[replace(new, valid_until=valid_until, certified_at=receipt_time)])
