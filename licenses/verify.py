"""Verifying a presented license, full document or compact QR text, into one verdict.

Normative text: ``docs/license.md`` §11. :func:`verify_license` runs every check it can and
returns a :class:`Verdict` listing **every** failing check, with one primary reason chosen by
the fixed precedence :data:`VERDICT_REASONS` (integrity first, then authority, then status,
then time, then policy). It never raises for a bad license: a refusal is data that a window
clerk, a log and another province all read the same way.

A check whose input cannot be established is not run, so it cannot fail: nothing past
decoding runs on bytes that do not decode, the signature is not checked when no trusted key is
found (``unknown_issuer`` says why), and recognition is not asked when the issuing region is
unknown.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

import base45

from ledger import canonical
from ledger.errors import LedgerError
from ledger.personal import mask_id_number
from licenses.compact import COMPACT_PREFIX, CompactLicense, CompactRejected, decode_compact
from licenses.document import InvalidLicense, LicenseDocument, parse_license, verify_signature
from licenses.errors import InvalidIdentifier, LicenseError, UnknownLicenseType
from licenses.identifiers import HolderKind, parse_holder_code, parse_identifier
from licenses.status import LicenseStatus, SignedStatusList, StatusIndexError
from licenses.trust import BEIJING, TrustList, TrustListRejected, TrustStore
from licenses.types import get_type

__all__ = ["VERDICT_REASONS", "ListUsed", "OnlineStatus", "Verdict", "verify_license"]

#: Every reason a verdict can hold, highest precedence first (docs/license.md §11).
VERDICT_REASONS: Final[tuple[str, ...]] = (
    # integrity: is this the object it claims to be?
    "malformed",
    "unsupported_suite",
    "bad_check_character",
    # authority: did a body we trust sign it, with a key good for that day?
    "unknown_issuer",
    "issuer_key_not_valid",
    "bad_signature",
    # status: has the issuer withdrawn it?
    "revoked",
    "suspended",
    # time: is today inside its validity period?
    "expired",
    "not_yet_valid",
    # policy: does this region accept it from this person?
    "not_recognized",
    "holder_mismatch",
    "status_unavailable",
)
_RANK: Final = {reason: rank for rank, reason in enumerate(VERDICT_REASONS)}

#: ``online_status(list_id, index)``: the entry's status from the issuer's node, or None when
#: it cannot answer. ``LicenseError`` and ``OSError`` count as "cannot answer".
OnlineStatus = Callable[[str, int], LicenseStatus | None]


@dataclass(frozen=True)
class ListUsed:
    """A signed list a verdict rests on: which one, which version, and how old it is.

    ``id`` is the status list's id or the trust list's region; times are µs UTC.
    """

    id: str
    version: int
    issued_at: int
    valid_until: int

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "version": self.version,
            "issued_at": self.issued_at,
            "valid_until": self.valid_until,
        }


@dataclass(frozen=True)
class Verdict:
    """``valid`` iff ``failed`` is empty; ``failed`` is in precedence order, ``primary`` first.

    What the status rests on travels with it, so a clerk sees how old an offline answer is:
    ``status_source`` is ``"online"`` (the issuer answered), ``"status_list"`` (the cached
    list answered) or None (unknown; ``status_detail`` says why), and ``status_list`` is the
    cached list consulted, with its ``issued_at`` and ``valid_until``, whether it answered or
    was too old to. ``trust_lists`` are the versions of the trust lists the verdict used.
    ``online_detail``: an online answer was asked for and the issuer gave none, and why (the
    held list, if any, answered in its place).
    """

    valid: bool
    primary: str | None
    failed: tuple[str, ...]
    status_source: str | None = None
    status_detail: str | None = None
    status_list: ListUsed | None = None
    trust_lists: tuple[ListUsed, ...] = ()
    online_detail: str | None = None

    @classmethod
    def of(
        cls,
        failed: set[str],
        *,
        status_source: str | None = None,
        status_detail: str | None = None,
        status_list: ListUsed | None = None,
        trust_lists: tuple[ListUsed, ...] = (),
        online_detail: str | None = None,
    ) -> Verdict:
        ordered = tuple(sorted(failed, key=_RANK.__getitem__))
        return cls(
            not ordered,
            ordered[0] if ordered else None,
            ordered,
            status_source,
            status_detail,
            status_list,
            trust_lists,
            online_detail,
        )

    def to_json(self) -> dict[str, object]:
        """The verdict as the CLI's ``--json`` and ``POST /licenses/verify`` give it."""
        return {
            "valid": self.valid,
            "primary": self.primary,
            "failed": list(self.failed),
            "status_source": self.status_source,
            "status_detail": self.status_detail,
            "status_list": None if self.status_list is None else self.status_list.to_json(),
            "trust_lists": [used.to_json() for used in self.trust_lists],
            "online_detail": self.online_detail,
        }


@dataclass(frozen=True)
class _Claims:
    """What a presented license claims, in one shape for both forms."""

    kid: str
    suite: str
    issuer_code: str
    issuer_body: str | None  # None: the compact form does not name the body
    type_code: str
    signed_on: date  # the day the key must have been valid
    valid_from: date
    valid_until: date | None
    status_list: str
    status_index: int


def _document_claims(document: LicenseDocument) -> _Claims:
    return _Claims(
        kid=document.key_id,
        suite=document.signed.suite.name,
        issuer_code=document.issuer.code,
        issuer_body=document.issuer.body,
        type_code=document.type,
        signed_on=document.issued_on,
        valid_from=document.valid_from,
        valid_until=document.valid_until,
        status_list=document.status.list,
        status_index=document.status.index,
    )


def _compact_claims(compact: CompactLicense) -> _Claims:
    return _Claims(
        kid=compact.key_id,
        suite=compact.suite.name,
        issuer_code=compact.issuer_code,
        issuer_body=None,
        type_code=compact.type_code,
        # The compact form carries no issue date; the first day of validity stands for it.
        signed_on=compact.valid_from,
        valid_from=compact.valid_from,
        valid_until=compact.valid_until,
        status_list=compact.status_list_id,
        status_index=compact.status_index,
    )


def _compact_identifier_reason(text: str) -> str:
    """``bad_check_character`` if the compact text's ``id`` fails only its check character.

    Called after ``decode_compact`` refused field ``id``, so every outer layer decoded.
    """
    try:
        outer = canonical.decode(zlib.decompress(base45.b45decode(text[len(COMPACT_PREFIX) :])))
        identifier = canonical.decode(outer[0])["id"]
        parse_identifier(identifier)
    except InvalidIdentifier as error:
        return "bad_check_character" if error.reason == "bad_check_character" else "malformed"
    except (LedgerError, ValueError, TypeError, KeyError, IndexError, zlib.error):
        return "malformed"
    return "malformed"


def _decode(
    presented: bytes | str | LicenseDocument | CompactLicense,
) -> LicenseDocument | CompactLicense | str:
    """The decoded license, or the single reason it does not decode."""
    if isinstance(presented, LicenseDocument | CompactLicense):
        return presented
    if isinstance(presented, bytes | bytearray):
        try:
            return parse_license(bytes(presented))
        except InvalidLicense as error:
            if error.reason in {"unsupported_suite", "bad_check_character"}:
                return error.reason
            return "malformed"
    if isinstance(presented, str):
        try:
            return decode_compact(presented)
        except CompactRejected as error:
            if error.reason == "unsupported_suite":
                return "unsupported_suite"
            if error.field == "id":
                return _compact_identifier_reason(presented)
            return "malformed"
    return "malformed"


@dataclass(frozen=True)
class _StatusAnswer:
    state: LicenseStatus | None
    source: str | None
    detail: str | None
    used: ListUsed | None
    online_detail: str | None = None


def _status(
    claims: _Claims,
    cached: SignedStatusList | None,
    online_status: OnlineStatus | None,
    now: int,
    max_age: int | None,
) -> _StatusAnswer:
    unanswered = None
    if online_status is not None:
        try:
            answer = online_status(claims.status_list, claims.status_index)
        except (LicenseError, OSError) as error:
            answer, unanswered = None, str(error) or type(error).__name__
        if answer is not None:
            return _StatusAnswer(LicenseStatus(answer), "online", None, None)
        unanswered = unanswered or f"the issuer holds no entry {claims.status_index}"
    # Offline, or the node did not answer: the cached list, if it is this license's and fresh.
    held = _held_status(claims, cached, now, max_age)
    return _StatusAnswer(held.state, held.source, held.detail, held.used, unanswered)


def _held_status(
    claims: _Claims, cached: SignedStatusList | None, now: int, max_age: int | None
) -> _StatusAnswer:
    if cached is None or cached.list_id != claims.status_list:
        return _StatusAnswer(None, None, f"no status list {claims.status_list} held", None)
    used = ListUsed(cached.list_id, cached.version, cached.issued_at, cached.valid_until)
    # Past valid_until the list says nothing (license-offline.md §1.4): unknown, never valid.
    if now >= cached.valid_until:
        detail = f"status list {cached.list_id} version {cached.version} expired"
        return _StatusAnswer(None, None, detail, used)
    if max_age is not None and now - cached.issued_at > max_age:
        detail = (
            f"status list {cached.list_id} version {cached.version} is older than the "
            f"verifier's maximum age"
        )
        return _StatusAnswer(None, None, detail, used)
    try:
        state = cached.status_at(claims.status_index)
    except StatusIndexError:
        detail = f"index {claims.status_index} is past the end of status list {cached.list_id}"
        return _StatusAnswer(None, None, detail, used)
    return _StatusAnswer(state, "status_list", None, used)


def _trust_used(
    trust: TrustStore, issuer_region: str | None, own: TrustList
) -> tuple[ListUsed, ...]:
    """The trust lists a verdict used: the issuing region's (its keys) and the verifier's own
    (its recognition), each once."""
    lists = [own] if issuer_region is None else [trust.get(issuer_region), own]
    used: dict[str, ListUsed] = {}
    for held in lists:
        if held is not None:
            used[held.region] = ListUsed(
                held.region, held.version, held.issued_at, held.valid_until
            )
    return tuple(used.values())


def _holder_matches(license: LicenseDocument | CompactLicense, holder_code: str) -> bool:
    if isinstance(license, LicenseDocument):
        try:
            given = parse_holder_code(holder_code, license.holder.code_type)
        except InvalidIdentifier:
            return False
        return given.value == license.holder.code
    # The compact form holds only the masked id: first 4 and last 4 characters are compared.
    kind: HolderKind | None
    try:
        kind = get_type(license.type_code).holder_kind
    except UnknownLicenseType:
        kind = None
    try:
        given = parse_holder_code(holder_code, kind)
    except InvalidIdentifier:
        return False
    return mask_id_number(given.value) == license.holder_id


def verify_license(
    presented: bytes | str | LicenseDocument | CompactLicense,
    *,
    trust: TrustStore,
    recognition: TrustList,
    status: SignedStatusList | None,
    now: int,
    holder_code: str | None = None,
    online_status: OnlineStatus | None = None,
    max_status_age: int | None = None,
) -> Verdict:
    """Check a license for use at ``now`` (µs UTC) in the verifier's region.

    ``presented`` is a full license document (bytes), a compact ``TB1:`` text, or either
    already decoded. ``trust`` holds the trust lists of the issuing regions; ``recognition``
    is the verifier's own region's list. ``status`` is the cached status list, verified by the
    caller against the issuing node's key (``docs/license-offline.md`` §1.4);
    ``online_status`` is asked first when given. ``holder_code`` is the ID the person in front
    of the clerk presents. ``max_status_age`` (µs), when given, is the oldest cached status
    list (by ``issued_at``) the verifier accepts, below the list's own ``valid_until``; an
    older one leaves the status unknown. See :data:`VERDICT_REASONS` for what can fail.
    """
    decoded = _decode(presented)
    if isinstance(decoded, str):
        return Verdict.of({decoded})
    claims = (
        _document_claims(decoded)
        if isinstance(decoded, LicenseDocument)
        else _compact_claims(decoded)
    )
    failed: set[str] = set()

    # Authority: a key a trusted region vouches for, of the body the license names.
    issuer_region: str | None = None
    found = trust.find_license_key(claims.kid, now=now)
    if (
        found is None
        or found.entry.issuer_code != claims.issuer_code
        or found.entry.suite != claims.suite
        or (claims.issuer_body is not None and found.entry.body_id != claims.issuer_body)
    ):
        failed.add("unknown_issuer")
    else:
        issuer_region = found.region
        if not found.entry.valid_on(claims.signed_on):
            failed.add("issuer_key_not_valid")
        try:
            if isinstance(decoded, LicenseDocument):
                verify_signature(decoded, found.entry.public_key)
            else:
                decoded.verify(found.entry.public_key)
        except (InvalidLicense, CompactRejected):
            failed.add("bad_signature")

    # Status.
    answer = _status(claims, status, online_status, now, max_status_age)
    state = answer.state
    if state is None:
        failed.add("status_unavailable")
    elif state is LicenseStatus.REVOKED:
        failed.add("revoked")
    elif state is LicenseStatus.SUSPENDED:
        failed.add("suspended")

    # Time: the Beijing calendar day of ``now`` against the license's own dates.
    today = datetime.fromtimestamp(now // 1_000_000, tz=BEIJING).date()
    if claims.valid_until is not None and today > claims.valid_until:
        failed.add("expired")
    if today < claims.valid_from:
        failed.add("not_yet_valid")

    # Policy.
    if issuer_region is not None:
        try:
            accepted = trust.recognizes(recognition, claims.type_code, issuer_region, now=now)
        except TrustListRejected:
            accepted = False
        if not accepted:
            failed.add("not_recognized")
    if holder_code is not None and not _holder_matches(decoded, holder_code):
        failed.add("holder_mismatch")

    return Verdict.of(
        failed,
        status_source=answer.source,
        status_detail=answer.detail,
        status_list=answer.used,
        trust_lists=_trust_used(trust, issuer_region, recognition),
        online_detail=answer.online_detail,
    )
