"""Applicants' personal data, kept out of signed bytes.

A signed envelope never carries an applicant's name, ID number, phone or address in clear.
It carries an opaque :func:`applicant_ref` and HMAC-SHA256 :func:`commitments` under a
per-applicant secret; the plaintext lives in an encrypted vault (``adapters.vault``). Erasing
an applicant (PIPL art. 47) destroys that secret and the data key: the commitments stay in the
ledger, every signature and chain still verifies, and nobody can tie them to a person again.

Why HMAC with a per-applicant secret rather than a plain hash: an ID number has little
entropy (region code, birth date, a 3-digit sequence, a check digit: a few hundred million
candidates for a known region), so ``SHA-256(id_number)`` in a public ledger is reversed by
enumeration in minutes. Keyed with a random 32-byte secret, the commitment reveals nothing
without the secret, and once the secret is destroyed it never can.

Pure domain: no I/O, no imports of ``adapters`` or ``api``. Randomness is injected.

Errors::

    PersonalDataError (ValueError)
    ├── InvalidPersonalData      field, reason: a value was refused at the boundary
    └── CommitmentMismatch       field: a value does not match its commitment
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final

from ledger.citizen_id import check_character, citizen_id_problem

__all__ = [
    "FIELDS",
    "MIN_SECRET_BYTES",
    "CommitmentMismatch",
    "InvalidPersonalData",
    "PersonalData",
    "PersonalDataError",
    "applicant_ref",
    "commit",
    "commitments",
    "find_personal_data",
    "is_applicant_ref",
    "mask_id_number",
    "mask_name",
    "normalize_id_number",
    "normalize_phone",
    "validate_personal_data",
    "verify_commitment",
]

#: The fields of :class:`PersonalData`, in commitment order.
FIELDS: Final = ("name", "id_number", "phone", "address")
MAX_NAME_CHARS: Final = 64
MAX_ADDRESS_CHARS: Final = 256
#: Shorter secrets would make commitments over low-entropy values guessable.
MIN_SECRET_BYTES: Final = 32
APPLICANT_REF_PREFIX: Final = "ap_"
# 128 bits in unpadded RFC 4648 base32 are 26 characters; lower case as :func:`applicant_ref`
# writes them (docs/envelope.md 5.4).
_APPLICANT_REF = re.compile(re.escape(APPLICANT_REF_PREFIX) + r"[a-z2-7]{26}")


class PersonalDataError(ValueError):
    """Base of every error raised by this module."""


class InvalidPersonalData(PersonalDataError):
    """A personal-data field was refused; ``field`` names it and ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class CommitmentMismatch(PersonalDataError):
    """A value does not match the commitment recorded for ``field``."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field}: value does not match its commitment")
        self.field = field


# --- validation ----------------------------------------------------------------------------

# Mainland mobile: 11 digits, 1 then 3-9. Landline: area code 0 + 2 digits (010, 02x: the
# big cities) or 0 + 3 digits (everywhere else), then a 7- or 8-digit subscriber number that
# never starts with 0 or 1. Because the area-code length follows from its second digit, the
# normal form "0AA-NNNNNNNN" / "0AAA-NNNNNNN" is unambiguous even when typed without the dash.
# Extensions, +86 landlines, and Hong Kong/Macao/Taiwan numbers are out of scope for now.
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"(0[12]\d|0[3-9]\d{2})([2-9]\d{6,7})")
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def _reject_control_characters(field: str, value: str) -> None:
    # Category C covers control, format (zero-width joiners, bidi overrides), surrogate,
    # private-use and unassigned code points: all can make two names look alike on screen
    # yet commit differently, or break the printed/offline license.
    for position, char in enumerate(value):
        category = unicodedata.category(char)
        if category[0] == "C" or category in {"Zl", "Zp"}:
            raise InvalidPersonalData(
                field, f"control character U+{ord(char):04X} at position {position}"
            )


def _normalize_text(field: str, value: str, *, max_chars: int, required: bool) -> str:
    text = _nfc(value).strip()
    if required and not text:
        raise InvalidPersonalData(field, "must not be empty")
    if len(text) > max_chars:
        raise InvalidPersonalData(field, f"{len(text)} characters, at most {max_chars} allowed")
    _reject_control_characters(field, text)
    return text


def normalize_id_number(value: str, *, today: date | None = None) -> str:
    """An 18-character resident ID number (GB 11643-1999) in normal form, or raise.

    Surrounding whitespace is dropped and a trailing ``x`` upper-cased; the rule itself is
    :func:`ledger.citizen_id.citizen_id_problem` (shape, check character, birth date, region
    code of any year), the one every caller uses. ``today`` (China Standard Time) defaults to
    the system clock.
    """
    number = value.strip().upper()
    problem = citizen_id_problem(number, today=today)
    if problem is not None:
        raise InvalidPersonalData("id_number", problem.detail)
    return number


def normalize_phone(value: str) -> str:
    """A mainland mobile (``13812345678``) or landline (``010-12345678``) number, or ``""``.

    Spaces, dashes and parentheses are ignored on input; a ``+86``/``86`` prefix is accepted
    on mobiles only. Landlines come back as ``area-subscriber``.
    """
    field = "phone"
    compact = _PHONE_SEPARATORS.sub("", value)
    if not compact:
        return ""
    national = compact.removeprefix("+86")
    if len(national) == 13 and national.startswith("86"):
        national = national[2:]
    if _MOBILE.fullmatch(national):
        return national
    landline = _LANDLINE.fullmatch(compact)
    if landline:
        return f"{landline.group(1)}-{landline.group(2)}"
    raise InvalidPersonalData(
        field, "expected a mainland mobile (1[3-9] + 9 digits) or a landline with area code"
    )


@dataclass(frozen=True, repr=False)
class PersonalData:
    """An applicant's personal data, validated and in normal form.

    Constructing one validates and normalises every field (NFC, trimmed, ``x`` → ``X``,
    phone in normal form), so two equal applicants always produce equal commitments.
    """

    name: str
    id_number: str
    phone: str = ""
    address: str = ""

    def __post_init__(self) -> None:
        # Normalising in place keeps "a PersonalData is always valid" true for direct
        # construction too, not only for validate_personal_data().
        normal = {
            "name": _normalize_text("name", self.name, max_chars=MAX_NAME_CHARS, required=True),
            "id_number": normalize_id_number(self.id_number),
            "phone": normalize_phone(self.phone),
            "address": _normalize_text(
                "address", self.address, max_chars=MAX_ADDRESS_CHARS, required=False
            ),
        }
        for field, value in normal.items():
            object.__setattr__(self, field, value)

    @classmethod
    def restore(cls, fields: Mapping[str, str]) -> PersonalData:
        """Rebuild data that was validated when stored, without validating it again.

        For stores only: validation rules may tighten (a stricter phone rule, a region table
        update), and that must never make an applicant's stored data unreadable.
        """
        restored = object.__new__(cls)
        for field in FIELDS:
            object.__setattr__(restored, field, str(fields.get(field, "")))
        return restored

    def __repr__(self) -> str:
        # Masked so that personal data does not leak into logs and tracebacks by accident.
        return (
            f"PersonalData(name={mask_name(self.name)!r}, "
            f"id_number={mask_id_number(self.id_number)!r}, ...)"
        )

    def as_dict(self) -> dict[str, str]:
        """The fields by name, in :data:`FIELDS` order (empty ones included)."""
        return {field: getattr(self, field) for field in FIELDS}


def validate_personal_data(fields: Mapping[str, str]) -> PersonalData:
    """Build :class:`PersonalData` from untrusted input, naming the first bad field."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InvalidPersonalData(unknown[0], "unknown field")
    for field in ("name", "id_number"):
        if field not in fields:
            raise InvalidPersonalData(field, "is required")
    for field, value in fields.items():
        if not isinstance(value, str):
            raise InvalidPersonalData(field, f"expected a string, got {type(value).__name__}")
    return PersonalData(
        name=fields["name"],
        id_number=fields["id_number"],
        phone=fields.get("phone", ""),
        address=fields.get("address", ""),
    )


# --- free text --------------------------------------------------------------------------------

# What free text must not carry in clear: a resident ID number (with a valid check digit) or a
# mainland mobile number, with or without its country code (+86, 0086, 86). A heuristic, not a
# guarantee: names cannot be recognised this way (docs/threat-model.md says so).
_ID_LIKE = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9])")
_MOBILE_LIKE = re.compile(r"(?<![0-9])(?:(?:\+|00)?86)?1[3-9][0-9]{9}(?![0-9])")


def _without_format_characters(text: str) -> str:
    if text.isprintable():  # no format character is printable: the common case, in C
        return text
    return "".join(char for char in text if unicodedata.category(char) != "Cf")


def _screened_form(text: str) -> str:
    """``text`` as :func:`find_personal_data` reads it: format characters removed, then NFKC.

    Format characters (category Cf: zero-width spaces and joiners, bidi marks, the soft
    hyphen, ...) are invisible, so a reader sees the digits they split as one number; NFKC folds
    full-width and other compatibility digits (``１３９…``) to ASCII. Screening the text as
    received would let either hide a number that every reader of the text sees.
    """
    # Cf removed on both sides of NFKC: neither step can then bring one back.
    folded = unicodedata.normalize("NFKC", _without_format_characters(text))
    return _without_format_characters(folded)


def find_personal_data(text: str, *, reference: bool = False) -> str | None:
    """What personal data ``text`` carries in clear ("a resident ID number", "a phone
    number"), or None. ``text`` is read in its :func:`_screened_form`.

    ``reference``: ``text`` is a document reference (a license identifier, a document number),
    whose serials are runs of digits that often look like a mobile number (a GB/T 36904 serial
    drawn from a case id does, about once in a thousand): only a resident ID number, whose check
    digit rarely matches by chance, is looked for."""
    text = _screened_form(text)
    for found in _ID_LIKE.findall(text):
        # Only the check character, not the whole rule: a screen errs towards finding, and a
        # real number whose region or date the rule would refuse is still personal data.
        if check_character(found[:17]) == found[17].upper():
            return "a resident ID number"
    if not reference and _MOBILE_LIKE.search(text):
        return "a phone number"
    return None


# --- references and commitments -------------------------------------------------------------


def applicant_ref(rng: Callable[[int], bytes] = os.urandom) -> str:
    """A fresh opaque reference: ``ap_`` + 26 lower-case base32 characters (128 random bits).

    Random rather than derived from the data, so the reference says nothing about the person.
    """
    raw = rng(16)
    if len(raw) != 16:
        raise ValueError(f"rng returned {len(raw)} bytes, expected 16")
    return APPLICANT_REF_PREFIX + base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def is_applicant_ref(text: str) -> bool:
    """Whether ``text`` has the form of an :func:`applicant_ref` (not whether the vault has it).

    Envelopes are checked against it so that a name or an ID number cannot pose as the reference.
    """
    return _APPLICANT_REF.fullmatch(text) is not None


def commit(secret: bytes, field: str, value: str) -> bytes:
    """HMAC-SHA256(secret, field UTF-8 || 0x00 || NFC(value) UTF-8).

    The NUL separator keeps ("ab", "c") and ("a", "bc") apart and binds the value to its field;
    NFC makes composed and decomposed spellings of the same name commit alike.
    """
    if len(secret) < MIN_SECRET_BYTES:
        raise PersonalDataError(f"commitment secret has {len(secret)} bytes, need >= 32")
    if field not in FIELDS:
        raise PersonalDataError(f"unknown field {field!r}")
    message = field.encode("utf-8") + b"\x00" + _nfc(value).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).digest()


def commitments(secret: bytes, data: PersonalData) -> dict[str, bytes]:
    """Commitments to every non-empty field of ``data``, in :data:`FIELDS` order."""
    return {field: commit(secret, field, value) for field, value in data.as_dict().items() if value}


def verify_commitment(secret: bytes, field: str, value: str, commitment: bytes) -> None:
    """Raise :class:`CommitmentMismatch` unless ``value`` is what ``commitment`` commits to."""
    if not hmac.compare_digest(commit(secret, field, value), commitment):
        raise CommitmentMismatch(field)


# --- masking (for display and offline licenses) -----------------------------------------------


def mask_id_number(id_number: str) -> str:
    """Keep the first 4 and last 4 characters: ``5101**********1234``.

    Anything of 8 characters or fewer is fully masked, since 4+4 would reveal all of it.
    """
    if len(id_number) <= 8:
        return "*" * len(id_number)
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def mask_name(name: str) -> str:
    """Keep the first character (usually the surname): ``张三丰`` → ``张**``.

    A one-character name is fully masked.
    """
    name = _nfc(name)
    if len(name) <= 1:
        return "*" * len(name)
    return name[0] + "*" * (len(name) - 1)
