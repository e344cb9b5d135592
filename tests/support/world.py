"""A small test world: one region's ledger with a root, a node key, bodies and officers.

Deterministic keys (seeded) and an injectable clock, so tests can move time and sign as any
officer. Used by unit, integration and e2e tests alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from adapters.applicants import NodeApplicants, open_node_applicants
from adapters.bootstrap import open_ledger
from adapters.bulk import received_body
from adapters.keyfiles import write_trusted_roots
from adapters.memory import memory_env
from adapters.settings import Settings
from ledger.admin import RegistryClerk
from ledger.application import Appended, LedgerApplication
from ledger.envelope import ZERO_HASH, build_event
from ledger.sm2 import SM2_SM3
from ledger.suites import ED25519_SHA256, Ed25519Signer, SoftwareSigner, signer_from_seed
from ledger.workflow import WorkflowPolicy

START = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds


def seeded(label: str) -> Ed25519Signer:
    import hashlib

    return Ed25519Signer.from_seed(hashlib.sha256(label.encode()).digest())


def seeded_in(suite: str, label: str) -> SoftwareSigner:
    """:func:`seeded`'s key of ``suite`` (an Ed25519 one is the same key)."""
    import hashlib

    return signer_from_seed(suite, hashlib.sha256(label.encode()).digest())


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
    signer: SoftwareSigner


@dataclass
class World:
    app: LedgerApplication
    clock: Clock
    region: str
    root: SoftwareSigner
    clerk: RegistryClerk
    body_keys: dict[str, SoftwareSigner] = field(default_factory=dict)
    officers: dict[str, Officer] = field(default_factory=dict)
    # Where the node lives, for the stores beside its ledger (vault, access store).
    settings: Settings | None = None
    # The suite of Sichuan's keys; Jiangsu's stay Ed25519, so an SM2 world mixes suites.
    suite: str = ED25519_SHA256

    def add_body(self, body_id: str, name: str = "", **org: Any) -> SoftwareSigner:
        key = seeded_in(self.suite, f"body/{body_id}")
        self.clerk.register_body(
            self.root, body_id, name or body_id, key.public_key, org=org, valid_from=START
        )
        self.body_keys[body_id] = key
        return key

    def add_officer(self, body_id: str, officer_id: str) -> Officer:
        signer = seeded_in(self.suite, f"officer/{body_id}/{officer_id}")
        self.clerk.certify_officer(
            self.body_keys[body_id], body_id, officer_id, signer.public_key, valid_from=START
        )
        officer = Officer(body_id, officer_id, signer)
        self.officers[officer_id] = officer
        return officer

    def add_jiangsu(self) -> None:
        js_root = seeded(f"root/{JIANGSU}")
        js_clerk = RegistryClerk(self.app, JIANGSU)
        js_clerk.establish_root(js_root, valid_from=START)
        register_jiangsu_bodies(js_clerk, js_root, self)

    def received_body(
        self,
        item_key: str,
        channel: str,
        *,
        home_body: str = "510104-RS",
        jurisdiction: str = "510104",
        origin_bodies: list[str] | None = None,
    ) -> dict[str, Any]:
        """A valid ``received`` body under the packaged catalog (fake applicant commitments)."""
        return received_body(
            self.app,
            self.clock.now,
            item_key,
            channel,
            home_body=home_body,
            jurisdiction=jurisdiction,
            origin_bodies=origin_bodies or [],
        )

    def run(
        self,
        case_id: uuid.UUID,
        steps: list[tuple[str, str, dict[str, Any]]],
        prev: bytes = ZERO_HASH,
        first_seq: int = 1,
    ) -> list[Appended]:
        """Append ``(officer id, step type, body)`` steps in order; return the receipts."""
        done = []
        for n, (officer_id, event_type, body) in enumerate(steps):
            officer = self.officers[officer_id]
            appended = self.app.append_event(
                self.event(officer, case_id, first_seq + n, prev, event_type, body)
            )
            prev = appended.head.event_hash
            done.append(appended)
        return done

    def online_case(self, case_id: uuid.UUID | None = None) -> uuid.UUID:
        """A ten-step online case of 失业登记 (510000/1/5), delivered by post after a
        suspension and a lost parcel."""
        case_id = case_id or uuid.uuid4()
        self.run(
            case_id,
            [
                ("rs-001", "received", self.received_body("510000/1/5", "online")),
                (
                    "rs-001",
                    "form_checked",
                    {"result": "pass", "reasons": [], "identity_verified": True},
                ),
                ("rs-001", "accepted", {"note": ""}),
                ("rs-001", "suspended", {"reason": "hearing", "detail": "听证"}),
                ("rs-001", "resumed", {"note": ""}),
                (
                    "rs-001",
                    "decided",
                    {"result": "approved", "reasons": [], "basis": "失业保险条例"},
                ),
                (
                    "rs-001",
                    "mailed",
                    {"leg": "home_to_applicant", "courier": "EMS", "tracking_number": "EMS0001"},
                ),
                ("rs-001", "mail_problem", {"problem": "lost", "detail": ""}),
                (
                    "rs-001",
                    "mailed",
                    {"leg": "home_to_applicant", "courier": "EMS", "tracking_number": "EMS0002"},
                ),
                ("rs-001", "delivered", {"method": "post", "results": []}),
            ],
        )
        return case_id

    def event(
        self,
        officer: Officer,
        case_id: uuid.UUID,
        seq: int,
        prev: bytes,
        event_type: str = "received",
        body: dict[str, Any] | None = None,
        time: int | None = None,
        signer: SoftwareSigner | None = None,
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


JIANGSU = "320000"
HANDLER_510104 = {
    "division": "510104",
    "level": "county",
    "sector": "人力资源社会保障",
    "roles": ["handler"],
}
WINDOW_510000 = {
    "division": "510000",
    "level": "province",
    "sector": "政务服务",
    "roles": ["in_province_window"],
}


JIANGSU_BODIES: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    (
        "320105-ZWFW",
        "南京市建邺区政务服务中心",
        {
            "division": "320105",
            "level": "county",
            "sector": "政务服务",
            "roles": ["cross_province_window"],
        },
        "js-001",
    ),
    (
        "320105-RS",
        "南京市建邺区人力资源和社会保障局",
        {
            "division": "320105",
            "level": "county",
            "sector": "人力资源社会保障",
            "roles": ["handler"],
        },
        "jsrs-001",
    ),
)


def register_jiangsu_bodies(clerk: RegistryClerk, js_root: Ed25519Signer, world: World) -> None:
    """Jiangsu's window ``320105-ZWFW`` (officer ``js-001``) and handler ``320105-RS``
    (``jsrs-001``), under Jiangsu's root, in the registry ``clerk`` appends to; their keys
    are seeded, so every ledger that registers them knows the same keys."""
    for body_id, name, org, officer_id in JIANGSU_BODIES:
        key = seeded(f"body/{body_id}")
        clerk.register_body(js_root, body_id, name, key.public_key, org=org, valid_from=START)
        world.body_keys[body_id] = key
        signer = seeded(f"officer/{body_id}/{officer_id}")
        clerk.certify_officer(key, body_id, officer_id, signer.public_key, valid_from=START)
        world.officers[officer_id] = Officer(body_id, officer_id, signer)


def make_world(
    data_dir: Path,
    *,
    database_url: str = "",
    schema: str | None = None,
    region: str = "510000",
    workflow: WorkflowPolicy,
    with_jiangsu: bool = False,
    suite: str = ED25519_SHA256,
) -> World:
    """A Sichuan ledger with a root, a node key, two bodies and two officers.

    ``suite="sm2-sm3"`` makes every Sichuan key SM2 (a ``guomi`` node: its node key too);
    Jiangsu's keys stay Ed25519.

    ``workflow`` has no default: workflow tests pass ``CaseWorkflow()``, tests of the signed
    core (which sign generic steps) ``SignedCoreOnly()``. ``with_jiangsu`` also trusts
    Jiangsu's root and registers a Jiangsu window (``320105-ZWFW``, officer ``js-001``) and
    handler (``320105-RS``, officer ``jsrs-001``) in Jiangsu's registry on this ledger.
    """
    root = seeded_in(suite, f"root/{region}")
    clock = Clock()
    roots = {region: root.public_key}
    if with_jiangsu:
        roots[JIANGSU] = seeded(f"root/{JIANGSU}").public_key
    write_trusted_roots(data_dir / "trust.json", roots)
    profile: Literal["international", "guomi"] = "guomi" if suite == SM2_SM3 else "international"
    app = open_ledger(
        Settings(
            data_dir=data_dir, database_url=database_url, region=region, crypto_profile=profile
        ),
        clock=clock,
        schema=schema,
        workflow=workflow,
    )
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        region=region,
        database_schema=schema or "",
        crypto_profile=profile,
    )
    return _populate(
        app, clock, region, root, settings=settings, with_jiangsu=with_jiangsu, suite=suite
    )


def make_memory_world(
    *,
    region: str = "510000",
    workflow: WorkflowPolicy,
    with_jiangsu: bool = False,
) -> World:
    """:func:`make_world` on the in-memory store (``adapters.memory``): no files at all, no
    database. The node key is seeded; there is no data directory, so no vault beside it."""
    root = seeded(f"root/{region}")
    clock = Clock()
    roots = {region: root.public_key}
    if with_jiangsu:
        roots[JIANGSU] = seeded(f"root/{JIANGSU}").public_key
    app = LedgerApplication(
        memory_env(),
        ledger_name=f"tongban/{region}",
        trusted_roots=roots,
        node_signer=seeded(f"node/{region}"),
        home_region=region,
        clock=clock,
        workflow=workflow,
    )
    return _populate(app, clock, region, root, settings=None, with_jiangsu=with_jiangsu)


def _populate(
    app: LedgerApplication,
    clock: Clock,
    region: str,
    root: SoftwareSigner,
    *,
    settings: Settings | None,
    with_jiangsu: bool,
    suite: str = ED25519_SHA256,
) -> World:
    clerk = RegistryClerk(app, region)
    clerk.establish_root(root, valid_from=START)
    assert app.node_signer is not None
    clerk.certify_node(root, app.node_signer.public_key, "node-1", valid_from=START)
    world = World(app, clock, region, root, clerk, settings=settings, suite=suite)
    world.add_body("510104-RS", "成都市锦江区人力资源和社会保障局", **HANDLER_510104)
    world.add_body("510000-ZWFW", "四川省政务服务中心", **WINDOW_510000)
    world.add_officer("510104-RS", "rs-001")
    world.add_officer("510000-ZWFW", "zw-001")
    if with_jiangsu:
        world.add_jiangsu()
    return world


def iter_online_cases(world: World, count: int) -> Iterator[uuid.UUID]:
    """``count`` ten-step online cases under the real workflow."""
    for _ in range(count):
        yield world.online_case()


def iter_cases(world: World, count: int, steps: int) -> Iterator[uuid.UUID]:
    officers = list(world.officers.values())
    for n in range(count):
        yield world.append_case(officers[n % len(officers)], steps)[0]


def world_applicants(world: World) -> NodeApplicants:
    """The applicants of the world's node (vault and access store beside its ledger)."""
    settings = world.settings
    assert settings is not None
    return open_node_applicants(
        settings.resolved_database_url(), settings.data_dir, schema=settings.database_schema or None
    )
