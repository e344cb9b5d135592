"""Structured time limits of a catalog item (办理时限), replacing the free-text ``time_limit``.

An item's ``time_limits`` lists, per leg of a case (docs/supervision.md §3), the promised
working days (承诺时限) and, where a law gives one, the legal limit with its basis and the
extension the law allows. The packaged catalogs carry none (the seeds are silent): a signed
catalog amendment sets them. ``time_limit`` (free text) stays readable in old catalogs and is
never counted with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "ADMINISTRATIVE_LICENSE",
    "APPROVERS",
    "LEGS",
    "LegTimeLimit",
    "item_limits",
    "parse_time_limits",
    "statutory_limits",
]

ADMINISTRATIVE_LICENSE = "行政许可"


#: The legs of a case, in the order a case runs through them (docs/supervision.md §3).
LEGS: tuple[str, ...] = ("check", "mail", "acceptance", "decision", "delivery")
#: Who approves an extension: the body's head (Art. 42), the government at that level (Art. 26).
APPROVERS: tuple[str, ...] = ("head_of_body", "government")
_FIELDS = frozenset(
    {"leg", "promised_days", "legal_days", "legal_basis", "extension_days", "extension_approver"}
)


@dataclass(frozen=True)
class LegTimeLimit:
    """One leg's limits. ``legal_days`` None: no legal limit sourced for this item and leg."""

    leg: str
    promised_days: int
    legal_days: int | None = None
    legal_basis: str = ""
    extension_days: int = 0  # the legal maximum extension, in working days
    extension_approver: str = ""  # APPROVERS, when extension_days > 0

    def __post_init__(self) -> None:
        if self.leg not in LEGS:
            raise ValueError(f"time_limits: leg must be one of {list(LEGS)}, got {self.leg!r}")
        for name in ("promised_days", "legal_days", "extension_days"):
            value = getattr(self, name)
            if value is None and name == "legal_days":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"time_limits.{self.leg}.{name} must be an integer >= 0")
        if self.promised_days < 1:
            raise ValueError(f"time_limits.{self.leg}.promised_days must be at least 1")
        if (self.legal_days is None) != (not self.legal_basis):
            raise ValueError(
                f"time_limits.{self.leg}: a legal limit needs its basis and a basis its limit"
            )
        if self.legal_days is not None and self.promised_days > self.legal_days:
            raise ValueError(
                f"time_limits.{self.leg}.promised_days exceeds the legal limit {self.legal_days}"
            )
        if (self.extension_days > 0) != (self.extension_approver in APPROVERS):
            raise ValueError(
                f"time_limits.{self.leg}: an extension needs an approver from {list(APPROVERS)}"
                " (and an approver an extension)"
            )
        if self.extension_days and self.legal_days is None:
            raise ValueError(f"time_limits.{self.leg}: an extension needs a legal limit")

    def to_dict(self) -> dict[str, Any]:
        return {
            "leg": self.leg,
            "promised_days": self.promised_days,
            "legal_days": self.legal_days,
            "legal_basis": self.legal_basis,
            "extension_days": self.extension_days,
            "extension_approver": self.extension_approver,
        }


def parse_time_limits(value: object) -> tuple[LegTimeLimit, ...]:
    """A catalog item's ``time_limits`` (a JSON list of leg limits), checked, ordered by leg."""
    if not isinstance(value, list | tuple):
        raise ValueError("time_limits must be a list of {leg, promised_days, ...}")
    limits: list[LegTimeLimit] = []
    for n, entry in enumerate(value):
        if isinstance(entry, LegTimeLimit):
            limits.append(entry)
            continue
        if not isinstance(entry, Mapping) or not {"leg", "promised_days"} <= set(entry) <= _FIELDS:
            raise ValueError(f"time_limits[{n}] has fields {sorted(_FIELDS)} (leg, promised_days)")
        limits.append(LegTimeLimit(**dict(entry)))
    legs = [limit.leg for limit in limits]
    if len(set(legs)) != len(legs):
        raise ValueError("time_limits names a leg twice")
    return tuple(sorted(limits, key=lambda limit: LEGS.index(limit.leg)))


_ART_32 = "《行政许可法》第三十二条"
_ART_42 = "《行政许可法》第四十二条"
_ART_26 = "《行政许可法》第二十六条、第四十二条"
_ART_44 = "《行政许可法》第四十四条"


def statutory_limits(coordination: str) -> dict[str, LegTimeLimit]:
    """行政许可法 defaults: decision 20 (+10, Art. 42) or joint 45 (+15, Art. 26), acceptance 5
    (Art. 32), delivery 10 (Art. 44) working days; promised equal to legal."""
    joint = coordination == "joint"
    return {
        "acceptance": LegTimeLimit("acceptance", 5, 5, _ART_32),
        "decision": LegTimeLimit(
            "decision",
            45 if joint else 20,
            45 if joint else 20,
            _ART_26 if joint else _ART_42,
            15 if joint else 10,
            "government" if joint else "head_of_body",
        ),
        "delivery": LegTimeLimit("delivery", 10, 10, _ART_44),
    }


def item_limits(
    item_type: str, time_limits: Sequence[LegTimeLimit], coordination: str
) -> dict[str, LegTimeLimit]:
    """The limits an item sets itself: statutory defaults for 行政许可, overridden by the
    catalog's own ``time_limits``. A catalog limit without a legal limit keeps the statute's
    when the promise is within it (a promise never loosens the law)."""
    limits = statutory_limits(coordination) if item_type == ADMINISTRATIVE_LICENSE else {}
    for limit in time_limits:
        law = limits.get(limit.leg)
        if (
            limit.legal_days is None
            and law is not None
            and law.legal_days is not None
            and limit.promised_days <= law.legal_days
        ):
            limit = replace(law, promised_days=limit.promised_days)
        limits[limit.leg] = limit
    return limits
