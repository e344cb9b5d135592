"""Waits on other threads and Ctrl-C (``ledger/interrupts.py``): the audit's workers, the bulk
loader's writers."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ledger import interrupts
from ledger.audit.pool import _Feeding


def test_a_ctrl_c_the_kernel_gives_another_thread_still_stops_the_wait() -> None:
    """A process's SIGINT may be delivered to any of its threads. One delivered to a feeder
    thread did not wake the main thread's blocked wait: ``audit verify --jobs 2`` hung after
    Ctrl-C, 2 times in 5 on a busy machine. Here it goes to another thread on purpose."""
    feeding = _Feeding(1)
    feeder = threading.Thread(target=time.sleep, args=(2,), daemon=True)
    feeder.start()
    assert feeder.ident is not None
    interrupt = threading.Timer(0.3, signal.pthread_kill, (feeder.ident, signal.SIGINT))
    # Were the wait not to notice, it would block for ever: this ends it after 10 s, and the
    # test fails (the signal, handled only then, still raises: the flag tells them apart).
    gave_up = threading.Event()

    def end_the_wait() -> None:
        gave_up.set()
        feeding.finished()

    give_up = threading.Timer(10, end_the_wait)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        interrupt.start()
        give_up.start()
        with pytest.raises(KeyboardInterrupt):
            feeding.wait()
        assert not gave_up.is_set(), "the wait noticed Ctrl-C only when it ended"
    finally:
        give_up.cancel()
        signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_a_writer_thread_receives_stops_the_wait_for_the_writers() -> None:
    """The bulk loader's main thread waits for its writer threads (``tongban demo --events``)
    the same way: a SIGINT given to a writer must still reach it."""
    release = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        writers = [pool.submit(release.wait, 10) for _ in range(2)]
        workers = [t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor")]
        interrupt = threading.Timer(0.3, signal.pthread_kill, (workers[0].ident, signal.SIGINT))
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            interrupt.start()
            with pytest.raises(KeyboardInterrupt):
                interrupts.results(writers)
            assert not release.is_set() and not any(w.done() for w in writers)
        finally:
            signal.signal(signal.SIGINT, previous)
            release.set()
