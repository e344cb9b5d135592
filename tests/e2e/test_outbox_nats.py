"""The outbox end to end on a private nats-server: JetStream carries exactly the ledger.

``tongban outbox run`` and ``tongban platform-consumer run`` run as processes on a node built
here; the broker is restarted, the outbox and the consumer are killed with SIGKILL, the outbox
position is set back (a crash between publishing and storing the position), and a replay runs
after the duplicate window has passed. Each time the stream must hold one message per ledger
index and nothing else, every message's receipt naming that index's stored hash, and the
platform must have applied each index once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.outbox import StreamNames
from adapters.outbox_store import open_outbox_store
from adapters.platform_store import open_platform_store
from ledger.receipts import parse_receipt
from ledger.reporting import parse_report
from ledger.workflow import CaseWorkflow
from tests.support.live import REPO
from tests.support.nats_server import NatsServer, nats_server
from tests.support.world import World, iter_online_cases, make_world

NAMES = StreamNames("510000")
LEDGER = "tongban/510000"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsServer]:
    with nats_server(tmp_path / "nats") as server:
        yield server


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = make_world(tmp_path / "node", workflow=CaseWorkflow())
    yield world
    world.app.close()


def _tongban(*args: str) -> list[str]:
    return [sys.executable, "-m", "api.cli", *args]


class Process:
    def __init__(self, command: list[str], log: Path):
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=out)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _wait_for(
    what: str, done: Callable[[], bool], procs: list[Process], limit: float = 120
) -> None:
    """Wait (not a timing assertion: the bound only keeps a broken run from hanging)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if done():
            return
        for proc in procs:
            if proc.process.poll() is not None:
                raise AssertionError(f"{proc.log.name} exited: {proc.log.read_text()[-2000:]}")
        time.sleep(0.1)
    logs = "\n".join(p.log.read_text()[-2000:] for p in procs)
    raise AssertionError(f"{what}: not reached in {limit} s\n{logs}")


def _ledger_hashes(world: World) -> dict[int, bytes]:
    return {e.index: parse_receipt(e.receipt).event_hash for e in world.app.entries_after(0, 10**6)}


async def _stream_contents(url: str) -> tuple[int, dict[int, bytes]]:
    """``(messages in the stream, index -> event hash of each message's receipt)``."""
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(NAMES.stream)
        found: dict[int, bytes] = {}
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            stored = await js.get_msg(NAMES.stream, seq)
            message = parse_report(stored.data or b"")
            assert stored.subject == NAMES.subject(message.index)
            assert message.index not in found, f"index {message.index} twice"
            found[message.index] = parse_receipt(message.receipt).event_hash
        return info.state.messages, found
    finally:
        await nc.close()


def _assert_stream_is_the_ledger(broker: NatsServer, world: World) -> None:
    count, found = asyncio.run(_stream_contents(broker.url))
    ledger = _ledger_hashes(world)
    assert count == len(ledger)
    assert found == ledger


def _published_up_to(data_dir: Path) -> int:
    store = open_outbox_store("", data_dir)
    try:
        return store.published_up_to(NAMES.stream)
    finally:
        store.close()


def _applied_up_to(store_dir: Path) -> int:
    store = open_platform_store("", store_dir)
    try:
        return store.applied_up_to(LEDGER)
    finally:
        store.close()


def _outbox(world: World, broker: NatsServer, tmp_path: Path, *extra: str) -> Process:
    data_dir = str(world.settings.data_dir) if world.settings else ""
    command = _tongban("outbox", "run", "--data-dir", data_dir, "--nats", broker.url, *extra)
    return Process(command, tmp_path / "outbox.log")


def _consumer(world: World, broker: NatsServer, tmp_path: Path, *extra: str) -> Process:
    assert world.settings is not None
    command = _tongban(
        "platform-consumer", "run", "--store-dir", str(tmp_path / "platform"), "--region",
        "510000", "--trust", str(world.settings.data_dir / "trust.json"), "--nats", broker.url,
        *extra,
    )  # fmt: skip
    return Process(command, tmp_path / "platform.log")


def test_the_stream_is_the_ledger_across_restarts_kills_and_crashes(
    world: World, broker: NatsServer, tmp_path: Path
) -> None:
    assert world.settings is not None
    data_dir = world.settings.data_dir
    platform_dir = tmp_path / "platform"
    list(iter_online_cases(world, 5))

    def head() -> int:
        return world.app.store.max_index()

    outbox, consumer = _outbox(world, broker, tmp_path), _consumer(world, broker, tmp_path)
    procs = [outbox, consumer]
    try:
        _wait_for("first publish", lambda: _published_up_to(data_dir) == head(), procs)
        _assert_stream_is_the_ledger(broker, world)

        # The broker restarts (same store) while cases keep coming.
        broker.restart()
        list(iter_online_cases(world, 5))
        _wait_for(
            "publish after broker restart", lambda: _published_up_to(data_dir) == head(), procs
        )

        # The outbox is killed, and its position set back as if it had died between the
        # server's acknowledgements and storing its position: it publishes those again.
        outbox.kill()
        list(iter_online_cases(world, 3))
        store = open_outbox_store("", data_dir)
        store.rewind(NAMES.stream, 2)
        store.close()
        outbox = _outbox(world, broker, tmp_path)
        procs[0] = outbox
        _wait_for("publish after kill -9", lambda: _published_up_to(data_dir) == head(), procs)

        # The consumer is killed mid-way and started again.
        _wait_for("consumer started applying", lambda: _applied_up_to(platform_dir) > 0, procs)
        consumer.kill()
        list(iter_online_cases(world, 3))
        consumer = _consumer(world, broker, tmp_path)
        procs[1] = consumer
        _wait_for("every index applied", lambda: _applied_up_to(platform_dir) == head(), procs)
        _wait_for("published", lambda: _published_up_to(data_dir) == head(), procs)
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0, 0]  # SIGTERM is a clean stop
    _assert_stream_is_the_ledger(broker, world)
    platform = open_platform_store("", platform_dir)
    try:
        applied = {i: parse_report(m) for i, m in platform.messages(LEDGER)}
    finally:
        platform.close()
    ledger = _ledger_hashes(world)
    assert {i: parse_receipt(m.receipt).event_hash for i, m in applied.items()} == ledger


def test_a_replay_after_the_duplicate_window_adds_nothing(
    world: World, broker: NatsServer, tmp_path: Path
) -> None:
    assert world.settings is not None
    data_dir = str(world.settings.data_dir)
    list(iter_online_cases(world, 3))
    replay = _tongban(
        "outbox", "replay", "--from", "1", "--data-dir", data_dir, "--nats", broker.url,
        "--duplicate-window", "1",
    )  # fmt: skip
    first = subprocess.run(replay, cwd=REPO, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    head = world.app.store.max_index()
    assert json.loads(first.stdout) == {
        "from": 1, "stream": NAMES.stream, "up_to": head, "newly_stored": head,
    }  # fmt: skip
    time.sleep(1.5)  # past the stream's one-second duplicate window
    again = subprocess.run(replay, cwd=REPO, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["newly_stored"] == 0
    middle = subprocess.run(
        [*replay[:6], str(head // 2), *replay[7:]], cwd=REPO, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert middle.returncode == 0, middle.stderr
    assert json.loads(middle.stdout)["newly_stored"] == 0
    _assert_stream_is_the_ledger(broker, world)
    # A replay never moves the relay's own position.
    assert _published_up_to(Path(data_dir)) == 0


def test_a_message_the_platform_refuses_becomes_a_dead_letter(
    world: World, broker: NatsServer, tmp_path: Path
) -> None:
    list(iter_online_cases(world, 1))
    head = world.app.store.max_index()
    outbox = _outbox(world, broker, tmp_path)
    consumer = _consumer(world, broker, tmp_path, "--max-deliver", "2", "--retry-delay", "0.2")
    procs = [outbox, consumer]
    try:
        _wait_for("applied", lambda: _applied_up_to(tmp_path / "platform") == head, procs)
        assert outbox.stop() == 0
        forged = asyncio.run(_forge_next(broker.url, head))
        dead = lambda: _dead_letters(tmp_path / "platform") == [head + 1]  # noqa: E731
        _wait_for("dead letter", dead, [consumer])
    finally:
        for proc in procs:
            proc.stop()
    assert asyncio.run(_dead_letter(broker.url, head + 1)) == forged
    assert _applied_up_to(tmp_path / "platform") == head


async def _forge_next(url: str, head: int) -> bytes:
    """Publish, at index head + 1, a copy of index head's message claiming the next index."""
    import dataclasses

    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        stored = await js.get_msg(NAMES.stream, subject=NAMES.subject(head))
        message = parse_report(stored.data or b"")
        forged = dataclasses.replace(message, index=head + 1).to_bytes()
        await js.publish(NAMES.subject(head + 1), forged)
        return forged
    finally:
        await nc.close()


async def _dead_letter(url: str, index: int) -> Any:
    import nats

    nc = await nats.connect(url)
    try:
        stored = await nc.jetstream().get_msg(
            NAMES.dead_letter_stream, subject=NAMES.dead_letter_subject(index)
        )
        return stored.data
    finally:
        await nc.close()


def _dead_letters(store_dir: Path) -> list[int]:
    store = open_platform_store("", store_dir)
    try:
        return store.dead_letters(LEDGER)
    finally:
        store.close()


def _outbox_processes(data_dir: Path) -> list[int]:
    """Pids of ``outbox run`` processes for ``data_dir`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"outbox" in argv and b"run" in argv and str(data_dir).encode() in argv:
            found.append(int(entry.name))
    return found


def test_serve_with_the_outbox_publishes_and_stops_it(
    world: World, broker: NatsServer, tmp_path: Path
) -> None:
    from tests.support.live import live_node

    assert world.settings is not None
    data_dir = world.settings.data_dir
    list(iter_online_cases(world, 2))
    head = world.app.store.max_index()
    world.app.close()
    env = {"TONGBAN_OUTBOX": "true", "TONGBAN_NATS_URL": broker.url}
    with live_node(data_dir, env):
        _wait_for("published by serve's outbox", lambda: _published_up_to(data_dir) == head, [])
        assert len(_outbox_processes(data_dir)) == 1
    _wait_for("outbox stopped with the server", lambda: not _outbox_processes(data_dir), [])
    count, found = asyncio.run(_stream_contents(broker.url))
    assert count == head and sorted(found) == list(range(1, head + 1))


def _cross_province_world(tmp_path: Path) -> World:
    """A Sichuan ledger holding Jiangsu's key records and a proxy case whose window is a
    Jiangsu officer's (``js-001``), then an online case."""
    from tests.support.cases import COMBOS, LedgerCase, populate

    world = make_world(tmp_path / "node", workflow=CaseWorkflow(), with_jiangsu=True)
    populate(world)
    proxy = LedgerCase(world, COMBOS[2])  # proxy-single
    for officer, step in [
        ("js-001", "received"),
        ("js-001", "form_checked:pass"),
        ("js-001", "mailed:window_to_home"),
        ("rs-001", "arrived"),
    ]:
        proxy.take(officer, step)
    list(iter_online_cases(world, 1))
    return world


def test_a_cross_province_ledger_is_applied_in_full(broker: NatsServer, tmp_path: Path) -> None:
    """A Sichuan ledger with Jiangsu's key records and steps a Jiangsu window officer signed:
    the platform, pinning both roots from the trust file, applies every index."""
    world = _cross_province_world(tmp_path)
    try:
        head = world.app.store.max_index()
        outbox, consumer = _outbox(world, broker, tmp_path), _consumer(world, broker, tmp_path)
        procs = [outbox, consumer]
        try:
            applied = lambda: _applied_up_to(tmp_path / "platform") == head  # noqa: E731
            _wait_for("every index applied", applied, procs)
        finally:
            codes = [p.stop() for p in procs]
        assert codes == [0, 0]
        assert _dead_letters(tmp_path / "platform") == []
        assert "refused" not in consumer.log.read_text()
        platform = open_platform_store("", tmp_path / "platform")
        try:
            applied_messages = {i: parse_report(m) for i, m in platform.messages(LEDGER)}
        finally:
            platform.close()
        assert sorted(applied_messages) == list(range(1, head + 1))
        stepped = [m for m in applied_messages.values() if m.kind != "key"]
        assert any(b"js-001" in m.envelope for m in stepped)
    finally:
        world.app.close()


def test_another_stream_name_for_a_region_on_the_same_broker_is_a_clear_error(
    world: World, broker: NatsServer
) -> None:
    assert world.settings is not None
    list(iter_online_cases(world, 1))
    base = ["--data-dir", str(world.settings.data_dir), "--nats", broker.url]
    first = subprocess.run(
        _tongban("outbox", "replay", "--from", "1", *base),
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    for command in (
        _tongban("outbox", "replay", "--from", "1", *base, "--stream", "OTHER"),
        _tongban("outbox", "run", *base, "--stream", "OTHER"),
    ):
        refused = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
        assert refused.returncode == 64, refused.stderr
        assert "Traceback" not in refused.stderr
        assert "--stream OTHER" in refused.stderr
        assert f"{NAMES.prefix}.* already belong to stream {NAMES.stream}" in refused.stderr


def test_sigterm_to_serve_alone_stops_its_outbox(
    world: World, broker: NatsServer, tmp_path: Path
) -> None:
    """Only serve gets the signal (not its process group, as a service manager may do)."""
    from tests.support.live import serve_command

    assert world.settings is not None
    data_dir = world.settings.data_dir
    list(iter_online_cases(world, 1))
    head = world.app.store.max_index()
    world.app.close()
    env = {**os.environ, "TONGBAN_NATS_URL": broker.url}
    log = tmp_path / "serve.log"
    with log.open("ab") as out:
        serve = subprocess.Popen(
            [*serve_command(data_dir, tmp_path / "serve.port", 1), "--outbox"],
            cwd=REPO, env=env, stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for("published by serve's outbox", lambda: _published_up_to(data_dir) == head, [])
        relays = _outbox_processes(data_dir)
        assert len(relays) == 1
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        assert serve.returncode == -signal.SIGTERM
        assert _outbox_processes(data_dir) == []
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait()
        for pid in _outbox_processes(data_dir):  # only this test's relay (its data dir)
            os.kill(pid, signal.SIGKILL)


def test_dead_letters_are_applied_again_once_the_trust_is_fixed(
    broker: NatsServer, tmp_path: Path
) -> None:
    """A platform that pinned Sichuan's root only dead-letters Jiangsu's records; with both
    roots, ``platform-consumer replay-dead`` applies them and every index is held."""
    from adapters.keyfiles import read_trusted_roots, write_trusted_roots

    world = _cross_province_world(tmp_path)
    try:
        assert world.settings is not None
        full_trust = world.settings.data_dir / "trust.json"
        sichuan_only = tmp_path / "sichuan-only.json"
        write_trusted_roots(sichuan_only, {"510000": read_trusted_roots(full_trust)["510000"]})
        head = world.app.store.max_index()
        platform_dir = tmp_path / "platform"
        outbox = _outbox(world, broker, tmp_path)
        consumer = Process(
            _tongban(
                "platform-consumer", "run", "--store-dir", str(platform_dir), "--region",
                "510000", "--trust", str(sichuan_only), "--nats", broker.url,
                "--max-deliver", "2", "--retry-delay", "0.1",
            ),
            tmp_path / "platform.log",
        )  # fmt: skip
        procs = [outbox, consumer]
        try:

            def all_settled() -> bool:
                store = open_platform_store("", platform_dir)
                try:
                    return store.count(LEDGER) + len(store.dead_letters(LEDGER)) == head
                finally:
                    store.close()

            _wait_for("each index applied or dead", all_settled, procs)
        finally:
            for proc in procs:
                proc.stop()
        dead = _dead_letters(platform_dir)
        assert dead and _applied_up_to(platform_dir) < head
        replay = _tongban(
            "platform-consumer", "replay-dead", "--store-dir", str(platform_dir), "--region",
            "510000", "--trust", str(full_trust), "--nats", broker.url,
        )  # fmt: skip
        unfixed = [*replay[:-3], str(sichuan_only), *replay[-2:]]
        still = subprocess.run(unfixed, cwd=REPO, capture_output=True, text=True, check=False)
        assert still.returncode == 1, still.stderr
        assert json.loads(still.stdout) == {"refused_again": dead}
        assert _dead_letters(platform_dir) == dead
        done = subprocess.run(replay, cwd=REPO, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"refused_again": []}
        assert _dead_letters(platform_dir) == []
        assert _applied_up_to(platform_dir) == head
    finally:
        world.app.close()


def _zombie_children(pid: int) -> list[int]:
    """Children of ``pid`` that exited and were never waited for (state Z in /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def test_serve_reaps_and_reports_a_relay_that_fails_at_start(world: World, tmp_path: Path) -> None:
    from tests.support.live import serve_command

    assert world.settings is not None
    world.app.close()
    env = {**os.environ, "TONGBAN_NATS_URL": "nats://127.0.0.1:9"}
    log = tmp_path / "serve.log"
    with log.open("ab") as out:
        serve = subprocess.Popen(
            [*serve_command(world.settings.data_dir, tmp_path / "serve.port", 1), "--outbox"],
            cwd=REPO, env=env, stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip
    try:
        reported = lambda: "is not restarted" in log.read_text()  # noqa: E731
        _wait_for("the relay's exit reported", reported, [])
        text = log.read_text()
        assert "cannot reach NATS at nats://127.0.0.1:9" in text
        assert "exited with code 1 and is not restarted" in text
        assert serve.poll() is None  # the node goes on serving
        assert _zombie_children(serve.pid) == []
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=60)
