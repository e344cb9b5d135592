"""The one thread that bounds every PostgreSQL write (adapters.postgres_ha.Watchdog): it
cancels what outlasts its bound, never what was released, and a release waits for a cancel
already under way (the connection is reused right after)."""

from __future__ import annotations

import threading
import time

from adapters.postgres_ha import Watchdog


class Conn:
    def __init__(self, name: str) -> None:
        self.name = name


def test_cancels_what_outlasts_its_bound_and_not_what_was_released() -> None:
    cancelled: list[str] = []
    fired = threading.Event()

    def cancel(conn: Conn) -> None:
        cancelled.append(conn.name)
        fired.set()

    dog = Watchdog(cancel)
    released = dog.watch(Conn("released"), 0.05)
    dog.release(released)
    dog.watch(Conn("slow"), 0.1)
    assert fired.wait(30)
    time.sleep(0.1)  # the released watch's deadline has long passed too
    assert cancelled == ["slow"]


def test_an_earlier_deadline_wakes_the_watchdog_sleeping_for_a_later_one() -> None:
    cancelled: list[str] = []
    fired = threading.Event()

    def cancel(conn: Conn) -> None:
        cancelled.append(conn.name)
        fired.set()

    dog = Watchdog(cancel)
    late = dog.watch(Conn("late"), 3600)  # the thread now sleeps for an hour
    dog.watch(Conn("early"), 0.05)
    assert fired.wait(30)  # not an hour
    dog.release(late)
    assert cancelled == ["early"]


def test_a_release_waits_for_the_cancel_under_way() -> None:
    started, go = threading.Event(), threading.Event()
    order: list[str] = []

    def cancel(conn: Conn) -> None:
        started.set()
        go.wait(30)
        order.append("cancelled")

    dog = Watchdog(cancel)
    watch = dog.watch(Conn("c"), 0.01)
    assert started.wait(30)

    def release() -> None:
        dog.release(watch)
        order.append("released")

    releaser = threading.Thread(target=release)
    releaser.start()
    releaser.join(0.2)
    assert releaser.is_alive()  # still waiting: the cancel has not landed
    go.set()
    releaser.join(30)
    assert order == ["cancelled", "released"]


def test_a_failing_cancel_does_not_stop_the_watchdog() -> None:
    done = threading.Event()
    calls: list[str] = []

    def cancel(conn: Conn) -> None:
        calls.append(conn.name)
        if conn.name == "first":
            raise OSError("the server is gone")
        done.set()

    dog = Watchdog(cancel)
    dog.watch(Conn("first"), 0.01)
    dog.watch(Conn("second"), 0.05)
    assert done.wait(30)
    assert calls == ["first", "second"]
