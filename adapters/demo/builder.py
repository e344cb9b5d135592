"""Building a demo node: registry, signed cases, tokens, and the summary of what it holds."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from adapters.access import open_access_store
from adapters.applicants import NodeApplicants
from adapters.bootstrap import TRUST_FILE, open_ledger
from adapters.bulk import DEFAULT_WRITERS, BulkSummary, Officer, bulk_load
from adapters.calendar_seed import seed_year
from adapters.crypto_profile import crypto_profile
from adapters.datadir import sqlite_path
from adapters.demo.bodies import BULK_BODY, HOME_REGION, JIANGSU, BodySpec, demo_bodies
from adapters.demo.clock import _DAY, DemoClock
from adapters.demo.directory import _MARKER_TEXT, DEMO_MARKER, _check_directory
from adapters.demo.errors import DemoError, NotADemoDirectory
from adapters.demo.planner import DEMO_AMENDMENT, _Case, _Planner, head_officer
from adapters.filemodes import private_directory, write_private_text
from adapters.keyfiles import write_key, write_trusted_roots
from adapters.settings import Settings
from adapters.vault import (
    VAULT_SQLITE_FILE,
    PersonalDataVault,
    PostgresVault,
    SQLiteVault,
    load_or_create_master_key,
)
from ledger.admin import RegistryClerk
from ledger.application import LedgerApplication
from ledger.catalog import load_catalog
from ledger.envelope import ZERO_HASH, build_event, parse_event
from ledger.opening import CaseOpening
from ledger.sm2 import SM2_SM3
from ledger.suites import ED25519_SHA256, SoftwareSigner, signer_from_seed
from ledger.workflow import STEP_TYPES

DEMO_KEYS_DIR = "demo-keys"


# -- building --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSummary:
    """What a demo holds: cases per combination and final state, steps per step type."""

    data_dir: Path
    ledger: str
    seed: int
    cases: int
    events: int
    registry_records: int
    bodies: int
    officers: int
    combinations: Mapping[str, int]
    step_types: Mapping[str, int]
    final_states: Mapping[str, int]
    first_time: int
    last_time: int
    bulk: BulkSummary | None = None  # ``--events``: steps added by the bulk loader

    @property
    def missing_step_types(self) -> tuple[str, ...]:
        """Step types no case took (only a very small demo misses any)."""
        return tuple(t for t in STEP_TYPES if not self.step_types.get(t))

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "ledger": self.ledger,
            "seed": self.seed,
            "cases": self.cases,
            "events": self.events,
            "registry_records": self.registry_records,
            "bodies": self.bodies,
            "officers": self.officers,
            "combinations": dict(self.combinations),
            "step_types": dict(self.step_types),
            "final_states": dict(self.final_states),
            "missing_step_types": list(self.missing_step_types),
            "first_time": _iso(self.first_time),
            "last_time": _iso(self.last_time),
            "bulk_events": self.bulk.events if self.bulk else 0,
            "bulk_cases": self.bulk.cases if self.bulk else 0,
            "bulk_seconds": round(self.bulk.seconds, 1) if self.bulk else 0.0,
        }


def _iso(moment: int) -> str:
    return datetime.fromtimestamp(moment / 1e6, UTC).isoformat(timespec="seconds")


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def _demo_key(seed: int, label: str, suite: str = ED25519_SHA256) -> SoftwareSigner:
    # Derived from the (public) seed: anyone can re-derive them, which is the point of a demo.
    # An SM2 demo's keys come from other seed bytes, so no key is shared between the two.
    tag = "" if suite == ED25519_SHA256 else f"{suite}/"
    digest = hashlib.sha256(f"tongban-demo/{tag}{seed}/{label}".encode()).digest()
    return signer_from_seed(suite, digest)


def _open_vault(
    database_url: str, schema: str | None, data_dir: Path, rng: random.Random, cipher: str
) -> PersonalDataVault:
    master_key = load_or_create_master_key(data_dir)
    # Seeded so a seed's applicant refs and commitments repeat; acceptable only because
    # every applicant here is invented (the master key is still random).
    randbytes = rng.randbytes
    if database_url.startswith(("postgresql://", "postgres://")):
        return PostgresVault(
            database_url, schema or "public", master_key=master_key, rng=randbytes, cipher=cipher
        )
    return SQLiteVault(
        data_dir / VAULT_SQLITE_FILE, master_key=master_key, rng=randbytes, cipher=cipher
    )


class _Builder:
    def __init__(
        self, app: LedgerApplication, clock: DemoClock, seed: int, data_dir: Path, suite: str
    ):
        self.app = app
        self.clock = clock
        self.seed = seed
        self.suite = suite
        self.keys_dir = data_dir / DEMO_KEYS_DIR
        self.officers: dict[tuple[str, str], SoftwareSigner] = {}
        self.records = 0
        self.index: dict[str, Any] = {
            "warning": "DEMO KEYS derived from a public seed: never trust them on a real node",
            "seed": seed,
            "roots": {},
            "bodies": [],
        }

    def _save_key(self, name: str, signer: SoftwareSigner) -> str:
        private_directory(self.keys_dir, "demo keys directory")
        write_key(self.keys_dir / name, signer)
        return f"{DEMO_KEYS_DIR}/{name}"

    def registry(self, roots: Mapping[str, SoftwareSigner], bodies: Sequence[BodySpec]) -> None:
        start = self.clock.now
        node = self.app.node_signer
        assert node is not None  # opened read-write
        for region, root in roots.items():
            clerk = RegistryClerk(self.app, region)
            clerk.establish_root(root, valid_from=start)
            self.records += 1
            if region == HOME_REGION:
                clerk.certify_node(root, node.public_key, "demo-node", valid_from=start)
                # The year's working-day calendar and the 行政许可 items (docs/supervision.md).
                clerk.append(root, "calendar_published", seed_year(region, 2026).to_body())
                base = load_catalog(region).version
                changes = [dict(change) for change in DEMO_AMENDMENT]
                clerk.append(root, "catalog_amended", {"base_version": base, "changes": changes})
                self.records += 3
            self.index["roots"][region] = {
                "kid": root.key_id,
                "key_file": self._save_key(f"root-{region}.key", root),
            }
            for spec in (b for b in bodies if b.region == region):
                body_key = _demo_key(self.seed, f"body/{spec.body_id}", self.suite)
                clerk.register_body(
                    root,
                    spec.body_id,
                    spec.name,
                    body_key.public_key,
                    org=spec.org(),
                    valid_from=start,
                )
                officers = []
                for officer_id in spec.officer_ids():
                    signer = _demo_key(
                        self.seed, f"officer/{spec.body_id}/{officer_id}", self.suite
                    )
                    clerk.certify_officer(
                        body_key,
                        spec.body_id,
                        officer_id,
                        signer.public_key,
                        valid_from=start,
                        head="handler" in spec.roles and officer_id == head_officer(spec),
                    )
                    self.officers[(spec.body_id, officer_id)] = signer
                    officers.append(
                        {
                            "officer_id": officer_id,
                            "kid": signer.key_id,
                            "key_file": self._save_key(
                                f"officer-{spec.body_id}-{officer_id}.key", signer
                            ),
                        }
                    )
                self.records += 1 + len(officers)
                self.index["bodies"].append(
                    {
                        "body_id": spec.body_id,
                        "name": spec.name,
                        "region": region,
                        "org": spec.org(),
                        "kid": body_key.key_id,
                        "key_file": self._save_key(f"body-{spec.body_id}.key", body_key),
                        "officers": officers,
                    }
                )
        index = json.dumps(self.index, ensure_ascii=False, indent=1) + "\n"
        write_private_text(self.keys_dir / "index.json", index)

    def cases(
        self,
        cases: Sequence[_Case],
        applicants: NodeApplicants,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        # Cases open as a department opens them (ledger.opening): the intake body stores the
        # applicant, and the opening claims it for the case, so its personal data reads back.
        opening = CaseOpening(self.app, applicants)
        # Steps of all cases interleaved by time, as a real ledger receives them.
        order = sorted(
            (step.at, case.number, seq)
            for case in cases
            for seq, step in enumerate(case.steps, start=1)
        )
        by_number = {case.number: case for case in cases}
        heads: dict[int, bytes] = {}
        for done, (at, number, seq) in enumerate(order, start=1):
            case = by_number[number]
            step = case.steps[seq - 1]
            self.clock.advance_to(at)
            body = step.body
            if step.type == "received":
                stored = applicants.store(
                    case.applicant,
                    body=step.body_id,
                    now=datetime.fromtimestamp(self.clock.now / 1e6, UTC),
                )
                body = {
                    **body,
                    "applicant": {"ref": stored.ref, "commitments": dict(stored.commitments)},
                }
            raw = build_event(
                self.officers[(step.body_id, step.officer_id)],
                ledger=self.app.ledger_name,
                case_id=case.case_id,
                seq=seq,
                event_type=step.type,
                time=self.clock.now,
                body_id=step.body_id,
                officer_id=step.officer_id,
                prev=heads.get(number, ZERO_HASH),
                body=body,
            )
            opens = seq == 1
            appended = opening.open(parse_event(raw)) if opens else self.app.append_event(raw)
            heads[number] = appended.head.event_hash
            if progress is not None:
                progress(done, len(order))


def _mint_tokens(url: str, data_dir: Path, schema: str | None, body_ids: list[str]) -> None:
    """API tokens for every demo body, an auditor and the administrator, in
    ``demo-keys/tokens.json`` (a demo node only: real tokens are shown once, never stored)."""
    from adapters.access import open_access_store

    store = open_access_store(url, data_dir, schema=schema)
    now = datetime.now(UTC)
    tokens = {
        "warning": "DEMO TOKENS: never use on a real node",
        "bodies": {body: store.create_token("body", body, now=now)[0] for body in body_ids},
        "auditor": store.create_token("auditor", "demo-auditor", now=now)[0],
        "admin": store.create_token("admin", "admin", now=now)[0],
    }
    path = data_dir / "demo-keys" / "tokens.json"
    write_private_text(path, json.dumps(tokens, ensure_ascii=False, indent=1) + "\n")


def build_demo(
    data_dir: Path,
    *,
    cases: int,
    seed: int,
    database_url: str = "",
    schema: str | None = None,
    clock: DemoClock | None = None,
    progress: Callable[[int, int], None] | None = None,
    events: int = 0,
    writers: int = DEFAULT_WRITERS,
    suite: str = ED25519_SHA256,
) -> DemoSummary:
    """Build a demo node in ``data_dir`` (marked ``DEMO``) and return what it holds.

    The node is built in a sibling directory, ``.<name>.building``, and renamed to
    ``data_dir`` only once complete: an interrupted build (Ctrl-C, a refusal, a crash) never
    leaves a half-built node that ``make serve`` (which tests for ``ledger.sqlite3``) would
    serve. What an interrupted build wrote there is removed on the way out, and a build killed
    outright is cleaned up by the next one. Arguments: :func:`_build_demo_in`.
    """
    _check_directory(data_dir)
    building = data_dir.parent / f".{data_dir.name}.building"
    if building.exists():
        if not (building / DEMO_MARKER).exists():
            raise NotADemoDirectory(f"{building} exists and is not a demo build; remove it")
        shutil.rmtree(building)  # left by a build that was killed (no chance to clean up)
    try:
        summary = _build_demo_in(
            building,
            cases=cases,
            seed=seed,
            database_url=database_url,
            schema=schema,
            clock=clock,
            progress=progress,
            events=events,
            writers=writers,
            suite=suite,
        )
        if data_dir.exists():  # empty, or only a DEMO marker (_check_directory said so)
            for leftover in data_dir.iterdir():
                leftover.unlink()
            data_dir.rmdir()
        building.rename(data_dir)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return replace(summary, data_dir=data_dir)


def _build_demo_in(
    data_dir: Path,
    *,
    cases: int,
    seed: int,
    database_url: str = "",
    schema: str | None = None,
    clock: DemoClock | None = None,
    progress: Callable[[int, int], None] | None = None,
    events: int = 0,
    writers: int = DEFAULT_WRITERS,
    suite: str = ED25519_SHA256,
) -> DemoSummary:
    """Build a demo node in ``data_dir`` (marked ``DEMO``) and return what it holds.

    ``suite`` is the suite of every key (``sm2-sm3``: a ``guomi`` node, whose data directory
    records that profile in ``node.json``). ``database_url`` defaults to ``ledger.sqlite3``
    in the directory; ``schema`` is for
    PostgreSQL tests. ``events`` more steps are then appended by the bulk loader
    (``adapters.bulk``, ``writers`` threads) as the officers of ``BULK_BODY``, in cases of
    their own (10 steps each). Raises :class:`NotADemoDirectory` for a directory (or database)
    that may belong to a real node, and for one that already holds a demo.
    """
    if cases < 1:
        raise DemoError("a demo has at least one case")
    if events < 0 or writers < 1:
        raise DemoError("--events must be 0 or more and --writers at least 1")
    _check_directory(data_dir)
    clock = clock or DemoClock()
    bodies = demo_bodies()
    # Planned (and checked against the workflow) before anything is written.
    planner = _Planner(random.Random(seed), clock.now + _DAY, bodies)  # registry a day earlier
    plan = [planner.plan(number) for number in range(1, cases + 1)]

    private_directory(data_dir)
    write_private_text(data_dir / DEMO_MARKER, _MARKER_TEXT)
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        region=HOME_REGION,
        crypto_profile="guomi" if suite == SM2_SM3 else "international",
    )
    if suite == SM2_SM3:  # so that serving or auditing the directory runs it as guomi
        settings.record_region()
    url = settings.resolved_database_url()
    # The directory is new, but TONGBAN_DATABASE_URL may name a real node's database (a
    # read-only open needs one that exists: a new SQLite file holds no ledger anyway).
    ledger_file = sqlite_path(settings)
    if ledger_file is None or ledger_file.exists():
        probe = open_ledger(settings, schema=schema, read_only=True)
        try:
            if probe.store.max_index() > 0:
                raise NotADemoDirectory(
                    f"refusing to write demo data: the database {_redacted(url)} already holds "
                    "a ledger; use an empty database (or schema)"
                )
        finally:
            probe.close()

    roots = {region: _demo_key(seed, f"root/{region}", suite) for region in (HOME_REGION, JIANGSU)}
    write_trusted_roots(data_dir / TRUST_FILE, {r: k.public_key for r, k in roots.items()})
    app = open_ledger(settings, clock=clock, schema=schema)
    try:
        builder = _Builder(app, clock, seed, data_dir, suite)
        builder.registry(roots, bodies)
        vault_schema = schema or settings.database_schema or None
        vault = _open_vault(
            url,
            vault_schema,
            data_dir,
            random.Random(f"vault/{seed}"),
            crypto_profile(settings).vault_cipher,
        )
        access = open_access_store(url, data_dir, schema=vault_schema)
        builder.cases(plan, NodeApplicants(access, vault), progress)
        bulk = None
        if events:
            officers = [
                Officer(body, officer, signer)
                for (body, officer), signer in builder.officers.items()
                if body == BULK_BODY
            ]
            bulk = bulk_load(
                app,
                events,
                officers=officers,
                now=lambda: clock.now,
                applicants=NodeApplicants(access, vault),
                writers=writers,
                progress=progress,
            )
    finally:
        app.close()
    _mint_tokens(url, data_dir, vault_schema, [body.body_id for body in bodies])

    step_types = Counter(step.type for case in plan for step in case.steps)
    return DemoSummary(
        data_dir=data_dir,
        ledger=app.ledger_name,
        seed=seed,
        cases=len(plan),
        events=sum(step_types.values()),
        registry_records=builder.records,
        bodies=len(bodies),
        officers=len(builder.officers),
        combinations=dict(sorted(Counter(case.combination for case in plan).items())),
        step_types={t: step_types.get(t, 0) for t in STEP_TYPES},
        final_states=dict(Counter(case.final_state for case in plan).most_common()),
        first_time=min(case.steps[0].at for case in plan),
        last_time=max(step.at for case in plan for step in case.steps),
        bulk=bulk,
    )
