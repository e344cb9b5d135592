"""Errors raised by the ``licenses`` package.

One base, a flat tree; every failure that another province may have to act on carries a
machine-readable ``reason`` beside the human ``detail``::

    LicenseError
    └── InvalidIdentifier      a license identifier or holder code does not parse
                               (reason: see ``IDENTIFIER_REASONS``; part: where it broke)
    └── UnknownLicenseType     no license type is registered under that type code
    └── StatusUnanswered       the issuer gave no online status (why: its text)

Other ``licenses`` modules add their subclasses here, under ``LicenseError``.

The license service (``licenses.service``) refuses with its own tree; each carries
``reason``, ``detail`` and ``field``, and ``api/errors.py`` maps them::

    LicenseServiceError
    ├── LicenseRefused     bad input: a document or event that does not agree (422)
    ├── LicenseNotFound    no such license, list, grant or trust list (404)
    ├── LicenseForbidden   the caller may not do this (403)
    └── LicenseConflict    a status entry already held, a trust list not newer (409)

What the license store port (``licenses.ports.LicenseStore``) raises; a store translates its
driver's errors into these::

    LicenseStoreError
    ├── StatusIndexTaken       the status list entry is held by another license
    ├── DocumentConflict       another document of that kind is stored for the license
    └── DocumentErased         the license's documents were erased (their key destroyed)

    HolderSecretUnavailable    the holder-secrets port cannot give a case applicant's secret
"""

from __future__ import annotations

from typing import Final

#: Every ``InvalidIdentifier.reason``; callers (HTTP mapping, other provinces) may switch on it.
IDENTIFIER_REASONS: Final[frozenset[str]] = frozenset(
    {
        "malformed",  # not the shape of any identifier: wrong type, parts, characters
        "bad_root",  # does not start with the GB/T 36904 root 1.2.156.3005.2
        "bad_type_code",  # license type code: defining body's USCC + 3 digits
        "bad_issuer_code",  # issuing body's USCC
        "bad_serial",  # serial outside the documented alphabet or length
        "bad_version",  # version is not 3 digits
        "bad_check_character",  # ISO/IEC 7064 MOD 37,36 (or USCC/RIC) check does not match
        "bad_birth_date",  # citizen ID: digits 7-14 not a date from 1800-01-01 to today
        "bad_region",  # citizen ID: digits 1-6 not a GB/T 2260 code of any year
        "ambiguous_holder_code",  # valid both as citizen ID and as USCC; pass ``kind=``
    }
)


class LicenseError(Exception):
    """Base of every error raised by ``licenses``."""


class InvalidIdentifier(LicenseError, ValueError):
    """A license identifier or holder code is not valid.

    ``reason`` is one of ``IDENTIFIER_REASONS``; ``part`` names the component that is wrong
    (``"type_code"``, ``"issuer_code"``, ``"serial"``, ``"version"``, ``"check"``, ``"root"``,
    ``"holder_code"``) or is ``None`` when the text as a whole is unusable.
    """

    # ValueError as a second base so callers that only know "bad input" still catch it.

    def __init__(self, reason: str, detail: str, *, part: str | None = None) -> None:
        if reason not in IDENTIFIER_REASONS:
            raise ValueError(f"unknown InvalidIdentifier reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.part = part


class UnknownLicenseType(LicenseError, LookupError):
    """No license type is registered under ``code``."""

    def __init__(self, code: str) -> None:
        super().__init__(f"no license type is registered under type code {code!r}")
        self.code = code


class StatusUnanswered(LicenseError):
    """An online status question the issuer did not answer; the text says why (unreachable,
    no node URL held, a list too old), so a verdict can say what the held list stood in for."""


class LicenseServiceError(Exception):
    def __init__(self, reason: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.field = field


class LicenseRefused(LicenseServiceError):
    pass


class LicenseNotFound(LicenseServiceError):
    pass


class LicenseForbidden(LicenseServiceError):
    pass


class LicenseConflict(LicenseServiceError):
    pass


class LicenseStoreError(Exception):
    pass


class StatusIndexTaken(LicenseStoreError):
    """The status list entry is held by another license."""

    def __init__(self, list_id: str, index: int, holder: str) -> None:
        super().__init__(f"entry {index} of status list {list_id} is held by {holder}")
        self.list_id = list_id
        self.index = index
        self.holder = holder


class DocumentConflict(LicenseStoreError):
    """Another document of that kind is already stored for the license."""


class DocumentErased(LicenseStoreError):
    """The license's documents were erased (their key destroyed)."""


class HolderSecretUnavailable(Exception):
    """The case applicant's commitment secret cannot be had; ``cause`` names why (the
    adapter's error class, shown to the caller as is)."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause
