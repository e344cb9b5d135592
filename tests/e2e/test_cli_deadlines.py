"""``tongban calendar publish|show`` and ``tongban supervise cases|bodies`` as a user runs them
on a demo node (docs/supervision.md)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from api.cli import main
from api.cli_deadlines import parse_as_of


@pytest.fixture
def demo_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    data_dir = tmp_path / "demo"
    assert main(["demo", "--cases", "20", "--seed", "4", "--data-dir", str(data_dir)]) == 0
    capsys.readouterr()
    return data_dir


def _publish(demo_dir: Path, *extra: str) -> int:
    root = demo_dir / "demo-keys" / "root-510000.key"
    return main(
        [
            "calendar",
            "publish",
            "--calendar-region",
            "510000",
            "--root-key",
            str(root),
            "--data-dir",
            str(demo_dir),
            "--yes",
            *extra,
        ]
    )


def _supervise(demo_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:  # type: ignore[type-arg]
    assert main(["supervise", "cases", "--data-dir", str(demo_dir), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_supervise_the_demo_and_publish_a_local_calendar(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The demo's root published 2026 (the demo runs from 2026-01-05 for half a year).
    assert main(["calendar", "show", "--data-dir", str(demo_dir), "--json"]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert shown["year"] == 2026 and "2026-02-14" in shown["workdays"]

    before = _supervise(demo_dir, capsys, "--as-of", "2026-12-31")
    assert len(before["cases"]) == 20
    legs = [leg for case in before["cases"] for leg in case["legs"]]
    assert legs and all(
        {"name", "started", "deadline", "working_days_allowed", "working_days_paused", "status"}
        <= set(leg)
        for leg in legs
    )
    assert not any(leg["provisional"] for leg in legs)

    # A local day off in Chengdu (5101xx) on the first working day after some leg started
    # moves that leg's deadline one working day later; nothing else changes elsewhere.
    case = next(c for c in before["cases"] if c["jurisdiction"].startswith("5101"))
    leg = case["legs"][0]
    started = dt.date.fromisoformat(leg["started"])
    day = started + dt.timedelta(days=1)
    while day.weekday() >= 5 or day.isoformat() in shown["holidays"]:
        day += dt.timedelta(days=1)
    assert (
        _publish(demo_dir, "--year", "2026", "--divisions", "510100", "--holidays", day.isoformat())
        == 0
    )
    capsys.readouterr()
    after = _supervise(demo_dir, capsys, "--as-of", "2026-12-31")
    moved = next(c for c in after["cases"] if c["case_id"] == case["case_id"])["legs"][0]
    assert moved["deadline"] > leg["deadline"]

    # The new records audit clean with the cases.
    assert main(["audit", "verify", "--data-dir", str(demo_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"]

    assert main(["supervise", "bodies", "--data-dir", str(demo_dir), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows and all(0 <= (r["on_time_rate"] or 0) <= 1 for r in rows)


def test_publish_refuses_an_unannounced_year(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _publish(demo_dir, "--year", "2099") == 64
    assert "2099" in capsys.readouterr().err


def test_local_calendar_with_a_bad_date_names_the_field(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _publish(
        demo_dir, "--year", "2026", "--divisions", "513400", "--holidays", "2026-11-21"
    )  # a Saturday
    assert code == 64
    assert "--holidays" in capsys.readouterr().err


def test_local_calendar_is_published(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        _publish(demo_dir, "--year", "2026", "--divisions", "513400", "--holidays", "2026-11-20")
        == 0
    )
    capsys.readouterr()
    assert main(["calendar", "show", "--data-dir", str(demo_dir), "--json"]) == 0
    regional, local = json.loads(capsys.readouterr().out)
    assert regional["divisions"] == [] and "2026-02-16" in regional["holidays"]
    assert local["divisions"] == ["513400"] and local["holidays"] == ["2026-11-20"]


@pytest.mark.parametrize("text", ["yesterday", "2026-01-05T09:00:00", "2026-13-01"])
def test_bad_as_of_is_a_usage_error(
    demo_dir: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    assert main(["supervise", "cases", "--data-dir", str(demo_dir), "--as-of", text]) == 64
    assert "--as-of" in capsys.readouterr().err


def test_as_of_instant_is_taken_as_a_china_date() -> None:
    assert parse_as_of("2026-01-04T17:00:00Z").isoformat() == "2026-01-05"


def _amend_limits(demo_dir: Path, value: str) -> int:
    root = demo_dir / "demo-keys" / "root-510000.key"
    return main(
        [
            "catalog",
            "amend",
            "--region",
            "510000",
            "--item",
            "510000/1/5",
            "--field",
            "time_limits",
            "--value",
            value,
            "--root-key",
            str(root),
            "--data-dir",
            str(demo_dir),
            "--yes",
        ]
    )


def test_catalog_amend_sets_structured_time_limits(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    value = json.dumps([{"leg": "decision", "promised_days": 10}])
    assert _amend_limits(demo_dir, value) == 0
    out = capsys.readouterr().out
    assert "time_limits: (none) → " in out and '"promised_days": 10' in out
    assert main(["audit", "verify", "--data-dir", str(demo_dir), "--json"]) == 0


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("ten days", "JSON list"),
        (
            '[{"leg": "decision", "promised_days": 30, "legal_days": 20, "legal_basis": "x"}]',
            "exceeds",
        ),
    ],
)
def test_bad_time_limits_are_a_usage_error(
    demo_dir: Path, capsys: pytest.CaptureFixture[str], value: str, words: str
) -> None:
    assert _amend_limits(demo_dir, value) == 64
    assert words in capsys.readouterr().err


def test_service_standard_is_configurable(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    default = _supervise(demo_dir, capsys, "--as-of", "2026-03-01")
    longer = _supervise(demo_dir, capsys, "--as-of", "2026-03-01", "--service-standard", "check=4")
    checks = [
        (a["legs"][0], b["legs"][0])
        for a, b in zip(default["cases"], longer["cases"], strict=True)
        if a["legs"] and a["legs"][0]["name"] == "check"
    ]
    assert checks
    assert all((a["working_days_allowed"], b["working_days_allowed"]) == (1, 4) for a, b in checks)
    assert (
        main(["supervise", "cases", "--data-dir", str(demo_dir), "--service-standard", "lunch=2"])
        == 64
    )
    assert "--service-standard" in capsys.readouterr().err


def test_a_past_as_of_sees_the_ledger_as_it_stood(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = _supervise(demo_dir, capsys, "--as-of", "2026-12-31")
    then = _supervise(demo_dir, capsys, "--as-of", "2026-02-10")
    assert len(then["cases"]) < len(now["cases"]) == 20
    legs = [leg for case in then["cases"] for leg in case["legs"]]
    assert legs
    assert all(leg["started"] <= "2026-02-10" for leg in legs)
    assert all(leg["closed"] is None or leg["closed"] <= "2026-02-10" for leg in legs)


def test_deadline_commands_join_an_existing_supervise_group() -> None:
    import argparse

    from api.cli_deadlines import add_deadline_commands

    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    other = commands.add_parser("supervise").add_subparsers(dest="supervise_command")
    other.add_parser("ratings")
    add_deadline_commands(commands)
    assert parser.parse_args(["supervise", "ratings"]).supervise_command == "ratings"
    assert parser.parse_args(["supervise", "cases"]).supervise_command == "cases"
