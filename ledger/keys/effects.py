"""What each key record changes: one small function per record type, in :data:`EFFECTS`.

==========================  ==========================  ====================================
record type                 signed by                   effect
==========================  ==========================  ====================================
``root_established``        the new root itself         seq 1; must be a configured trust root
``root_rotated``            the current root            new root; ``proof`` signed by the new
                                                        key, so both roots signed the change
``body_registered``         the root                    a body (department, hall, window)
``body_key_rotated``        the root                    a body's new key; the old one ends
``officer_certified``       a valid key of the body     an officer's key: first, another
                                                        device's, or one rotated
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
``calendar_published``      the root                    a year's working-day calendar of the
                                                        region, or a place's local holidays
                                                        (docs/supervision.md §2)
``hall_published``          the root, or a key of the   the body's hall information (address,
                            body itself                 hours, phone, appointment, 办事须知)
==========================  ==========================  ====================================

``root_established`` starts a registry and is checked by :class:`ledger.keys.KeyRegistry`
itself (its signer is the key it establishes). Every other record's signer is already known,
valid at the receipt time and its signature checked when its function runs; the function
checks the signer's entitlement and the body, and returns the :class:`Effects`, computed
before anything is changed (a refused record changes nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ledger.calendars import CalendarError, CalendarYear
from ledger.catalog import Catalog, CatalogError
from ledger.envelope import check_identifier, require
from ledger.errors import LedgerError, MalformedEncoding, RegistryError
from ledger.keys.key_info import BODY, LICENSE, NODE, OFFICER, ROOT, KeyInfo
from ledger.keys.organizations import BodyInfo, HallInfo, check_org, hall_of
from ledger.keys.records import LICENSE_KEY_FIELDS, KeyRecord, rotation_proof_input
from ledger.suites import check_public_key, get_suite, key_id

if TYPE_CHECKING:  # the registry calls these functions; they only read it
    from ledger.keys.registry import KeyRegistry, RegionRegistry


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
    officer: tuple[str, str, str, str] | None = None  # body id, officer id, device, kid
    resolution: Resolution | None = None
    catalog: Catalog | None = None
    calendar: CalendarYear | None = None
    hall: HallInfo | None = None


def new_key(
    registry: KeyRegistry,
    record: KeyRecord,
    body: dict[str, Any],
    *,
    role: str,
    owner: str,
    certified_by: str,
    officer_id: str = "",
) -> KeyInfo:
    """A key a record introduces (not yet certified_at); refused if already registered."""
    public_key = body_field(body, "public_key", bytes)
    suite = body_field(body, "key_suite", str)
    get_suite(suite)
    try:
        check_public_key(suite, public_key)
    except LedgerError as error:
        raise RegistryError(
            f"not a {suite} public key: {error.detail}",
            reason="malformed",
            field="body.public_key",
        ) from None
    kid = key_id(suite, public_key)
    if kid in registry.keys:
        raise RegistryError(
            f"key {kid} is already registered", reason="duplicate_key", field="body.public_key"
        )
    return KeyInfo(
        kid=kid,
        suite=suite,
        public_key=public_key,
        role=role,
        region=record.region,
        valid_from=body_field(body, "valid_from", int),
        owner=owner,
        officer_id=officer_id,
        certified_by=certified_by,
        certified_at=0,
    )


def body_field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """``body[name]`` of ``kind``; ``malformed`` naming ``body.<name>`` otherwise, as an
    unknown body field is named (docs/keys.md §3)."""
    return require(body, name, kind, field=f"body.{name}")


def require_body_of_region(
    registry: KeyRegistry, record: KeyRecord, body_id: str, *, reason: str = "not_entitled"
) -> None:
    """Refuse (with ``reason``, docs/keys.md §3) a record about a body that is not registered
    in the record's region."""
    owner = registry.bodies.get(body_id)
    if owner is None or owner.region != record.region:
        raise RegistryError(
            f"body {body_id} is not a body of region {record.region}",
            reason=reason,
            field="body.body_id",
        )


def require_root(signer: KeyInfo, state: RegionRegistry, what: str) -> None:
    """Refuse a record only the region's current root may sign."""
    if signer.role != ROOT or signer.kid != state.root_kid:
        raise RegistryError(
            f"{what} must be signed by the region root", reason="not_entitled", field="kid"
        )


def _root_rotated(
    registry: KeyRegistry,
    record: KeyRecord,
    body: dict[str, Any],
    signer: KeyInfo,
    state: RegionRegistry,
    receipt_time: int,
    index: int,
) -> Effects:
    """A new root, signed by the current one; ``proof``: the new root consents too."""
    require_root(signer, state, "root_rotated")
    new = new_key(registry, record, body, role=ROOT, owner="", certified_by=signer.kid)
    proof = body_field(body, "proof", bytes)
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


def _body_key(
    registry: KeyRegistry,
    record: KeyRecord,
    body: dict[str, Any],
    signer: KeyInfo,
    state: RegionRegistry,
    receipt_time: int,
    index: int,
) -> Effects:
    """A body registered, or its key rotated: the new key, the old one ended."""
    kind = record.type
    require_root(signer, state, kind)
    body_id = check_identifier(body_field(body, "body_id", str), "body.body_id")
    known = registry.bodies.get(body_id)
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
        new_key(registry, record, body, role=BODY, owner=body_id, certified_by=signer.kid),
        certified_at=receipt_time,
    )
    effects = Effects(keys=[new])
    if known is not None:
        effects.keys.append(
            replace(registry.keys[known.current_kid], valid_until=max(new.valid_from, receipt_time))
        )
        effects.body = replace(known, current_kid=new.kid)
    else:
        org = check_org(body.get("org", {}), record.region)
        effects.body = BodyInfo(body_id, body_field(body, "name", str), record.region, org, new.kid)
    return effects


def _officer_certified(
    registry: KeyRegistry,
    record: KeyRecord,
    body: dict[str, Any],
    signer: KeyInfo,
    state: RegionRegistry,
    receipt_time: int,
    index: int,
) -> Effects:
    """An officer's key, certified by a key of the officer's own body."""
    body_id = body_field(body, "body_id", str)
    if signer.role != BODY or signer.owner != body_id:
        raise RegistryError(
            "an officer is certified by a key of their own body",
            reason="not_entitled",
            field="kid",
        )
    require_body_of_region(registry, record, body_id)
    officer_id = check_identifier(body_field(body, "officer_id", str), "body.officer_id")
    head = body.get("head", False)
    if not isinstance(head, bool):
        raise MalformedEncoding("head is true or false", field="body.head")
    new = replace(
        new_key(
            registry,
            record,
            body,
            role=OFFICER,
            owner=body_id,
            certified_by=signer.kid,
            officer_id=officer_id,
        ),
        certified_at=receipt_time,
        head=head,
    )
    # An officer may hold a key per device (a desk browser, a laptop, a USB key): a new
    # device adds a key beside the others; the same device again rotates that device's key.
    device = ""
    if "device" in body:
        named = body["device"]
        if not isinstance(named, str):
            raise MalformedEncoding("body.device must be str", field="body.device")
        device = check_identifier(named, "body.device")
    effects = Effects(keys=[new], officer=(body_id, officer_id, device, new.kid))
    current = registry.officers.get((body_id, officer_id, device))
    if current is not None:
        effects.keys.append(
            replace(registry.keys[current], valid_until=max(new.valid_from, receipt_time))
        )
    return effects


def _node_key_certified(
    registry: KeyRegistry,
    record: KeyRecord,
    body: dict[str, Any],
    signer: KeyInfo,
    state: RegionRegistry,
    receipt_time: int,
    index: int,
) -> Effects:
    """The node's ledger key (receipts, checkpoints)."""
    require_root(signer, state, "node_key_certified")
    node_id = check_identifier(body_field(body, "node_id", str), "body.node_id")
    new = new_key(registry, record, body, role=NODE, owner=node_id, certified_by=signer.kid)
    return Effects(keys=[replace(new, certified_at=receipt_time)])


def _key_revoked(
    registry: KeyRegistry,
    record: KeyRecord,
    body: dict[str, Any],
    signer: KeyInfo,
    state: RegionRegistry,
    receipt_time: int,
    index: int,
) -> Effects:
    """A key compromised since a time: by the root, or for an officer key by its body."""
    target = registry.key(body_field(body, "kid", str))
    compromised_since = body_field(body, "compromised_since", int)
    entitled = signer.kid == state.root_kid or (
        target.role == OFFICER and signer.role == BODY and signer.owner == target.owner
    )
    if not entitled or target.region != record.region:
        raise RegistryError("not entitled to revoke this key", reason="not_entitled", field="kid")
    if target.compromised_since is not None:
        compromised_since = min(compromised_since, target.compromised_since)
    return Effects(
        keys=[replace(target, compromised_since=compromised_since, revoked_at_index=index)]
    )


def _finding_resolved(
    registry: KeyRegistry,
    record: KeyRecord,
    body: dict[str, Any],
    signer: KeyInfo,
    state: RegionRegistry,
    receipt_time: int,
    index: int,
) -> Effects:
    """An administrator's answer to a policy finding of this ledger."""
    require_root(signer, state, "finding_resolved")
    if registry.home_region and record.region != registry.home_region:
        raise RegistryError(
            "only this ledger's own region root resolves its findings",
            reason="not_entitled",
            field="region",
        )
    resolution = body_field(body, "resolution", str)
    if resolution not in {"ratified", "repudiated"}:
        raise MalformedEncoding("resolution is ratified or repudiated", field="body.resolution")
    return Effects(
        resolution=Resolution(
            body_field(body, "case", str),
            body_field(body, "seq", int),
            body_field(body, "reason", str),
            resolution,
            str(body.get("note", "")),
        )
    )


def _catalog_amended(
    registry: KeyRegistry,
    record: KeyRecord,
    body: dict[str, Any],
    signer: KeyInfo,
    state: RegionRegistry,
    receipt_time: int,
    index: int,
) -> Effects:
    """A new catalog version, from the current one, current from this receipt time."""
    require_root(signer, state, "catalog_amended")
    base = body_field(body, "base_version", str)
    changes = body_field(body, "changes", list)
    current = registry.catalogs.current_at(record.region, receipt_time)
    if base != current:
        # Amending an older version would silently drop the amendments since.
        raise RegistryError(
            f"an amendment starts from the current catalog version {current}, not {base}",
            reason="stale_catalog_version",
            field="body.base_version",
        )
    try:
        amended = registry.catalogs.amend(base, record.region, changes)
    except (CatalogError, ValueError, TypeError) as error:
        raise RegistryError(
            f"catalog amendment refused: {error}",
            reason="bad_amendment",
            field="body.changes",
        ) from error
    return Effects(catalog=amended)


def _license_key_certified(
    registry: KeyRegistry,
    record: KeyRecord,
    body: dict[str, Any],
    signer: KeyInfo,
    state: RegionRegistry,
    receipt_time: int,
    index: int,
) -> Effects:
    """A license key of one of the region's bodies, certified by the region root.

    License keys are not rotated by replacement: a body may hold several at once (one per
    signing device, say); each ends at its own ``valid_until`` or by ``key_revoked``.
    """
    require_root(signer, state, "license_key_certified")
    # A new record type, so it can be strict from the start: no unknown body fields.
    unknown = set(body) - LICENSE_KEY_FIELDS
    if unknown:
        raise MalformedEncoding(
            f"unknown license_key_certified fields {sorted(unknown)}",
            field=f"body.{sorted(unknown)[0]}",
        )
    body_id = check_identifier(body_field(body, "body_id", str), "body.body_id")
    require_body_of_region(registry, record, body_id, reason="unknown_body")
    new = new_key(registry, record, body, role=LICENSE, owner=body_id, certified_by=signer.kid)
    valid_until = None
    if "valid_until" in body:
        valid_until = body_field(body, "valid_until", int)
        if valid_until <= new.valid_from:
            raise MalformedEncoding(
                "valid_until must be later than valid_from", field="body.valid_until"
            )
    return Effects(keys=[replace(new, valid_until=valid_until, certified_at=receipt_time)])


def _calendar_published(
    registry: KeyRegistry,
    record: KeyRecord,
    body: dict[str, Any],
    signer: KeyInfo,
    state: RegionRegistry,
    receipt_time: int,
    index: int,
) -> Effects:
    """A year's working-day calendar (or a place's local one); replaces an earlier record of
    the same year and divisions."""
    require_root(signer, state, "calendar_published")
    for name in ("year", "holidays", "workdays", "divisions", "source"):
        if name not in body:
            raise MalformedEncoding(f"calendar_published needs body.{name}", field=f"body.{name}")
    try:
        year = CalendarYear.from_body(record.region, body)
    except CalendarError as error:
        raise RegistryError(
            f"calendar refused: {error}", reason="bad_calendar", field=f"body.{error.field}"
        ) from error
    return Effects(calendar=year)


def _hall_published(
    registry: KeyRegistry,
    record: KeyRecord,
    body: dict[str, Any],
    signer: KeyInfo,
    state: RegionRegistry,
    receipt_time: int,
    index: int,
) -> Effects:
    """A body's hall information, published by the region's root or by the body itself;
    replaces the body's earlier one."""
    body_id = body_field(body, "body_id", str)
    own = signer.role == BODY and signer.owner == body_id
    root = signer.role == ROOT and signer.kid == state.root_kid
    if not (own or root):
        raise RegistryError(
            "a body's hall information is signed by the region root or a key of that body",
            reason="not_entitled",
            field="kid",
        )
    require_body_of_region(registry, record, body_id)
    return Effects(hall=hall_of(body, body_id, receipt_time))


#: The effect of each record type but ``root_established`` (which the registry checks itself).
EFFECTS: Mapping[
    str,
    Callable[[KeyRegistry, KeyRecord, dict[str, Any], KeyInfo, RegionRegistry, int, int], Effects],
] = {
    "root_rotated": _root_rotated,
    "body_registered": _body_key,
    "body_key_rotated": _body_key,
    "officer_certified": _officer_certified,
    "node_key_certified": _node_key_certified,
    "license_key_certified": _license_key_certified,
    "key_revoked": _key_revoked,
    "finding_resolved": _finding_resolved,
    "catalog_amended": _catalog_amended,
    "calendar_published": _calendar_published,
    "hall_published": _hall_published,
}


def effects_of(
    registry: KeyRegistry,
    record: KeyRecord,
    body: dict[str, Any],
    signer: KeyInfo,
    state: RegionRegistry,
    receipt_time: int,
    index: int,
) -> Effects:
    """What ``record`` (received at ``receipt_time``, to be stored at ``index``) changes, or
    the refusal naming the field."""
    effect = EFFECTS.get(record.type)
    if effect is None:  # pragma: no cover - parse_key_record admits only RECORD_TYPES
        raise MalformedEncoding(f"unknown record type {record.type}", field="type")
    return effect(registry, record, body, signer, state, receipt_time, index)
