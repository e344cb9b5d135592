"""Settings: a configured ledger name must name the node's own region (docs/envelope.md §5.1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters.settings import Settings


def test_a_ledger_name_ending_with_another_region_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="must end with this node's region code 510000"):
        Settings(data_dir=tmp_path, region="510000", ledger_name="tongban/320000")


def test_a_ledger_name_naming_no_region_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TONGBAN_LEDGER_NAME"):
        Settings(data_dir=tmp_path, region="510000", ledger_name="sichuan-prod")


@pytest.mark.parametrize("name", ["", "tongban/510000", "tongban/test/510000"])
def test_a_ledger_name_of_the_own_region_is_kept(tmp_path: Path, name: str) -> None:
    settings = Settings(data_dir=tmp_path, region="510000", ledger_name=name)
    assert settings.resolved_ledger_name() == (name or "tongban/510000")
