"""A small test world: one region's ledger with a root, a node key, bodies and officers.

Deterministic keys (seeded) and an injectable clock, so tests can move time and sign as any
officer. Used by unit, integration and e2e tests alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.bootstrap import open_ledger
from adapters.keyfiles import write_trusted_roots
from adapters.settings import Settings
from ledger.admin import RegistryClerk
from ledger.application import Appended, LedgerApplication
from ledger.envelope import ZERO_HASH, build_event
from ledger.suites import Ed25519Signer

START = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds


def seeded(label: str) -> Ed25519Signer:
    import hashlib

    return Ed25519Signer.from_seed(hashlib.sha256(label.encode()).digest())


class Clock:
    """A settable clock in microseconds; each reading advances it a little."""

    def __init__(self, now: int = START, step: int = 1_000):
        self.now = now
        self.step = step

    def __call__(self) -> int:
        self.now += self.step
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000)


@dataclass
class Officer:
    body_id: str
    officer_id: str
    signer: Ed25519Signer


@dataclass
class World:
    app: LedgerApplication
    clock: Clock
    region: str
    root: Ed25519Signer
    clerk: RegistryClerk
    body_keys: dict[str, Ed25519Signer] = field(default_factory=dict)
    officers: dict[str, Officer] = field(default_factory=dict)

    def add_body(self, body_id: str, name: str = "", **org: Any) -> Ed25519Signer:
        key = seeded(f"body/{body_id}")
        self.clerk.register_body(
            self.root, body_id, name or body_id, key.public_key, org=org, valid_from=START
        )
        self.body_keys[body_id] = key
        return key

    def add_officer(self, body_id: str, officer_id: str) -> Officer:
        signer = seeded(f"officer/{body_id}/{officer_id}")
        self.clerk.certify_officer(
            self.body_keys[body_id], body_id, officer_id, signer.public_key, valid_from=START
        )
        officer = Officer(body_id, officer_id, signer)
        self.officers[officer_id] = officer
        return officer

    def event(
        self,
        officer: Officer,
        case_id: uuid.UUID,
        seq: int,
        prev: bytes,
        event_type: str = "received",
        body: dict[str, Any] | None = None,
        time: int | None = None,
        signer: Ed25519Signer | None = None,
    ) -> bytes:
        return build_event(
            signer or officer.signer,
            ledger=self.app.ledger_name,
            case_id=case_id,
            seq=seq,
            event_type=event_type,
            time=self.clock.now if time is None else time,
            body_id=officer.body_id,
            officer_id=officer.officer_id,
            prev=prev,
            body=body or {},
        )

    def append_case(
        self, officer: Officer, steps: int, case_id: uuid.UUID | None = None
    ) -> tuple[uuid.UUID, list[Appended]]:
        case_id = case_id or uuid.uuid4()
        prev, done = ZERO_HASH, []
        for seq in range(1, steps + 1):
            appended = self.app.append_event(
                self.event(officer, case_id, seq, prev, "received" if seq == 1 else "noted")
            )
            prev = appended.head.event_hash
            done.append(appended)
        return case_id, done


def make_world(
    data_dir: Path, *, database_url: str = "", schema: str | None = None, region: str = "510000"
) -> World:
    root = seeded(f"root/{region}")
    write_trusted_roots(data_dir / "trust.json", {region: root.public_key})
    clock = Clock()
    app = open_ledger(
        Settings(data_dir=data_dir, database_url=database_url, region=region),
        clock=clock,
        schema=schema,
    )
    clerk = RegistryClerk(app, region)
    clerk.establish_root(root, valid_from=START)
    assert app.node_signer is not None
    clerk.certify_node(root, app.node_signer.public_key, "node-1", valid_from=START)
    world = World(app, clock, region, root, clerk)
    world.add_body("510104-RS", "成都市锦江区人力资源和社会保障局")
    world.add_body("510000-ZWFW", "四川省政务服务中心")
    world.add_officer("510104-RS", "rs-001")
    world.add_officer("510000-ZWFW", "zw-001")
    return world


def iter_cases(world: World, count: int, steps: int) -> Iterator[uuid.UUID]:
    officers = list(world.officers.values())
    for n in range(count):
        yield world.append_case(officers[n % len(officers)], steps)[0]
