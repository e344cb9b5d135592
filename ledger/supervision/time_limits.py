"""The limits a case's legs are judged against: the pinned catalog item, statutory defaults
for 行政许可, and the region's service standard for window-side legs (docs/supervision.md §3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ledger.catalog import CatalogItem
from ledger.catalog_limits import LEGS, LegTimeLimit

__all__ = [
    "ADMINISTRATIVE_LICENSE",
    "LEGAL_LIMIT_NOT_SOURCED",
    "ServiceStandard",
    "limits_for",
    "statutory_limits",
]

ADMINISTRATIVE_LICENSE = "行政许可"
LEGAL_LIMIT_NOT_SOURCED = "legal limit not sourced"

_ART_32 = "《行政许可法》第三十二条"
_ART_42 = "《行政许可法》第四十二条"
_ART_26 = "《行政许可法》第二十六条、第四十二条"
_ART_44 = "《行政许可法》第四十四条"


@dataclass(frozen=True)
class ServiceStandard:
    """A region's promised working days where the catalog sets none (configurable).

    ``check`` (形式审查 at the window), ``mail`` (window to home body), ``acceptance`` (受理,
    also Art. 32's legal five days), ``decision`` (items other than 行政许可 without a
    catalog limit) and ``delivery`` (items other than 行政许可).
    """

    days: Mapping[str, int] = field(
        default_factory=lambda: {
            "check": 1,
            "mail": 3,
            "acceptance": 5,
            "decision": 15,
            "delivery": 5,
        }
    )

    def __post_init__(self) -> None:
        if set(self.days) != set(LEGS) or any(
            not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in self.days.values()
        ):
            raise ValueError(f"a service standard gives every leg {list(LEGS)} a count >= 1")


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


def limits_for(
    item: CatalogItem | None, coordination: str, standard: ServiceStandard
) -> dict[str, LegTimeLimit]:
    """Every leg's limit for a case of ``item`` (as its pinned catalog version has it).

    Order of precedence: the item's own ``time_limits`` (a signed catalog amendment), then for
    ``item_type`` 行政许可 the statutory defaults, then the service standard (no legal limit:
    ``legal_basis`` reads "legal limit not sourced"). A promised limit longer than the law's is
    refused when the catalog is amended, so the law here only ever tightens.
    """
    limits = {leg: LegTimeLimit(leg, standard.days[leg]) for leg in LEGS}
    if item is not None and item.item_type == ADMINISTRATIVE_LICENSE:
        limits.update(statutory_limits(coordination))
    if item is not None:
        limits.update({limit.leg: limit for limit in item.time_limits})
    return limits
