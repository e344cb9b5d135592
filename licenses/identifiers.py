"""Standard identifiers of electronic licenses (电子证照) and of their holders.

License identifier (电子证照标识, GB/T 36904-2018)::

    1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>

- ``1.2.156.3005.2`` — the root (根代码) of electronic licenses.
- type code (证照类型代码, 21 characters) — the unified social credit code (USCC, GB 32100) of
  the body that defines the license type, then a 3-digit type number, e.g.
  ``11100000MB0143028R001`` (营业执照, defined by 国家市场监督管理总局).
- issuer code (发证机构代码, 18 characters) — the USCC of the issuing body.
- serial (流水号) — **Tongban's rule**: 1 to 32 characters of ``[0-9A-Z]``. The standard leaves
  the serial to the issuer; published identifiers use 10, 11, 20 and 32 such characters (a
  hyphen-less upper-case UUID is 32), so this alphabet and bound accept them all.
- version (版本号) — 3 digits, ``000``-``999`` (issuers start at ``001``).
- check (校验位) — one character of ``[0-9A-Z]``: ISO/IEC 7064 MOD 37,36 (GB/T 17710) over the
  type code, issuer code, serial and version with the dots removed.

Parsing is strict: the canonical upper-case text only, no surrounding space. An identifier is
machine-made and signed, so accepting variants would give one license two spellings.

Holder codes (持证主体代码) are typed by people, so ``parse_holder_code`` is lenient on input
(NFKC, so full-width digits work; spaces and hyphens dropped; upper-cased) and strict on content:

- ``ric``  — citizen identity number (公民身份号码, GB 11643): the rule of
  ``ledger.citizen_id`` (the one every part of Tongban uses): 17 digits and a MOD 11-2 check
  character, a real birth date (1800-01-01 to today), and a region code that exists in any
  year of python-stdnum's GB/T 2260 table (not necessarily in force in the birth year: that
  would refuse GB 11643-1999's own example 440524188001010014).
- ``uscc`` — unified social credit code (GB 32100), check character verified.

Every failure raises ``InvalidIdentifier`` with a ``reason`` from ``errors.IDENTIFIER_REASONS``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from stdnum.cn import uscc
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_37_36

from ledger.citizen_id import citizen_id_problem
from licenses.errors import InvalidIdentifier

__all__ = [
    "ALPHABET",
    "ROOT",
    "SERIAL_MAX_LENGTH",
    "HolderCode",
    "HolderKind",
    "LicenseIdentifier",
    "check_character",
    "make_identifier",
    "parse_holder_code",
    "parse_identifier",
    "validate_type_code",
]

ROOT: Final = "1.2.156.3005.2"
#: The MOD 37,36 alphabet; also the alphabet of serials and check characters.
ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SERIAL_MAX_LENGTH: Final = 32

_ROOT_PREFIX: Final = ROOT + "."
_USCC_LENGTH: Final = 18
_TYPE_CODE_LENGTH: Final = _USCC_LENGTH + 3
# Explicit classes, not \d: \d also matches non-ASCII digits.
_USCC_SHAPE: Final = re.compile(r"[0-9]{8}[0-9ABCDEFGHJKLMNPQRTUWXY]{10}")
_SERIAL_SHAPE: Final = re.compile(rf"[0-9A-Z]{{1,{SERIAL_MAX_LENGTH}}}")
_VERSION_SHAPE: Final = re.compile(r"[0-9]{3}")
_CHECK_SHAPE: Final = re.compile(r"[0-9A-Z]")


def _uscc_problem(code: object, what: str) -> str | None:
    """Why ``code`` is not a canonical, valid USCC, or ``None`` if it is one."""
    if not isinstance(code, str):
        return f"{what} must be a string, got {type(code).__name__}"
    if code in _VALID_USCCS:
        return None
    problem = _new_uscc_problem(code, what)
    if problem is None:
        # Issuing and type-defining bodies recur on every license: check each code once.
        if len(_VALID_USCCS) >= _MAX_VALID_USCCS:
            _VALID_USCCS.clear()
        _VALID_USCCS.add(code)
    return problem


_VALID_USCCS: set[str] = set()
_MAX_VALID_USCCS: Final = 4096


def _new_uscc_problem(code: str, what: str) -> str | None:
    if len(code) != _USCC_LENGTH:
        return f"{what} {code!r} must be {_USCC_LENGTH} characters, has {len(code)}"
    if not _USCC_SHAPE.fullmatch(code):
        return (
            f"{what} {code!r} must be 8 digits then 10 of [0-9A-Z] without I, O, S, V, Z "
            "(GB 32100, upper case)"
        )
    try:
        uscc.validate(code)
    except ValidationError:
        return (
            f"{what} {code!r} has check character {code[-1]!r}, "
            f"expected {uscc.calc_check_digit(code)!r} (GB 32100)"
        )
    return None


def _validate_type_code(type_code: object) -> None:
    if not isinstance(type_code, str) or len(type_code) != _TYPE_CODE_LENGTH:
        shown = repr(type_code) if isinstance(type_code, str) else type(type_code).__name__
        raise InvalidIdentifier(
            "bad_type_code",
            f"type code {shown} must be {_TYPE_CODE_LENGTH} characters: "
            "the defining body's 18-character USCC and a 3-digit type number",
            part="type_code",
        )
    problem = _uscc_problem(type_code[:_USCC_LENGTH], "defining body code in the type code")
    if problem:
        raise InvalidIdentifier("bad_type_code", problem, part="type_code")
    if not _VERSION_SHAPE.fullmatch(type_code[_USCC_LENGTH:]):
        raise InvalidIdentifier(
            "bad_type_code",
            f"type number {type_code[_USCC_LENGTH:]!r} in type code {type_code!r} must be 3 digits",
            part="type_code",
        )


def _validate_parts(
    type_code: object, issuer_code: object, serial: object, version: object
) -> None:
    """Raise ``InvalidIdentifier`` for the first part (left to right) that is wrong."""
    # Parts before the check character: a single typo inside a USCC is named where it is.
    _validate_type_code(type_code)
    problem = _uscc_problem(issuer_code, "issuer code")
    if problem:
        raise InvalidIdentifier("bad_issuer_code", problem, part="issuer_code")
    if not isinstance(serial, str) or not _SERIAL_SHAPE.fullmatch(serial):
        raise InvalidIdentifier(
            "bad_serial",
            f"serial {serial!r} must be 1 to {SERIAL_MAX_LENGTH} characters of [0-9A-Z]",
            part="serial",
        )
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= 999:
        raise InvalidIdentifier(
            "bad_version", f"version {version!r} must be an integer 0-999", part="version"
        )


def validate_type_code(code: str) -> str:
    """Return ``code`` if it is a valid 21-character type code, else raise ``bad_type_code``."""
    _validate_type_code(code)
    return code


def check_character(type_code: str, issuer_code: str, serial: str, version: int) -> str:
    """The MOD 37,36 check character over the body (parts concatenated, dots removed).

    Does not validate the parts; ``LicenseIdentifier`` does.
    """
    return mod_37_36.calc_check_digit(f"{type_code}{issuer_code}{serial}{version:03d}")


@dataclass(frozen=True, slots=True)
class LicenseIdentifier:
    """A valid GB/T 36904 electronic license identifier; construction validates every part."""

    type_code: str
    issuer_code: str
    serial: str
    version: int = 1

    def __post_init__(self) -> None:
        _validate_parts(self.type_code, self.issuer_code, self.serial, self.version)

    @property
    def defining_body_code(self) -> str:
        """USCC of the body that defines the license type (first 18 of the type code)."""
        return self.type_code[:_USCC_LENGTH]

    @property
    def type_number(self) -> str:
        """The 3-digit number of the type within its defining body."""
        return self.type_code[_USCC_LENGTH:]

    @property
    def check(self) -> str:
        """The check character."""
        return check_character(self.type_code, self.issuer_code, self.serial, self.version)

    @property
    def text(self) -> str:
        """The full identifier, root and check character included."""
        return (
            f"{_ROOT_PREFIX}{self.type_code}.{self.issuer_code}.{self.serial}."
            f"{self.version:03d}.{self.check}"
        )

    def __str__(self) -> str:
        return self.text


def make_identifier(
    type_code: str, issuer_code: str, serial: str, version: int = 1
) -> LicenseIdentifier:
    """Build an identifier from its parts; raises ``InvalidIdentifier`` naming the bad part."""
    return LicenseIdentifier(type_code, issuer_code, serial, version)


def parse_identifier(text: str) -> LicenseIdentifier:
    """Parse the canonical text of an identifier.

    Parts are checked left to right (type code, issuer code, serial, version), then the check
    character, so the error names the first part that is wrong; ``bad_check_character`` says
    which character was expected and which was found.
    """
    if not isinstance(text, str):
        raise InvalidIdentifier(
            "malformed", f"identifier must be a string, got {type(text).__name__}"
        )
    if not text.startswith(_ROOT_PREFIX):
        raise InvalidIdentifier(
            "bad_root",
            f"identifier {text[:40]!r} must start with the root {_ROOT_PREFIX!r} (GB/T 36904)",
            part="root",
        )
    parts = text[len(_ROOT_PREFIX) :].split(".")
    if len(parts) != 5:
        raise InvalidIdentifier(
            "malformed",
            "after the root an identifier has 5 dot-separated parts "
            f"(type code, issuer code, serial, version, check), found {len(parts)}",
        )
    type_code, issuer_code, serial, version, found = parts
    _validate_parts(type_code, issuer_code, serial, 0)  # version is still text; checked next
    if not _VERSION_SHAPE.fullmatch(version):
        raise InvalidIdentifier(
            "bad_version", f"version {version!r} must be 3 digits", part="version"
        )
    if not _CHECK_SHAPE.fullmatch(found):
        raise InvalidIdentifier(
            "malformed",
            f"check {found!r} must be one character of [0-9A-Z]",
            part="check",
        )
    identifier = LicenseIdentifier(type_code, issuer_code, serial, int(version))
    expected = identifier.check
    if found != expected:
        raise InvalidIdentifier(
            "bad_check_character",
            f"check character is {found!r}, expected {expected!r} "
            "(ISO/IEC 7064 MOD 37,36 over type code, issuer code, serial and version)",
            part="check",
        )
    return identifier


class HolderKind(StrEnum):
    """What kind of code identifies a license holder."""

    RIC = "ric"  # 公民身份号码, GB 11643
    USCC = "uscc"  # 统一社会信用代码, GB 32100


def _ric_problem(code: str) -> tuple[str, str] | None:
    """``(reason, detail)`` if ``code`` is not a valid citizen ID, else ``None``.

    Details never repeat the number: it is personal data and ends up in logs.
    """
    return citizen_id_problem(code)


def _uscc_holder_problem(code: str) -> tuple[str, str] | None:
    if not _USCC_SHAPE.fullmatch(code):
        return (
            "malformed",
            "USCC must be 8 digits then 10 of [0-9A-Z] without I, O, S, V, Z (GB 32100)",
        )
    expected = uscc.calc_check_digit(code)
    if code[-1] != expected:
        return (
            "bad_check_character",
            f"USCC check character is {code[-1]!r}, expected {expected!r} (GB 32100)",
        )
    return None


_PROBLEM_OF = {HolderKind.RIC: _ric_problem, HolderKind.USCC: _uscc_holder_problem}


@dataclass(frozen=True, slots=True)
class HolderCode:
    """A valid holder code in canonical form; construction validates it."""

    kind: HolderKind
    value: str

    def __post_init__(self) -> None:
        kind = HolderKind(self.kind)  # raises ValueError for an unknown kind
        object.__setattr__(self, "kind", kind)
        if not isinstance(self.value, str):
            raise InvalidIdentifier("malformed", "holder code must be a string", part="holder_code")
        problem = _PROBLEM_OF[kind](self.value)
        if problem:
            raise InvalidIdentifier(problem[0], problem[1], part="holder_code")

    @property
    def masked(self) -> str:
        """For logs and receipts: a citizen ID shows only its first 6 and last 4 characters."""
        if self.kind is HolderKind.RIC:
            return f"{self.value[:6]}{'*' * 8}{self.value[-4:]}"
        return self.value

    def __repr__(self) -> str:
        # Personal data stays out of tracebacks and debug logs; use .value explicitly.
        return f"HolderCode(kind={self.kind.value!r}, value={self.masked!r})"

    def __str__(self) -> str:
        return self.value


def _normalize(text: str) -> str:
    # NFKC folds full-width digits and letters (common in Chinese input) into ASCII.
    folded = unicodedata.normalize("NFKC", text)
    return "".join(c for c in folded if not c.isspace() and c != "-").upper()


def parse_holder_code(text: str, kind: HolderKind | str | None = None) -> HolderCode:
    """Parse a holder code typed by a person.

    With ``kind`` the text must be that kind. Without it, the kind is detected: the text must
    be valid as exactly one of citizen ID and USCC (an 18-digit string may be shaped as both);
    if it is valid as both, ``ambiguous_holder_code`` asks the caller to say which.
    """
    if not isinstance(text, str):
        raise InvalidIdentifier(
            "malformed",
            f"holder code must be a string, got {type(text).__name__}",
            part="holder_code",
        )
    code = _normalize(text)
    if kind is not None:
        try:
            wanted = HolderKind(kind)
        except ValueError:
            raise ValueError(f"kind must be one of {[k.value for k in HolderKind]}") from None
        return HolderCode(wanted, code)
    if len(code) != _USCC_LENGTH:
        raise InvalidIdentifier(
            "malformed",
            f"holder code must be 18 characters (citizen ID or USCC), has {len(code)}",
            part="holder_code",
        )
    problems = {k: _PROBLEM_OF[k](code) for k in HolderKind}
    valid = [k for k, problem in problems.items() if problem is None]
    if len(valid) == 2:
        raise InvalidIdentifier(
            "ambiguous_holder_code",
            "holder code is valid both as a citizen ID and as a USCC; pass kind='ric' or 'uscc'",
            part="holder_code",
        )
    if valid:
        return HolderCode(valid[0], code)
    ric_problem = _ric_problem(code) or ("", "")
    uscc_problem = _uscc_holder_problem(code) or ("", "")
    # Report the kind whose shape fits; if both or neither fit, report both.
    if ric_problem[0] == "malformed" and uscc_problem[0] != "malformed":
        reason, detail = uscc_problem
    elif uscc_problem[0] == "malformed" and ric_problem[0] != "malformed":
        reason, detail = ric_problem
    else:
        reason = ric_problem[0] if ric_problem[0] == uscc_problem[0] else "malformed"
        detail = f"neither a citizen ID ({ric_problem[1]}) nor a USCC ({uscc_problem[1]})"
    raise InvalidIdentifier(reason, detail, part="holder_code")
