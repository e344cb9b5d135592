"""Organizations in the key registry: a body's GB/T 2260 division, level, sector and roles.

``body_registered`` carries a body's organization data (``org``, docs/keys.md §3), checked by
:func:`check_org`; the workflow's entitlement reads it as a :class:`BodyView`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import MalformedEncoding

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


@dataclass(frozen=True)
class BodyInfo:
    """A registered body (department, hall, window) and its organization data."""

    body_id: str
    name: str
    region: str
    org: dict[str, Any] = field(default_factory=dict)
    current_kid: str = ""
