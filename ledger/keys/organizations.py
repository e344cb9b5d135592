"""Organizations in the key registry: a body's GB/T 2260 division, level, sector and roles.

``body_registered`` carries a body's organization data (``org``, docs/keys.md §3), checked by
:func:`check_org`; the workflow's entitlement reads it as a :class:`BodyView`. ``hall_published``
sets where and when a body receives applicants (:class:`HallInfo`), for the public pages.
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


#: A ``hall_published`` body's text fields (docs/keys.md §3) and the longest each may be, in
#: characters: where the body receives applicants (§二(七) of the work plan).
HALL_FIELDS: dict[str, int] = {
    "address": 200,  # 地址
    "hours": 200,  # 办公时间
    "phone": 64,  # 咨询电话
    "appointment": 500,  # 预约方式
    "notice": 4000,  # 办事须知
}


@dataclass(frozen=True)
class HallInfo:
    """A body's hall information as its newest ``hall_published`` record gives it; an empty
    field was not published (shown 未公布, never guessed)."""

    body_id: str
    address: str
    hours: str
    phone: str
    appointment: str
    notice: str
    published_at: int  # the record's receipt time


def hall_of(body: dict[str, Any], body_id: str, published_at: int) -> HallInfo:
    """The hall information of a ``hall_published`` body: every field of :data:`HALL_FIELDS`
    present, text, at most its length (``malformed`` naming the field otherwise)."""
    values: dict[str, str] = {}
    for name, longest in HALL_FIELDS.items():
        if name not in body:
            raise MalformedEncoding(f"hall_published needs body.{name}", field=f"body.{name}")
        value = body[name]
        if not isinstance(value, str):
            raise MalformedEncoding(f"body.{name} must be text", field=f"body.{name}")
        if len(value) > longest:
            raise MalformedEncoding(
                f"body.{name} is {len(value)} characters; at most {longest}", field=f"body.{name}"
            )
        values[name] = value
    return HallInfo(body_id=body_id, published_at=published_at, **values)
