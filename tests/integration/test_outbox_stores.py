"""The outbox's position and the platform's store, one contract on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.outbox_store import OutboxPositionStore, open_outbox_store
from adapters.platform_store import PlatformStore, open_platform_store

LEDGER = "tongban/510000"
Opener = Callable[[], tuple[OutboxPositionStore, PlatformStore]]


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[OutboxPositionStore | PlatformStore] = []
    if request.param == "sqlite":
        url, schema = "", None
    else:
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")

    def open_both() -> tuple[OutboxPositionStore, PlatformStore]:
        outbox = open_outbox_store(url, tmp_path, schema=schema)
        platform = open_platform_store(url, tmp_path, schema=schema)
        opened.extend([outbox, platform])
        return outbox, platform

    yield open_both
    for store in opened:
        store.close()


def test_the_position_starts_at_zero_and_moves_by_compare_and_set(stores: Opener) -> None:
    outbox, _ = stores()
    assert outbox.published_up_to("S") == 0
    assert outbox.advance("S", 0, 10)
    assert not outbox.advance("S", 0, 20)  # another relay moved it: refused
    assert outbox.advance("S", 10, 20)
    assert outbox.published_up_to("S") == 20
    assert outbox.published_up_to("other") == 0


def test_the_position_survives_reopening_and_rewinds(stores: Opener) -> None:
    outbox, _ = stores()
    assert outbox.advance("S", 0, 7)
    again, _ = stores()
    assert again.published_up_to("S") == 7
    assert again.rewind("S", 2) == 7
    assert outbox.published_up_to("S") == 2


def _apply(platform: PlatformStore, index: int) -> bool:
    return platform.apply(LEDGER, index, "process", "s", index, 1, b'{"index": %d}' % index)


def test_applying_an_index_twice_changes_nothing(stores: Opener) -> None:
    _, platform = stores()
    assert _apply(platform, 1)
    assert not _apply(platform, 1)
    assert platform.count(LEDGER) == 1
    assert platform.applied_up_to(LEDGER) == 1


def test_applied_up_to_waits_for_the_gap_to_close(stores: Opener) -> None:
    _, platform = stores()
    for index in (1, 2, 4, 5):
        assert _apply(platform, index)
    assert platform.applied_up_to(LEDGER) == 2
    assert _apply(platform, 3)
    assert platform.applied_up_to(LEDGER) == 5
    assert [i for i, _ in platform.messages(LEDGER)] == [1, 2, 3, 4, 5]


def test_dead_letters_are_noted_once(stores: Opener) -> None:
    _, platform = stores()
    platform.note_dead_letter(LEDGER, 9, 12, 5)
    platform.note_dead_letter(LEDGER, 9, 12, 5)
    assert platform.dead_letters(LEDGER) == [9]
    assert platform.applied_up_to(LEDGER) == 0


def test_a_dead_letter_applied_later_is_no_longer_listed(stores: Opener) -> None:
    _, platform = stores()
    for index in (1, 2, 3):
        platform.note_dead_letter(LEDGER, index, index, 5)
    assert _apply(platform, 2)
    assert platform.dead_letters(LEDGER) == [1, 3]
    assert platform.dead_letters("tongban/320000") == []
