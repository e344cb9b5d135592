"""``tongban catalog``: JSON, table, filters, unknown region."""

from __future__ import annotations

import json

import pytest

from api.cli import main
from api.cli_catalog import display_width, format_table
from ledger.catalog import load_catalog

REQUIRED_KEYS = {
    "region",
    "batch",
    "seq",
    "item_key",
    "national_name",
    "local_names",
    "lead_unit",
    "cooperating_units",
    "sector",
    "cooperating_sectors",
    "scenario",
    "handling_text",
    "deadline_text",
    "channels",
    "coordination",
    "status",
    "mode_source",
    "item_code",
    "basis",
    "item_type",
    "time_limit",
    "fee",
    "issuing_mode",
}


def test_json_prints_the_whole_region(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "--region", "510000", "--json"]) == 0
    out = capsys.readouterr().out
    items = json.loads(out)
    assert len(items) == 140
    assert all(set(item) >= REQUIRED_KEYS for item in items)
    assert "社会保障卡启用" in out  # ensure_ascii=False: the text is readable as is
    assert items == [item.to_dict() for item in load_catalog("510000").items]


def test_json_with_filters(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["catalog", "--region", "320000", "--json", "--batch", "1", "--channel", "direct"]
    assert main(argv) == 0
    items = json.loads(capsys.readouterr().out)
    assert [item["seq"] for item in items] == [1, 2, 3, 4]
    assert main(["catalog", "--region", "320000", "--json", "--unit", "民航江苏"]) == 0
    assert [item["item_key"] for item in json.loads(capsys.readouterr().out)] == ["320000/1/49"]


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "--region", "510000", "--status", "national_system"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "batch",
        "seq",
        "national",
        "name",
        "channels",
        "coordination",
        "status",
        "lead",
        "unit",
    ]
    rows = lines[1:4]
    assert rows[0].split() == [
        "1",
        "49",
        "航空安全员资格认定",
        "online",
        "single",
        "national_system",
        "民航西南地区管理局",
    ]
    assert "3 of 140 items" in lines[5]
    assert lines[6] == f"catalog version {load_catalog('510000').version}"


def test_table_columns_line_up_in_display_width() -> None:
    items = load_catalog("510000").filter(batch=3)
    lines = format_table(items).splitlines()
    status_column = display_width(lines[0].split("status")[0])
    for line in lines[1:]:
        cut = 0
        while display_width(line[:cut]) < status_column:
            cut += 1
        assert line[cut:].startswith(("pending", "active"))


def test_unknown_region_exits_64(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "--region", "999999"]) == 64
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no service catalog for region '999999'" in captured.err


def test_invalid_channel_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "--region", "510000", "--channel", "fax"]) == 64
    assert "--channel" in capsys.readouterr().err
