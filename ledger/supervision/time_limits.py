"""The limits a case's legs are judged against: the pinned catalog item, statutory defaults
for 行政许可, and the region's service standard for window-side legs (docs/supervision.md §3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ledger.catalog import CatalogItem
from ledger.catalog_limits import (
    ADMINISTRATIVE_LICENSE,
    LEGS,
    LegTimeLimit,
    item_limits,
    statutory_limits,
)

__all__ = [
    "ADMINISTRATIVE_LICENSE",
    "LEGAL_LIMIT_NOT_SOURCED",
    "ServiceStandard",
    "limits_for",
    "statutory_limits",
]

LEGAL_LIMIT_NOT_SOURCED = "legal limit not sourced"


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
    if item is not None:
        limits.update(item_limits(item.item_type, item.time_limits, coordination))
    return limits
