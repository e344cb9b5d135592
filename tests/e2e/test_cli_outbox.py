"""``tongban outbox`` and ``tongban platform-consumer`` without a broker: status, usage, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.outbox_store import open_outbox_store
from adapters.platform_store import open_platform_store
from api.cli import main
from ledger.workflow import CaseWorkflow
from tests.support.world import World, iter_online_cases, make_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = make_world(tmp_path / "node", workflow=CaseWorkflow())
    list(iter_online_cases(world, 2))
    yield world
    world.app.close()


def _data_dir(world: World) -> str:
    assert world.settings is not None
    return str(world.settings.data_dir)


def test_status_gives_head_position_and_lag(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    head = world.app.store.max_index()
    assert main(["outbox", "status", "--data-dir", _data_dir(world), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "stream": "TONGBAN_510000", "head": head, "published_up_to": 0, "lag": head,
    }  # fmt: skip
    store = open_outbox_store("", Path(_data_dir(world)))
    store.advance("TONGBAN_510000", 0, head - 3)
    store.close()
    assert main(["outbox", "status", "--data-dir", _data_dir(world)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"stream TONGBAN_510000: ledger head {head}, published up to {head - 3}, lag 3"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["outbox", "replay", "--from", "0"], "--from: 0 must be at least 1"),
        (["outbox", "replay", "--from", "x"], "--from: 'x' is not a whole number"),
        (["outbox", "run", "--duplicate-window", "0"], "must be more than 0 seconds"),
        (["outbox", "status", "--data-dir", "/nonexistent/node"], "no node at /nonexistent/node"),
        (["platform-consumer", "run", "--region", "510000"], "required: --store-dir, --trust"),
    ],
)
def test_usage_errors_exit_64_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 64
    assert message in capsys.readouterr().err


def test_an_unreachable_broker_is_exit_1_naming_it(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["outbox", "replay", "--from", "1", "--data-dir", _data_dir(world)]
    assert main([*argv, "--nats", "nats://127.0.0.1:9"]) == 1
    assert "cannot reach NATS at nats://127.0.0.1:9" in capsys.readouterr().err


def test_a_trust_file_without_the_region_is_refused(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "platform-consumer", "run", "--store-dir", str(tmp_path / "p"), "--region", "320000",
        "--trust", str(Path(_data_dir(world)) / "trust.json"), "--nats", "nats://127.0.0.1:9",
    ]  # fmt: skip
    assert main(argv) == 64
    assert "holds no root for region 320000" in capsys.readouterr().err


def test_platform_status_of_an_empty_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["platform-consumer", "status", "--store-dir", str(tmp_path / "p"), "--region", "510000"]
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "ledger": "tongban/510000", "applied_up_to": 0, "applied": 0, "dead_letters": [],
    }  # fmt: skip


def test_an_unreachable_broker_from_the_environment_is_named_by_its_url(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TONGBAN_NATS_URL", "nats://127.0.0.1:9")
    argv = ["outbox", "replay", "--from", "1", "--data-dir", _data_dir(world)]
    assert main(argv) == 1
    assert "cannot reach NATS at nats://127.0.0.1:9 (TONGBAN_NATS_URL)" in capsys.readouterr().err


def test_platform_status_of_a_ledger_the_store_does_not_hold_names_those_it_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p").mkdir()
    store = open_platform_store("", tmp_path / "p")
    try:
        store.note_dead_letter("tongban/510000", 3, 3, 5)
    finally:
        store.close()
    argv = ["platform-consumer", "status", "--store-dir", str(tmp_path / "p"), "--json"]
    # A mistyped region used to read as "applied up to 0", a consumer that looked stalled.
    assert main([*argv, "--region", "320000"]) == 64
    assert "no message of ledger tongban/320000 was applied here (this store holds: " \
        "tongban/510000)" in capsys.readouterr().err  # fmt: skip
    assert main([*argv, "--region", "510000"]) == 0
    assert json.loads(capsys.readouterr().out)["dead_letters"] == [3]
