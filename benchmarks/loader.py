"""Benchmark ledgers, filled through the real append path by the bulk loader.

``adapters/bulk.py`` (``tongban demo --events N``) appends signed steps with
``LedgerApplication.append_event`` from several writer threads: signature check, the real
``CaseWorkflow``, the group commit with its dense ledger index and signed receipts, and
checkpoints as the node's policy issues them. Cases run ``received``, ``form_checked``,
``accepted``, then ``suspended`` / ``resumed`` alternating, 10 events a case.

Run alone to fill a ledger (``TONGBAN_BENCH_P7_EVENTS`` events, default 15,000;
``TONGBAN_BENCH_CASE_STEPS`` steps a case, default 10; the read-model benchmark's ledgers take
9 and a published 2026 calendar, ``benchmarks/test_read_models.py``)::

    TONGBAN_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m benchmarks.loader var/bench/ledger-dir [schema]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from adapters import bulk
from adapters.bulk import BulkSummary, Officer, bulk_load
from adapters.calendar_seed import seed_year
from ledger.workflow import CaseWorkflow
from tests.support.world import World, make_world, world_applicants

CASE_STEPS = bulk.DEFAULT_CASE_STEPS
DEFAULT_P7_EVENTS = 15_000
LOAD_WRITERS = 8
AHEAD = 60_000_000  # prebuilt events claim a time 60 s ahead (the node allows 300 s)


def p7_events() -> int:
    return int(os.environ.get("TONGBAN_BENCH_P7_EVENTS", str(DEFAULT_P7_EVENTS)))


def new_world(
    data_dir: Path,
    database_url: str = "",
    schema: str | None = None,
    *,
    suite: str = "ed25519-sha256",
) -> World:
    """A Sichuan ledger (keys, bodies, officers) under the real workflow; ``suite="sm2-sm3"``:
    a guomi node, every Sichuan key SM2 (benchmark P9)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return make_world(
        data_dir,
        database_url=database_url,
        schema=schema,
        workflow=CaseWorkflow(),
        suite=suite,
    )


def officer(world: World, officer_id: str = "rs-001") -> Officer:
    found = world.officers[officer_id]
    return Officer(found.body_id, found.officer_id, found.signer)


class CaseWriter(bulk.CaseWriter):
    """The bulk loader's case writer on a test world (its RS officer unless told)."""

    def __init__(self, world: World, officer_id: str = "rs-001", *, case_steps: int = CASE_STEPS):
        super().__init__(world.app, officer(world, officer_id), case_steps=case_steps)

    def batch(self, count: int, now: Callable[[], int]) -> list[bytes]:
        """``count`` steps built ahead, claiming a time 60 s after ``now()``: later than
        every receipt the node gives while they are appended, and inside its tolerance."""
        claimed = now() + AHEAD
        return [self.next_event(claimed) for _ in range(count)]


def load(
    world: World, events: int, *, progress: bool = False, case_steps: int = CASE_STEPS
) -> BulkSummary:
    """Append ``events`` signed steps with the bulk loader (``LOAD_WRITERS`` writers),
    ``case_steps`` a case; each case opens with an applicant stored in the world's vault
    (``ledger.opening``)."""

    def report(done: int, total: int) -> None:
        if progress and (done % 50_000 == 0 or done == total):
            print(f"{done} events", file=sys.stderr)

    return bulk_load(
        world.app,
        events,
        officers=[officer(world)],
        now=lambda: world.clock.now,
        applicants=world_applicants(world),
        writers=LOAD_WRITERS,
        case_steps=case_steps,
        progress=report,
    )


def main() -> None:
    data_dir = Path(sys.argv[1])
    schema = sys.argv[2] if len(sys.argv) > 2 else None
    url = os.environ.get("TONGBAN_TEST_POSTGRES_URL", "")
    world = new_world(data_dir, url if schema else "", schema)
    steps = int(os.environ.get("TONGBAN_BENCH_CASE_STEPS", str(CASE_STEPS)))
    if steps != CASE_STEPS:  # the read-model benchmark's ledger: counted on 2026's calendar
        world.clerk.append(world.root, "calendar_published", seed_year("510000", 2026).to_body())
    done = load(world, p7_events(), progress=True, case_steps=steps)
    print(
        f"loaded {done.events} events ({done.cases} cases) in {done.seconds:.1f} s "
        f"({done.per_second:.0f}/s, {done.events / max(done.commits, 1):.1f} per commit)"
    )
    world.app.close()


if __name__ == "__main__":
    main()
