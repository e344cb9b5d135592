"""The group committer: who writes what, in which order, and who learns of a failure."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ledger.groupcommit import GroupCommit


class Recorder:
    """A ``write`` that records its batches; the first one waits for ``release``."""

    def __init__(self, fail_on: str | None = None):
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items: list[str]) -> None:
        if not self.batches:
            assert self.release.wait(timeout=30)
        self.batches.append(items)
        if self.fail_on in items:
            raise RuntimeError(f"batch with {self.fail_on} failed")


def test_a_lone_caller_writes_its_item_at_once() -> None:
    written: list[list[str]] = []
    commit = GroupCommit(written.append)
    commit.wait(commit.enqueue("a"))
    commit.wait(commit.enqueue("b"))
    assert written == [["a"], ["b"]]
    assert (commit.batches, commit.items) == (2, 2)


def _queue_behind_first(commit: GroupCommit[str], write: Recorder, names: str) -> list[object]:
    """Enqueue ``names[0]`` and let it lead; queue the rest while it writes; release."""
    with ThreadPoolExecutor(len(names)) as pool:
        first = pool.submit(commit.wait, commit.enqueue(names[0]))
        while not write.batches and commit.queued:  # the leader has taken its batch
            threading.Event().wait(0.001)
        tickets = [commit.enqueue(name) for name in names[1:]]
        rest = [pool.submit(commit.wait, t) for t in tickets]
        write.release.set()
        outcomes: list[object] = []
        for future in [first, *rest]:
            error = future.exception(timeout=30)
            outcomes.append(error if error is not None else "ok")
    return outcomes


def test_items_queued_during_a_write_go_together_in_the_next_in_queue_order() -> None:
    write = Recorder()
    commit = GroupCommit(write)
    assert _queue_behind_first(commit, write, "abcde") == ["ok"] * 5
    assert write.batches == [["a"], ["b", "c", "d", "e"]]


def test_a_failed_write_fails_exactly_the_callers_of_that_batch() -> None:
    write = Recorder(fail_on="c")
    commit = GroupCommit(write)
    outcomes = _queue_behind_first(commit, write, "abcd")
    assert outcomes[0] == "ok"
    assert all(isinstance(o, RuntimeError) for o in outcomes[1:])
    commit.wait(commit.enqueue("e"))  # the committer goes on
    assert write.batches[-1] == ["e"]


def test_batches_are_bounded() -> None:
    write = Recorder()
    commit = GroupCommit(write, max_batch=2)
    assert _queue_behind_first(commit, write, "abcde") == ["ok"] * 5
    assert write.batches == [["a"], ["b", "c"], ["d", "e"]]
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommit(write, max_batch=0)


def test_each_settled_batch_is_reported_with_its_size() -> None:
    written: list[list[int]] = []
    sizes: list[int] = []
    committer: GroupCommit[int] = GroupCommit(written.append, max_batch=2)
    committer.on_batch = sizes.append
    tickets = [committer.enqueue(n) for n in range(5)]
    committer.wait(tickets[-1])  # one caller leads every batch: 2, 2, 1
    assert sizes == [len(batch) for batch in written] == [2, 2, 1]
