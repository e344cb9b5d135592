"""Use grants (授权用证): the holder's permission for another region to read a license.

Normative text: ``docs/license.md`` §12. A grant is a Tongban signed object (``envelope.md``
§2) with context ``tongban/license-grant/v1``, signed by the **node key of the issuing
ledger** once the issuing body has confirmed the holder's consent (the holder shows their ID
at the issuing body's window or app: the node refuses a grant whose holder code is not the
license's). It names one license, one audience (a region, optionally one body of it), the parts
of the license it opens (``scope``), why (``purpose``), until when (``expires_at``) and how many
lookups (``uses``). The peer presents the grant's bytes with each lookup; the issuing node
counts the uses. A grant carries no personal data: the holder code is checked, never signed.

Errors (subclasses of ``licenses.errors.LicenseError``)::

    LicenseError
    └── GrantRejected    reason in GRANT_REASONS, field
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from ledger.envelope import SignedObject, SignedView, open_signed, require, seal
from ledger.errors import LedgerError
from ledger.suites import Signer, key_id
from licenses.errors import InvalidIdentifier, LicenseError
from licenses.identifiers import parse_identifier

__all__ = [
    "GRANT_CONTEXT",
    "GRANT_REASONS",
    "GRANT_SCOPES",
    "MAX_USES",
    "Grant",
    "GrantRejected",
    "build_grant",
    "parse_grant",
]

GRANT_CONTEXT: Final = "tongban/license-grant/v1"
#: What a grant may open, beyond the status everyone sees: GB/T 36903 metadata (name, number,
#: holder, issuer, dates, jurisdiction), the face fields, the full signed document.
GRANT_SCOPES: Final = ("metadata", "face", "document")
MAX_USES: Final = 1000
MAX_PURPOSE_CHARS: Final = 200

GRANT_REASONS: Final[frozenset[str]] = frozenset(
    {
        "malformed",  # not a grant of the documented shape
        "unsupported_version",
        "unsupported_suite",
        "wrong_context",
        "wrong_key",  # not signed by the issuing node's key
        "bad_signature",
        "wrong_license",  # the grant names another license
        "wrong_audience",  # the reader is not the grant's audience
        "grant_expired",  # now >= expires_at
        "grant_used_up",  # every use was made
        "grant_withdrawn",  # the holder withdrew it at the issuing body
        "unknown_grant",  # this node never issued it
    }
)

_FIELDS: Final = frozenset(
    {"v", "suite", "ctx", "kid", "id", "license", "ledger", "audience", "scope", "purpose"}
    | {"issued_at", "expires_at", "uses"}
)
_GRANT_ID: Final = re.compile(r"[0-9a-f]{32}")
_REGION: Final = re.compile(r"[1-9][0-9]{5}")
_BODY: Final = re.compile(r"(|[A-Za-z0-9][A-Za-z0-9._:-]{0,63})")
_LEDGER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")


class GrantRejected(LicenseError):
    """A grant is refused; ``reason`` is one of :data:`GRANT_REASONS`."""

    def __init__(self, reason: str, detail: str, *, field: str | None = None) -> None:
        if reason not in GRANT_REASONS:
            raise ValueError(f"unknown GrantRejected reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.field = field


@dataclass(frozen=True)
class Grant(SignedView):
    """A decoded, well-formed grant; :meth:`verify` checks its signature."""

    signed: SignedObject
    grant_id: str
    license: str
    ledger: str
    audience_region: str
    audience_body: str  # "": any reader of the audience region
    scope: tuple[str, ...]
    purpose: str
    issued_at: int
    expires_at: int
    uses: int

    def verify(self, node_public_key: bytes) -> None:
        """Raise ``GrantRejected`` unless the node key ``node_public_key`` signed this grant."""
        if key_id(self.signed.suite.name, node_public_key) != self.key_id:
            raise GrantRejected("wrong_key", f"kid {self.key_id} is not the node key", field="kid")
        try:
            self.signed.verify(node_public_key)
        except LedgerError as error:
            raise GrantRejected("bad_signature", error.detail, field="signature") from None

    def admits(self, identifier: str, region: str, body: str | None, now: int) -> None:
        """Raise ``GrantRejected`` unless this grant lets ``region``/``body`` read ``identifier``
        at ``now`` (µs UTC). Use counting is the issuing node's (it holds the count)."""
        if identifier != self.license:
            raise GrantRejected(
                "wrong_license", f"the grant is for {self.license}", field="license"
            )
        if region != self.audience_region or (self.audience_body and body != self.audience_body):
            who = self.audience_region + (f"/{self.audience_body}" if self.audience_body else "")
            raise GrantRejected("wrong_audience", f"the grant is for {who}", field="audience")
        if now >= self.expires_at:
            raise GrantRejected("grant_expired", "the grant has expired", field="expires_at")


def _scope(values: Iterable[str]) -> list[str]:
    scope = sorted(set(values), key=GRANT_SCOPES.index) if set(values) <= set(GRANT_SCOPES) else []
    if not scope:
        raise GrantRejected(
            "malformed", f"scope is a non-empty subset of {list(GRANT_SCOPES)}", field="scope"
        )
    return scope


def build_grant(
    node_signer: Signer,
    *,
    grant_id: str,
    license: str,
    ledger: str,
    audience_region: str,
    audience_body: str,
    scope: Iterable[str],
    purpose: str,
    issued_at: int,
    expires_at: int,
    uses: int,
) -> bytes:
    """Sign a grant with the issuing node's key: its exact bytes (checked as a reader would)."""
    raw = seal(
        {
            "ctx": GRANT_CONTEXT,
            "id": grant_id,
            "license": license,
            "ledger": ledger,
            "audience": {"region": audience_region, "body": audience_body},
            "scope": _scope(scope),
            "purpose": purpose,
            "issued_at": issued_at,
            "expires_at": expires_at,
            "uses": uses,
        },
        node_signer,
    )
    parse_grant(raw)
    return raw


def _malformed(detail: str, field: str) -> GrantRejected:
    return GrantRejected("malformed", detail, field=field)


def parse_grant(raw: bytes) -> Grant:
    """Decode a grant and check its shape (not its signature, expiry or use count)."""
    try:
        signed = open_signed(raw, context=GRANT_CONTEXT)
        content = signed.content
        unknown, missing = sorted(set(content) - _FIELDS), sorted(_FIELDS - set(content))
        if unknown or missing:
            name = (unknown or missing)[0]
            raise _malformed(f"unknown fields {unknown}, missing {missing}", name)
        grant_id = require(content, "id", str)
        license = require(content, "license", str)
        ledger = require(content, "ledger", str)
        audience = require(content, "audience", dict)
        scope = require(content, "scope", list)
        purpose = require(content, "purpose", str)
        issued_at = require(content, "issued_at", int)
        expires_at = require(content, "expires_at", int)
        uses = require(content, "uses", int)
    except LedgerError as error:
        reason = error.reason if error.reason in GRANT_REASONS else "malformed"
        raise GrantRejected(reason, error.detail, field=error.field) from None
    if not _GRANT_ID.fullmatch(grant_id):
        raise _malformed("id is 32 lowercase hex characters", "id")
    try:
        parse_identifier(license)
    except InvalidIdentifier as error:
        raise _malformed(f"license: {error.detail}", "license") from None
    if not _LEDGER.fullmatch(ledger):
        raise _malformed("ledger is a ledger name", "ledger")
    if set(audience) != {"region", "body"}:
        raise _malformed("audience is exactly {region, body}", "audience")
    region, body = audience["region"], audience["body"]
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise _malformed("audience.region is a 6-digit region code", "audience.region")
    if not isinstance(body, str) or not _BODY.fullmatch(body):
        raise _malformed("audience.body is a body id or empty", "audience.body")
    if not all(isinstance(item, str) for item in scope) or _scope(scope) != scope:
        raise _malformed(f"scope is a sorted subset of {list(GRANT_SCOPES)}", "scope")
    if not 1 <= len(purpose) <= MAX_PURPOSE_CHARS:
        raise _malformed(f"purpose is 1 to {MAX_PURPOSE_CHARS} characters", "purpose")
    if not 0 <= issued_at < expires_at:
        raise _malformed("0 <= issued_at < expires_at", "expires_at")
    if not 1 <= uses <= MAX_USES:
        raise _malformed(f"uses is 1 to {MAX_USES}", "uses")
    return Grant(
        signed,
        grant_id,
        license,
        ledger,
        region,
        body,
        tuple(scope),
        purpose,
        issued_at,
        expires_at,
        uses,
    )
