"""Signed case events for benchmarks, and a bulk loader through the real append path.

Every event goes through ``LedgerApplication.append_event``: signature check, the real
``CaseWorkflow``, the commit with its dense ledger index and signed receipt, and checkpoints
as the node's policy issues them. Cases follow the workflow: ``received``, ``form_checked``,
``accepted``, then ``suspended`` / ``resumed`` alternating, ``CASE_STEPS`` events a case.

Run alone to fill a ledger (``TONGBAN_BENCH_P7_EVENTS`` events, default 15,000)::

    TONGBAN_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m benchmarks.loader var/bench/ledger-dir [schema]
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from ledger.application import LedgerApplication
from ledger.envelope import ZERO_HASH, build_event, parse_event
from ledger.workflow import CaseWorkflow
from tests.support.world import Officer, World, make_world

CASE_STEPS = 10
DEFAULT_P7_EVENTS = 15_000
AHEAD = 60_000_000  # prebuilt events claim a time 60 s ahead (the node allows 300 s)


def p7_events() -> int:
    return int(os.environ.get("TONGBAN_BENCH_P7_EVENTS", str(DEFAULT_P7_EVENTS)))


def new_world(data_dir: Path, database_url: str = "", schema: str | None = None) -> World:
    """A Sichuan ledger (keys, bodies, officers) under the real workflow."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return make_world(data_dir, database_url=database_url, schema=schema, workflow=CaseWorkflow())


def another_app(
    world: World, data_dir: Path, database_url: str, schema: str | None
) -> LedgerApplication:
    """A second application on the same ledger (another writer), sharing the world's clock."""
    return open_ledger(
        Settings(data_dir=data_dir, database_url=database_url, region=world.region),
        clock=world.clock,
        schema=schema,
        workflow=CaseWorkflow(),
    )


class CaseWriter:
    """One officer's cases: builds the next signed step of the current case."""

    def __init__(
        self, world: World, officer: Officer | None = None, *, case_steps: int = CASE_STEPS
    ):
        self.world = world
        self.case_steps = case_steps
        self.officer = officer or world.officers["rs-001"]
        self.case_id = uuid.uuid4()
        self.seq = 0
        self.prev = ZERO_HASH

    def _body(self, seq: int) -> tuple[str, dict[str, object]]:
        if seq == 1:
            return "received", self.world.received_body("510000/1/5", "online")
        if seq == 2:
            return "form_checked", {"result": "pass", "reasons": [], "identity_verified": True}
        if seq == 3:
            return "accepted", {"note": ""}
        if seq % 2 == 0:
            return "suspended", {"reason": "hearing", "detail": "听证"}
        return "resumed", {"note": ""}

    def next_event(self, claimed_time: int) -> bytes:
        """The next step's exact bytes, claiming ``claimed_time`` (µs)."""
        if self.seq == self.case_steps:
            self.case_id, self.seq, self.prev = uuid.uuid4(), 0, ZERO_HASH
        self.seq += 1
        event_type, body = self._body(self.seq)
        raw = build_event(
            self.officer.signer,
            ledger=self.world.app.ledger_name,
            case_id=self.case_id,
            seq=self.seq,
            event_type=event_type,
            time=claimed_time,
            body_id=self.officer.body_id,
            officer_id=self.officer.officer_id,
            prev=self.prev,
            body=body,
        )
        self.prev = parse_event(raw).hash
        return raw

    def batch(self, count: int, now: Callable[[], int]) -> list[bytes]:
        """``count`` steps built ahead, claiming a time 60 s after ``now()``: later than every
        receipt the node gives while they are appended, and inside its tolerance."""
        claimed = now() + AHEAD
        return [self.next_event(claimed) for _ in range(count)]


def load(world: World, events: int, *, progress: bool = False) -> float:
    """Append ``events`` signed events through ``append_event`` (one writer); return seconds."""
    writer = CaseWriter(world)
    started = time.perf_counter()
    for n in range(events):
        world.app.append_event(writer.next_event(world.clock.now))
        if progress and n % 5000 == 4999:
            print(f"{n + 1} events, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return time.perf_counter() - started


def main() -> None:
    data_dir = Path(sys.argv[1])
    schema = sys.argv[2] if len(sys.argv) > 2 else None
    url = os.environ.get("TONGBAN_TEST_POSTGRES_URL", "")
    world = new_world(data_dir, url if schema else "", schema)
    events = p7_events()
    seconds = load(world, events, progress=True)
    print(f"loaded {events} events in {seconds:.1f} s ({events / seconds:.0f}/s)")


if __name__ == "__main__":
    main()
