"""How a ledger name maps to its region (docs/envelope.md §5.1, "Ledger names")."""

from __future__ import annotations

import pytest

from ledger.envelope import ledger_region


@pytest.mark.parametrize(
    ("name", "region"),
    [
        ("tongban/510000", "510000"),
        ("tongban/test/320000", "320000"),  # the last part, whatever comes before it
        ("510000", "510000"),
        ("tongban/510000/", None),  # an empty last part
        ("tongban/51000", None),  # five digits
        ("tongban/051000", None),  # GB/T 2260 codes do not start with 0
        ("tongban/５１００００", None),  # full-width digits are not ASCII digits
        ("tongban/510000-1", None),  # a status list id, not a ledger name
    ],
)
def test_a_ledger_belongs_to_the_region_its_name_ends_with(name: str, region: str | None) -> None:
    assert ledger_region(name) == region
