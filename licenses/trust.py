"""Regional trust lists: which license keys a region vouches for, and what it recognizes.

Normative text: ``docs/license.md`` §10. A trust list is a Tongban signed object
(``docs/envelope.md`` §2) with context ``tongban/trust-list/v1``, signed by the **root key of
its region**. It lets a verifier with no access to another region's ledger check that region's
licenses offline: the list names the region's license keys (with the body and USCC each signs
for, its validity and any compromise), and the license types the region accepts from which
issuing regions (recognition, 互认).

- :func:`build_trust_list` signs a list and returns its exact bytes;
- :func:`parse_trust_list` decodes bytes and checks their shape (no key needed);
- :meth:`TrustList.verify` checks the signature under the region's root public key;
- :class:`TrustStore` holds, in memory, the newest verified list of each configured region.

Errors (subclasses of ``licenses.errors.LicenseError``)::

    LicenseError
    ├── TrustListRejected     a trust list is refused; ``reason`` in TRUST_LIST_REASONS
    └── UntrustedLicenseKey   a license key lookup fails; ``reason`` is ``unknown_issuer``
                              or ``issuer_key_not_valid``
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final

from ledger.envelope import SignedObject, SignedView, check_identifier, open_signed, seal
from ledger.errors import LedgerError
from ledger.suites import Signer, get_suite, key_id
from licenses.errors import InvalidIdentifier, LicenseError
from licenses.identifiers import HolderKind, parse_holder_code

__all__ = [
    "BEIJING",
    "TRUST_LIST_CONTEXT",
    "TRUST_LIST_REASONS",
    "LicenseKeyEntry",
    "Recognition",
    "TrustList",
    "TrustListRejected",
    "TrustStore",
    "TrustedLicenseKey",
    "UntrustedLicenseKey",
    "build_trust_list",
    "day_bounds",
    "parse_trust_list",
]

TRUST_LIST_CONTEXT: Final = "tongban/trust-list/v1"
#: License dates are Beijing calendar days (docs/license.md §3).
BEIJING: Final = timezone(timedelta(hours=8))

#: Every ``TrustListRejected.reason``.
TRUST_LIST_REASONS: Final[frozenset[str]] = frozenset(
    {
        "malformed",  # not a trust list of the documented shape
        "unsupported_version",  # ``v`` is not 1
        "unsupported_suite",  # the list's suite, or a listed key's, is not implemented here
        "wrong_context",  # a signed object of another kind
        "unknown_region",  # no root is configured for the list's region
        "wrong_key",  # not signed by (a) configured root of its region
        "bad_signature",  # the signature does not verify
        "stale",  # an older version than the one held
        "conflict",  # the same version as the one held, with other bytes
    }
)

_FIELDS: Final = frozenset(
    {"v", "suite", "ctx", "kid", "region", "version", "issued_at", "valid_until"}
    | {"license_keys", "recognition"}
)
_KEY_FIELDS: Final = frozenset(
    {"kid", "suite", "public_key", "body_id", "issuer_code", "valid_from", "valid_until"}
    | {"revoked_since"}
)
_RECOGNITION_FIELDS: Final = frozenset({"type", "regions"})
_REGION: Final = re.compile(r"[1-9][0-9]{5}")
# A license type code: the defining body's USCC and 3 digits (docs/license.md §3).
_TYPE_CODE: Final = re.compile(r"[0-9A-Z]{18}[0-9]{3}")


class TrustListRejected(LicenseError):
    """A trust list is refused; ``reason`` is one of :data:`TRUST_LIST_REASONS`."""

    def __init__(self, reason: str, detail: str, *, field: str | None = None) -> None:
        if reason not in TRUST_LIST_REASONS:
            raise ValueError(f"unknown TrustListRejected reason {reason!r}")
        super().__init__(f"{reason}: {detail}" + (f" (field {field})" if field else ""))
        self.reason = reason
        self.detail = detail
        self.field = field


class UntrustedLicenseKey(LicenseError):
    """No trusted list vouches for a license key (``unknown_issuer``) on the day asked
    (``issuer_key_not_valid``)."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in {"unknown_issuer", "issuer_key_not_valid"}:
            raise ValueError(f"unknown UntrustedLicenseKey reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def day_bounds(day: date) -> tuple[int, int]:
    """The Beijing calendar day ``day`` as µs UTC: ``[start, end)``."""
    start = datetime(day.year, day.month, day.day, tzinfo=BEIJING)
    start_us = int(start.timestamp()) * 1_000_000
    return start_us, start_us + 86_400_000_000


@dataclass(frozen=True)
class LicenseKeyEntry:
    """One license key a region vouches for."""

    kid: str
    suite: str
    public_key: bytes
    body_id: str  # the body in the region's key registry
    issuer_code: str  # the body's USCC: the identifier's issuer part of what it signs
    valid_from: int  # µs UTC
    valid_until: int | None  # µs UTC, exclusive; None: no end set
    revoked_since: int | None  # µs UTC: compromised from then on

    def valid_on(self, day: date) -> bool:
        """Whether the key may have signed a license on the Beijing calendar day ``day``.

        The key must be valid at some moment of the day; a compromise at any moment of the day
        or before taints the whole day, since nothing shows at what hour a license was signed.
        """
        start, end = day_bounds(day)
        if self.valid_from >= end:
            return False
        if self.valid_until is not None and self.valid_until <= start:
            return False
        return self.revoked_since is None or self.revoked_since >= end


@dataclass(frozen=True)
class Recognition:
    """A license type this region accepts, and the issuing regions it accepts it from."""

    type: str
    regions: frozenset[str]


@dataclass(frozen=True)
class TrustedLicenseKey:
    """A license key found in a region's trust list."""

    region: str
    entry: LicenseKeyEntry


@dataclass(frozen=True)
class TrustList(SignedView):
    """A decoded, well-formed trust list; call :meth:`verify` before trusting it."""

    signed: SignedObject
    region: str
    version: int
    issued_at: int
    valid_until: int
    license_keys: tuple[LicenseKeyEntry, ...]
    recognition: tuple[Recognition, ...]

    def verify(self, root_public_key: bytes) -> None:
        """Raise ``TrustListRejected`` unless the root key ``root_public_key`` signed this."""
        if key_id(self.signed.suite.name, root_public_key) != self.key_id:
            raise TrustListRejected(
                "wrong_key", f"kid {self.key_id} does not name the root key given", field="kid"
            )
        try:
            self.signed.verify(root_public_key)
        except LedgerError as error:
            raise TrustListRejected("bad_signature", error.detail, field="signature") from error

    def is_fresh(self, now: int) -> bool:
        """Whether the list still speaks at ``now`` (µs UTC): ``now < valid_until``."""
        return now < self.valid_until

    def key(self, kid: str) -> LicenseKeyEntry | None:
        return next((entry for entry in self.license_keys if entry.kid == kid), None)

    def accepts(self, type_code: str, issuer_region: str) -> bool:
        """Whether this region accepts licenses of ``type_code`` issued in ``issuer_region``."""
        return any(
            item.type == type_code and issuer_region in item.regions for item in self.recognition
        )


# -- building --------------------------------------------------------------------------------


def build_trust_list(
    root_signer: Signer,
    *,
    region: str,
    version: int,
    issued_at: int,
    valid_until: int,
    license_keys: Iterable[LicenseKeyEntry],
    recognition: Iterable[Recognition],
) -> bytes:
    """Sign a trust list of ``region`` with its root key: its exact bytes.

    Entries and recognition items are written sorted (by ``kid``, by ``type``; regions sorted),
    so one list has one encoding.
    """
    raw = seal(
        {
            "ctx": TRUST_LIST_CONTEXT,
            "region": region,
            "version": version,
            "issued_at": issued_at,
            "valid_until": valid_until,
            "license_keys": [
                {
                    "kid": entry.kid,
                    "suite": entry.suite,
                    "public_key": entry.public_key,
                    "body_id": entry.body_id,
                    "issuer_code": entry.issuer_code,
                    "valid_from": entry.valid_from,
                    "valid_until": entry.valid_until,
                    "revoked_since": entry.revoked_since,
                }
                for entry in sorted(license_keys, key=lambda e: e.kid)
            ],
            "recognition": [
                {"type": item.type, "regions": sorted(item.regions)}
                for item in sorted(recognition, key=lambda r: r.type)
            ],
        },
        root_signer,
    )
    parse_trust_list(raw)  # never hand out bytes a verifier would refuse
    return raw


# -- parsing ---------------------------------------------------------------------------------


def _malformed(detail: str, field: str) -> TrustListRejected:
    return TrustListRejected("malformed", detail, field=field)


def _get(content: Mapping[str, Any], name: str, kind: type, path: str) -> Any:
    value = content.get(name)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _malformed(f"{path} must be {kind.__name__}", path)
    return value


def _optional_time(content: Mapping[str, Any], name: str, path: str) -> int | None:
    if name not in content:
        raise _malformed(f"{path} is missing", path)
    value = content[name]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _malformed(f"{path} must be µs UTC (integer >= 0) or null", path)
    return int(value)


def _exact(value: Mapping[str, Any], fields: frozenset[str], path: str) -> None:
    unknown, missing = sorted(set(value) - fields), sorted(fields - set(value))
    if unknown or missing:
        name = (unknown or missing)[0]
        raise _malformed(
            f"unknown fields {unknown}, missing {missing}", f"{path}.{name}" if path else name
        )


def _region(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise _malformed(f"{path} must be a 6-digit region code", path)
    return value


def _key_entry(value: Any, path: str) -> LicenseKeyEntry:
    if not isinstance(value, dict):
        raise _malformed(f"{path} must be a map", path)
    _exact(value, _KEY_FIELDS, path)
    suite_name = _get(value, "suite", str, f"{path}.suite")
    try:
        suite = get_suite(suite_name)
    except LedgerError as error:
        raise TrustListRejected("unsupported_suite", error.detail, field=f"{path}.suite") from None
    public_key = _get(value, "public_key", bytes, f"{path}.public_key")
    kid = _get(value, "kid", str, f"{path}.kid")
    if kid != key_id(suite.name, public_key):
        raise _malformed("kid is not the key id of suite and public_key", f"{path}.kid")
    body_id = _get(value, "body_id", str, f"{path}.body_id")
    try:
        check_identifier(body_id, f"{path}.body_id")
    except LedgerError as error:
        raise _malformed(error.detail, f"{path}.body_id") from None
    issuer_code = _get(value, "issuer_code", str, f"{path}.issuer_code")
    try:
        canonical_code = parse_holder_code(issuer_code, HolderKind.USCC).value
    except InvalidIdentifier as error:
        raise _malformed(error.detail, f"{path}.issuer_code") from None
    if canonical_code != issuer_code:
        raise _malformed("issuer_code must be a canonical USCC", f"{path}.issuer_code")
    valid_from = _get(value, "valid_from", int, f"{path}.valid_from")
    if valid_from < 0:
        raise _malformed("valid_from must be >= 0", f"{path}.valid_from")
    valid_until = _optional_time(value, "valid_until", f"{path}.valid_until")
    if valid_until is not None and valid_until <= valid_from:
        raise _malformed("valid_until must be after valid_from", f"{path}.valid_until")
    revoked_since = _optional_time(value, "revoked_since", f"{path}.revoked_since")
    return LicenseKeyEntry(
        kid, suite.name, public_key, body_id, issuer_code, valid_from, valid_until, revoked_since
    )


def _recognition(value: Any, path: str) -> Recognition:
    if not isinstance(value, dict):
        raise _malformed(f"{path} must be a map", path)
    _exact(value, _RECOGNITION_FIELDS, path)
    type_code = _get(value, "type", str, f"{path}.type")
    if not _TYPE_CODE.fullmatch(type_code):
        raise _malformed("type must be a 21-character license type code", f"{path}.type")
    regions = _get(value, "regions", list, f"{path}.regions")
    checked = [_region(item, f"{path}.regions") for item in regions]
    if not checked or checked != sorted(set(checked)):
        raise _malformed("regions must be non-empty, sorted, without repeats", f"{path}.regions")
    return Recognition(type_code, frozenset(checked))


def parse_trust_list(raw: bytes) -> TrustList:
    """Decode a trust list and check its shape (not its signature or freshness)."""
    try:
        signed = open_signed(raw, context=TRUST_LIST_CONTEXT)
    except LedgerError as error:
        reason = error.reason if error.reason in TRUST_LIST_REASONS else "malformed"
        raise TrustListRejected(reason, error.detail, field=error.field) from None
    content = signed.content
    _exact(content, _FIELDS, "")
    region = _region(content.get("region"), "region")
    version = _get(content, "version", int, "version")
    if version < 1:
        raise _malformed("version starts at 1", "version")
    issued_at = _get(content, "issued_at", int, "issued_at")
    valid_until = _get(content, "valid_until", int, "valid_until")
    if issued_at < 0 or valid_until <= issued_at:
        raise _malformed("0 <= issued_at < valid_until", "valid_until")
    raw_keys = _get(content, "license_keys", list, "license_keys")
    keys = tuple(_key_entry(item, f"license_keys[{i}]") for i, item in enumerate(raw_keys))
    kids = [entry.kid for entry in keys]
    if kids != sorted(set(kids)):
        raise _malformed("license_keys must be sorted by kid, without repeats", "license_keys")
    raw_recognition = _get(content, "recognition", list, "recognition")
    recognition = tuple(
        _recognition(item, f"recognition[{i}]") for i, item in enumerate(raw_recognition)
    )
    types = [item.type for item in recognition]
    if types != sorted(set(types)):
        raise _malformed("recognition must be sorted by type, without repeats", "recognition")
    return TrustList(signed, region, version, issued_at, valid_until, keys, recognition)


# -- the store -------------------------------------------------------------------------------


_MAX_VERIFIED: Final = 64  # trust lists whose verification a store remembers


class TrustStore:
    """The newest verified trust list of each region whose root this verifier pins.

    ``roots`` maps a region code to its root public key, or to several (during a root
    rotation both the old and the new root may sign). In memory only; persistence belongs to
    an adapter.
    """

    def __init__(self, roots: Mapping[str, bytes | Sequence[bytes]]) -> None:
        self._roots: dict[str, tuple[bytes, ...]] = {
            region: (keys,) if isinstance(keys, bytes) else tuple(keys)
            for region, keys in roots.items()
        }
        self._lists: dict[str, TrustList] = {}
        # Exact bytes of lists already verified under a pinned root: the pins never change,
        # so a verifier asking ``recognizes`` per license checks its own list's signature once.
        self._verified: dict[bytes, None] = {}

    def _verify(self, trust_list: TrustList) -> None:
        if trust_list.raw in self._verified:
            return
        self._check_root(trust_list)
        if len(self._verified) >= _MAX_VERIFIED:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[trust_list.raw] = None

    def _check_root(self, trust_list: TrustList) -> None:
        roots = self._roots.get(trust_list.region)
        if not roots:
            raise TrustListRejected(
                "unknown_region",
                f"no root is pinned for region {trust_list.region}",
                field="region",
            )
        for root in roots:
            if key_id(trust_list.signed.suite.name, root) == trust_list.key_id:
                trust_list.verify(root)
                return
        raise TrustListRejected(
            "wrong_key",
            f"kid {trust_list.key_id} is not a pinned root of region {trust_list.region}",
            field="kid",
        )

    def add(self, raw: bytes) -> TrustList:
        """Verify a trust list and keep it if it is newer than the one held; return it.

        Refused: a list that does not parse, that no pinned root of its region signed
        (``unknown_region``, ``wrong_key``, ``bad_signature``), an older version than the one
        held (``stale``: no rollback to a list that still vouches for a since-revoked key), or
        the same version with other bytes (``conflict``). The same bytes again are accepted.
        """
        trust_list = parse_trust_list(raw)
        self._verify(trust_list)
        held = self._lists.get(trust_list.region)
        if held is not None:
            if trust_list.version < held.version:
                raise TrustListRejected(
                    "stale",
                    f"version {trust_list.version} is older than the held {held.version}",
                    field="version",
                )
            if trust_list.version == held.version:
                if trust_list.raw != held.raw:
                    raise TrustListRejected(
                        "conflict",
                        f"another list of region {held.region} has version {held.version}",
                        field="version",
                    )
                return held
        self._lists[trust_list.region] = trust_list
        return trust_list

    def get(self, region: str) -> TrustList | None:
        """The newest list held for ``region``."""
        return self._lists.get(region)

    def find_license_key(self, kid: str, *, now: int | None = None) -> TrustedLicenseKey | None:
        """The key ``kid`` in the held lists (fresh at ``now`` when given), or None.

        A kid listed by two regions is ambiguous (whose recognition applies?): None.
        """
        found = [
            TrustedLicenseKey(region, entry)
            for region, trust_list in sorted(self._lists.items())
            if (now is None or trust_list.is_fresh(now))
            and (entry := trust_list.key(kid)) is not None
        ]
        return found[0] if len(found) == 1 else None

    def license_key(self, kid: str, at_date: date, *, now: int | None = None) -> TrustedLicenseKey:
        """The license key ``kid`` if a held list vouches for it on the Beijing day ``at_date``.

        Raises ``UntrustedLicenseKey``: ``unknown_issuer`` (no held list, fresh at ``now`` when
        given, names the key) or ``issuer_key_not_valid`` (not valid that day, or revoked).
        """
        found = self.find_license_key(kid, now=now)
        if found is None:
            raise UntrustedLicenseKey("unknown_issuer", f"no trusted list names key {kid}")
        if not found.entry.valid_on(at_date):
            raise UntrustedLicenseKey(
                "issuer_key_not_valid", f"key {kid} is not valid on {at_date.isoformat()}"
            )
        return found

    def recognizes(
        self,
        verifier_region_list: TrustList,
        type_code: str,
        issuer_region: str,
        *,
        now: int | None = None,
    ) -> bool:
        """Whether the verifier's region accepts ``type_code`` licenses from ``issuer_region``.

        ``verifier_region_list`` is the verifier's own region's list; it must verify under a
        pinned root of that region (else ``TrustListRejected``). A list past ``valid_until`` at
        ``now`` (when given) recognizes nothing. A region always accepts its own licenses only
        if its list says so: recognition is never implied.
        """
        self._verify(verifier_region_list)
        if now is not None and not verifier_region_list.is_fresh(now):
            return False
        return verifier_region_list.accepts(type_code, issuer_region)
