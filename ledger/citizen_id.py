"""Citizen identity numbers (公民身份号码, GB 11643-1999): the one check every caller uses.

A number is valid when, in this order (the first failure is reported):

1. it is 17 ASCII digits followed by a digit or ``X`` (upper case: callers normalise);
2. its 18th character is the ISO 7064 MOD 11-2 check character of the first 17;
3. digits 7-14 are a real calendar date ``YYYYMMDD``, not before :data:`EARLIEST_BIRTH_DATE`
   (GB 11643's own example is born 1880; nobody alive or on record is born before 1800) and
   not after today in China Standard Time (UTC+8, where numbers are assigned; a baby born
   today in Beijing is valid even while UTC is still at yesterday);
4. digits 1-6 are a GB/T 2260 region code that exists in *any* year of python-stdnum's table
   (:func:`region_codes`).

Why the check character comes before date and region: a wrong check character means a
mistyped digit somewhere, and naming a date or region read from mistyped digits would send
the person to the wrong place.

Why "any year": ``stdnum.cn.ric.validate`` also demands that the county code be in force in
the *birth* year, but codes are assigned at registration, not at birth. That rule refuses
GB 11643's own example ``440524188001010014`` (潮阳县, code in use 1983-1993, born 1880) and
real Chengdu numbers such as ``510104198807235183`` (锦江区 has had 510104 since 1990). A code
that stdnum has never heard of is refused: the table goes back to 1980 and is maintained, and
a number with a region nobody ever had is a typo or a fabrication.

Details never repeat the number's digits (only the check character): they reach logs.
Pure: no I/O; ``today`` is injectable.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from typing import Final, NamedTuple

from stdnum import numdb

__all__ = [
    "CHINA_STANDARD_TIME",
    "EARLIEST_BIRTH_DATE",
    "REASONS",
    "CitizenIdProblem",
    "check_character",
    "citizen_id_problem",
    "make_citizen_id",
    "region_codes",
]

#: Every :attr:`CitizenIdProblem.reason`.
REASONS: Final = frozenset({"malformed", "bad_check_character", "bad_birth_date", "bad_region"})
EARLIEST_BIRTH_DATE: Final = date(1800, 1, 1)
CHINA_STANDARD_TIME: Final = timezone(timedelta(hours=8), "CST")

# Explicit classes, not \d: \d also matches non-ASCII digits.
_SHAPE: Final = re.compile(r"[0-9]{17}[0-9X]")
# ISO 7064 MOD 11-2: weight of digit i (from the left, 0-based) is 2^(17-i) mod 11; the check
# character is the one that makes the weighted sum (check X = 10) congruent to 1 mod 11.
_WEIGHTS: Final = tuple(2 ** (17 - i) % 11 for i in range(17))
_CHECK_CHARACTERS: Final = "10X98765432"


class CitizenIdProblem(NamedTuple):
    """Why a number is not a valid citizen ID: ``reason`` (one of :data:`REASONS`) and a
    ``detail`` for people that does not repeat the number."""

    reason: str
    detail: str


def check_character(first17: str) -> str:
    """The MOD 11-2 check character (``0``-``9`` or ``X``) of 17 ASCII digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("the check character is computed over exactly 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


@cache
def region_codes() -> frozenset[str]:
    """Every 6-digit code python-stdnum's GB/T 2260 table (``stdnum/cn/loc.dat``) has held in
    any year: a province line and one of its county lines, whatever their ``[from-to]``."""
    codes: set[str] = set()
    # numdb's tree: (length, low, high, properties, children); provinces are 2 digits with a
    # "province" property, their children 4 digits with a "county" property.
    for length, low, high, props, children in numdb.get("cn/loc").prefixes:
        if length != 2 or "province" not in props:
            continue
        for province in _span(low, high):
            for sub_length, sub_low, sub_high, sub_props, _ in children:
                if sub_length == 4 and "county" in sub_props:
                    codes.update(province + county for county in _span(sub_low, sub_high))
    return frozenset(codes)


def _span(low: str, high: str) -> list[str]:
    width = len(low)
    return [f"{n:0{width}d}" for n in range(int(low), int(high) + 1)]


def _today_in_china() -> date:
    return datetime.now(UTC).astimezone(CHINA_STANDARD_TIME).date()


def _birth_date(number: str) -> date | None:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def citizen_id_problem(number: str, *, today: date | None = None) -> CitizenIdProblem | None:
    """Why ``number`` (canonical: no spaces, upper-case ``X``) is not a valid citizen ID, or
    ``None`` when it is one. ``today`` (China Standard Time) defaults to the system clock."""
    if len(number) != 18:
        return CitizenIdProblem(
            "malformed", f"citizen ID has {len(number)} characters, expected 18 (GB 11643)"
        )
    if not _SHAPE.fullmatch(number):
        return CitizenIdProblem(
            "malformed", "citizen ID must be 17 digits followed by a digit or X (GB 11643)"
        )
    expected = check_character(number[:17])
    if number[17] != expected:
        return CitizenIdProblem(
            "bad_check_character",
            f"citizen ID check character is {number[17]}, expected {expected} (GB 11643 MOD 11-2)",
        )
    born = _birth_date(number)
    if born is None:
        return CitizenIdProblem("bad_birth_date", "citizen ID digits 7-14 are not a calendar date")
    if born < EARLIEST_BIRTH_DATE:
        return CitizenIdProblem(
            "bad_birth_date", f"citizen ID birth date is before {EARLIEST_BIRTH_DATE.isoformat()}"
        )
    latest = today if today is not None else _today_in_china()
    if born > latest:
        return CitizenIdProblem(
            "bad_birth_date",
            f"citizen ID birth date is after today ({latest.isoformat()}, China Standard Time)",
        )
    if number[:6] not in region_codes():
        return CitizenIdProblem(
            "bad_region", "citizen ID digits 1-6 are not a GB/T 2260 region code of any year"
        )
    return None


def make_citizen_id(region: str, born: date, sequence: int) -> str:
    """The valid number of a (fictitious) person: region code, birth date, a 3-digit sequence
    (odd for men, even for women) and the check character. For demos and tests."""
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    number = first17 + check_character(first17)
    problem = citizen_id_problem(number, today=max(born, EARLIEST_BIRTH_DATE))
    if problem is not None:
        raise ValueError(problem.detail)
    return number
