"""A demo node: deterministic keys, real-looking bodies and officers, and signed cases.

:func:`build_demo` fills a *demo* data directory with a Sichuan (510000) ledger that trusts the
roots of Sichuan and Jiangsu (320000), registers bodies at province, city and county level with
their organization data, certifies officers, and appends cases that run through every channel ×
coordination combination the packaged catalog offers and every step type of the workflow.
Every case event is signed by an officer and accepted under the real rules
(:class:`ledger.workflow.CaseWorkflow`), so ``tongban audit verify`` on a demo is clean.

Demo data must never enter a real node. The directory is marked with a ``DEMO`` file; a
non-empty directory without that marker, a directory that already holds a demo, and a database
that already holds a ledger are refused.

Determinism: the plan (case ids, items, bodies, officers, steps, times) comes from
``random.Random(seed)`` alone, and the demo keys from the seed; only the node key and the vault
master key are fresh random keys, as on any node. The root, body and officer keys are written
to ``<data_dir>/demo-keys/`` (with ``index.json``) so a demo user can sign more steps.

Errors::

    DemoError (ValueError)
    └── NotADemoDirectory    the directory (or database) may belong to a real node
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from adapters.access import open_access_store
from adapters.applicants import NodeApplicants
from adapters.bootstrap import NODE_KEY_FILE, TRUST_FILE, open_ledger
from adapters.bulk import DEFAULT_WRITERS, BulkSummary, Officer, bulk_load
from adapters.datadir import sqlite_path
from adapters.filemodes import private_directory, write_private_text
from adapters.keyfiles import write_key, write_trusted_roots
from adapters.settings import Settings
from adapters.vault import (
    MASTER_KEY_FILE,
    VAULT_SQLITE_FILE,
    PersonalDataVault,
    PostgresVault,
    SQLiteVault,
    load_or_create_master_key,
)
from ledger.admin import RegistryClerk
from ledger.application import LedgerApplication
from ledger.catalog import CatalogItem, load_catalog
from ledger.envelope import ZERO_HASH, Envelope, build_event, parse_event
from ledger.errors import LedgerError
from ledger.keys import BodyView, CatalogVersions
from ledger.opening import CaseOpening
from ledger.personal import PersonalData
from ledger.suites import Ed25519Signer
from ledger.workflow import STEP_TYPES, TRANSITIONS, CaseState, Entitlement, take_step

__all__ = [
    "DEMO_KEYS_DIR",
    "DEMO_MARKER",
    "DEMO_START",
    "BodySpec",
    "DemoClock",
    "DemoError",
    "DemoSummary",
    "NotADemoDirectory",
    "build_demo",
    "demo_bodies",
    "gb11643_check_digit",
    "offered_combinations",
]

DEMO_MARKER = "DEMO"
DEMO_KEYS_DIR = "demo-keys"
HOME_REGION = "510000"
BULK_BODY = "510104-RS"  # whose officers sign the bulk loader's steps (``events``)
JIANGSU = "320000"
# 2026-01-05T01:00:00Z, 09:00 in Beijing: a fixed start keeps a seed's demo identical.
DEMO_START = 1_767_574_800_000_000
DEMO_SPAN = 180 * 86_400_000_000  # cases are received over half a year
_MINUTE = 60_000_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR

_MARKER_TEXT = """\
DEMO DATA DIRECTORY — created by `tongban demo`.

Everything here is fake: keys derived from a public seed, invented applicants (测试人员NNNN)
with computed ID numbers, cases that never happened. Never trust these roots on a real node,
never copy this ledger, vault or key into one. Delete the directory to rebuild the demo.
"""

# Files that make a directory a node; finding one without the marker means "real node".
_NODE_FILES = ("ledger.sqlite3", NODE_KEY_FILE, TRUST_FILE, MASTER_KEY_FILE, VAULT_SQLITE_FILE)


class DemoError(ValueError):
    """The demo could not be built."""


class NotADemoDirectory(DemoError):
    """The target may belong to a real node; demo data never enters one."""


class DemoClock:
    """The node's clock while building: moved to each step's scheduled time, ticking 1 ms per
    reading so receipt times strictly increase."""

    def __init__(self, start: int = DEMO_START, tick: int = 1_000):
        self.now = start
        self.tick = tick

    def __call__(self) -> int:
        self.now += self.tick
        return self.now

    def advance_to(self, moment: int) -> None:
        self.now = max(self.now, moment)


# -- organizations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BodySpec:
    """A demo body: GB/T 2260 division, level, sector (the catalog's names) and roles."""

    body_id: str
    name: str
    region: str
    division: str
    level: str
    sector: str
    roles: tuple[str, ...]
    parent: str = ""
    officers: int = 2

    def org(self) -> dict[str, Any]:
        org: dict[str, Any] = {
            "division": self.division,
            "level": self.level,
            "sector": self.sector,
            "roles": list(self.roles),
        }
        if self.parent:
            org["parent"] = self.parent
        return org

    def view(self) -> BodyView:
        return BodyView(
            self.body_id,
            self.region,
            self.division,
            self.level,
            self.sector,
            frozenset(self.roles),
        )

    def officer_ids(self) -> tuple[str, ...]:
        return tuple(f"{self.body_id.lower()}-{n:02d}" for n in range(1, self.officers + 1))

    def covers(self, jurisdiction: str) -> bool:
        """Same rule as the workflow's entitlement: province 2, city 4, county 6 digits."""
        prefix = {"province": 2, "city": 4}.get(self.level, 6)
        return jurisdiction[:prefix] == self.division[:prefix]


_HANDLER = ("handler",)
_IN_WINDOW = ("in_province_window",)
_CROSS_WINDOW = ("cross_province_window",)
_RS = "人力资源社会保障"


def _body(
    body_id: str, name: str, level: str, sector: str, roles: tuple[str, ...], parent: str = ""
) -> BodySpec:
    # The id starts with the body's GB/T 2260 division; the region is its province.
    division = body_id[:6]
    region = f"{division[:2]}0000"
    return BodySpec(body_id, name, region, division, level, sector, roles, parent)


def demo_bodies() -> tuple[BodySpec, ...]:
    """The demo's bodies: Sichuan handlers and windows, Jiangsu windows and origin bodies."""
    return (
        _body("510000-RS", "四川省人力资源和社会保障厅", "province", _RS, _HANDLER),
        _body("510100-RS", "成都市人力资源和社会保障局", "city", _RS, _HANDLER, "510000-RS"),
        _body(
            "510104-RS", "成都市锦江区人力资源和社会保障局", "county", _RS, _HANDLER, "510100-RS"
        ),
        _body("510000-SCJG", "四川省市场监督管理局", "province", "市场监管", _HANDLER),
        _body("510100-SCJG", "成都市市场监督管理局", "city", "市场监管", _HANDLER, "510000-SCJG"),
        _body(
            "510104-SCJG",
            "成都市锦江区市场监督管理局",
            "county",
            "市场监管",
            _HANDLER,
            "510100-SCJG",
        ),
        _body("510100-YB", "成都市医疗保障局", "city", "医保", _HANDLER),
        _body("510100-GJJ", "成都住房公积金管理中心", "city", "住房城乡建设", _HANDLER),
        _body("510100-GA", "成都市公安局", "city", "公安", _HANDLER),
        _body("510100-SF", "成都市司法局", "city", "司法", _HANDLER),
        _body("510000-ZWFW", "四川省政务服务中心", "province", "政务服务", _IN_WINDOW),
        _body("510104-ZWFW", "成都市锦江区政务服务中心", "county", "政务服务", _IN_WINDOW),
        _body("320105-ZWFW", "南京市建邺区政务服务中心", "county", "政务服务", _CROSS_WINDOW),
        _body("320102-ZWFW", "南京市玄武区政务服务中心", "county", "政务服务", _CROSS_WINDOW),
        _body("320105-RS", "南京市建邺区人力资源和社会保障局", "county", _RS, _HANDLER),
        _body("320100-YB", "南京市医疗保障局", "city", "医保", _HANDLER),
        _body("320100-GJJ", "南京住房公积金管理中心", "city", "住房城乡建设", _HANDLER),
    )


# Where Sichuan cases are (GB/T 2260): Chengdu's central districts, two other cities' districts.
_CHENGDU_COUNTIES = ("510104", "510105", "510106", "510107", "510108")
_SICHUAN_COUNTIES = (*_CHENGDU_COUNTIES, "510703", "511102")
# Where the (fake) applicants' ID numbers say they were registered.
_APPLICANT_DIVISIONS = ("320105", "320102", "320106", "510104", "510107", "510105")


# -- fake applicants -------------------------------------------------------------------------

_GB11643_WEIGHTS = tuple(2 ** (17 - i) % 11 for i in range(17))


def gb11643_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character (ISO 7064 MOD 11-2) of a 17-digit ID number body."""
    total = sum(int(d) * w for d, w in zip(first17, _GB11643_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def _fake_applicant(rng: random.Random, number: int) -> PersonalData:
    division = rng.choice(_APPLICANT_DIVISIONS)
    birth = date(1950, 1, 1) + timedelta(days=rng.randrange(20_000))
    body = f"{division}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return PersonalData(
        name=f"测试人员{number:04d}",
        id_number=body + gb11643_check_digit(body),
        address=f"测试地址{number:04d}号",
    )


# -- planning (pure: the ledger is not touched) ----------------------------------------------


def offered_combinations(items: Sequence[CatalogItem]) -> tuple[tuple[str, str], ...]:
    """The (channel, coordination) pairs the active items offer, sorted."""
    return tuple(
        sorted(
            {
                (c, item.coordination)
                for item in items
                if item.status == "active"
                for c in item.channels
            }
        )
    )


# How often a step is taken where the table allows it (relative, per state). Happy paths
# dominate; the exceptions still show up in a few hundred cases.
_WEIGHTS: Mapping[str, float] = {
    "form_checked:pass": 85,
    "form_checked:needs_supplement": 8,
    "form_checked:refused": 2,
    "supplemented": 90,
    "supplement_requested": 4,
    "mailed:window_to_home": 90,
    "mail_problem": 3,
    "arrived": 90,
    "accepted": 85,
    "refused": 3,
    "transferred": 4,
    "co_handled": 90,
    "suspended": 3,
    "resumed": 90,
    "decided:approved": 85,
    "decided:rejected": 6,
    "delivered:online": 40,
    "delivered:at_window": 40,
    "mailed:home_to_applicant": 30,
    "mailed:home_to_window": 40,
    "delivered:post": 90,
    "reopened": 1,
    "withdrawn": 1.5,
    "corrected": 1,
}
# Weight of leaving the case where it is (the rest of the demo finds it open or closed):
# delivered cases mostly stay delivered, a refusal is sometimes reviewed (reopened), and a
# case the table lets go nowhere else ends; anywhere else a few cases are still open.
_STOP_DELIVERED = 95.0
_STOP_REVIEWABLE = 12.0
_STOP_CLOSED = 100.0
_STOP_OPEN = 1.0
# A step not yet taken anywhere in the demo is this much likelier: small demos still show
# every step type (the summary lists any that are missing).
_UNSEEN_BONUS = 30.0
_MAX_STEPS = 30
_LOOPS = frozenset(
    {
        "corrected",
        "reopened",
        "transferred",
        "suspended",
        "supplement_requested",
        "mail_problem",
        "form_checked:needs_supplement",
    }
)
_STOP = "stop"

# Typical time from the previous step to this one: (minimum, maximum) microseconds.
_GAPS: Mapping[str, tuple[int, int]] = {
    "supplemented": (4 * _HOUR, 5 * _DAY),
    "arrived": (1 * _DAY, 4 * _DAY),
    "resumed": (2 * _DAY, 12 * _DAY),
    "reopened": (15 * _DAY, 60 * _DAY),
    "delivered:post": (1 * _DAY, 3 * _DAY),
    "co_handled": (1 * _DAY, 5 * _DAY),
}
_DEFAULT_GAP = (10 * _MINUTE, 1 * _DAY)

_COURIERS = ("EMS", "中国邮政", "顺丰速运")
_MATERIALS = ("申请表", "居民身份证", "授权委托书", "户口簿", "社会保障卡")


@dataclass
class _Step:
    body_id: str
    officer_id: str
    type: str
    body: dict[str, Any]
    at: int


@dataclass(frozen=True)
class _Draft:
    """What the workflow reads of an envelope: a step checked before anything is signed."""

    type: str
    body: Mapping[str, Any]
    seq: int
    body_id: str


# A well-formed stand-in until the vault stores the applicant, when the step is appended.
_PLANNED_APPLICANT: Mapping[str, Any] = {
    "ref": "ap_" + "a" * 26,
    "commitments": {"name": bytes(32), "id_number": bytes(32)},
}


@dataclass
class _Case:
    number: int
    case_id: uuid.UUID
    item: CatalogItem
    channel: str
    applicant: PersonalData
    steps: list[_Step] = field(default_factory=list)
    final_state: str = ""

    @property
    def combination(self) -> str:
        return f"{self.channel}/{self.item.coordination}"


class _Planner:
    """Walks the workflow's own transition table with weighted choices."""

    def __init__(self, rng: random.Random, start: int, bodies: Sequence[BodySpec]):
        self.rng = rng
        self.start = start
        self.bodies = {b.body_id: b for b in bodies}
        self.catalog = load_catalog(HOME_REGION)
        # The node's own rules judge every drafted step: the plan cannot drift from them.
        self.catalogs = CatalogVersions([self.catalog])
        views = {b.body_id: b.view() for b in bodies}
        self.entitlement = Entitlement(views.get, HOME_REGION)
        self.seen: set[str] = set()
        handled = {b.sector for b in bodies if b.region == HOME_REGION and "handler" in b.roles}
        twins = {b.sector for b in bodies if b.region == JIANGSU and "handler" in b.roles}
        self.items: dict[tuple[str, str], list[CatalogItem]] = {}
        for item in self.catalog.items:
            if item.status != "active" or not handled & {item.sector, *item.cooperating_sectors}:
                continue
            if item.coordination == "joint" and item.sector not in twins:
                continue  # no origin body to co-handle it
            for channel in item.channels:
                self.items.setdefault((channel, item.coordination), []).append(item)
        self.combinations = offered_combinations(self.catalog.items)
        self.reachable = {
            (channel, coordination): {
                t.step
                for t in TRANSITIONS
                if channel in t.channels and coordination in t.coordinations
            }
            for channel, coordination in self.combinations
        }
        missing = [c for c in self.combinations if c not in self.items]
        if missing:  # pragma: no cover - the body list is fixed above
            raise DemoError(f"no demo body handles an item offered as {missing}")
        self.windows = [
            b for b in bodies if {"in_province_window", "cross_province_window"} & set(b.roles)
        ]

    # choosing ---------------------------------------------------------------------------

    def _pick_weighted(self, options: Sequence[tuple[str, float]]) -> str:
        names = [name for name, _ in options]
        weights = [weight for _, weight in options]
        return self.rng.choices(names, weights=weights)[0]

    def _combination(self, number: int) -> tuple[str, str]:
        if number <= len(self.combinations):
            return self.combinations[number - 1]  # the first cases show every combination
        # As many cases as items offer a combination, but one whose steps (co_handled for
        # joint items, arrived for proxy ones) were not shown yet comes first.
        weights = [
            len(self.items[c]) * (_UNSEEN_BONUS if self.reachable[c] - self.seen else 1.0)
            for c in self.combinations
        ]
        return self.rng.choices(self.combinations, weights=weights)[0]

    def _handlers(self, item: CatalogItem, jurisdiction: str = "") -> list[BodySpec]:
        sectors = {item.sector, *item.cooperating_sectors}
        return [
            b
            for b in self.bodies.values()
            if b.region == HOME_REGION
            and "handler" in b.roles
            and b.sector in sectors
            and (not jurisdiction or b.covers(jurisdiction))
        ]

    def _officer(self, body_id: str) -> str:
        return self.rng.choice(self.bodies[body_id].officer_ids())

    def _gap(self, step: str) -> int:
        low, high = _GAPS.get(step, _DEFAULT_GAP)
        return self.rng.randint(low, high)

    # a case -----------------------------------------------------------------------------

    def plan(self, number: int) -> _Case:
        rng = self.rng
        channel, coordination = self._combination(number)
        item = rng.choice(self.items[(channel, coordination)])
        case = _Case(
            number=number,
            case_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            item=item,
            channel=channel,
            applicant=_fake_applicant(rng, number),
        )
        home = rng.choice(self._handlers(item))
        if home.level == "county":
            jurisdiction = home.division
        elif home.level == "city":
            jurisdiction = rng.choice([c for c in _SICHUAN_COUNTIES if home.covers(c)])
        else:
            jurisdiction = rng.choice(_SICHUAN_COUNTIES)
        if channel == "proxy":
            # 跨省通办: most proxy cases come through a Jiangsu window.
            windows = [w for w in self.windows if w.region == JIANGSU]
            if rng.random() < 0.25:
                windows = [w for w in self.windows if w.region == HOME_REGION]
            intake = rng.choice(windows).body_id
        else:
            intake = home.body_id
        origins: list[str] = []
        if coordination == "joint":
            # The body in the other province the file comes from, of the item's own sector.
            origins = [
                b.body_id
                for b in self.bodies.values()
                if b.region == JIANGSU and "handler" in b.roles and b.sector == item.sector
            ][:1]
        received = _Step(
            intake,
            self._officer(intake),
            "received",
            {
                "item": item.item_key,
                "channel": channel,
                "coordination": coordination,
                "catalog_version": self.catalog.version,
                "applicant": dict(_PLANNED_APPLICANT),
                "materials": self._materials(case, 1),
                "home_body": home.body_id,
                "jurisdiction": jurisdiction,
                "origin_bodies": origins,
            },
            self.start + rng.randrange(DEMO_SPAN),
        )
        state = self._check(CaseState(), received, 1)
        if state is None:  # pragma: no cover - a bug in the demo's bodies or items
            raise DemoError(f"the node would refuse demo case {number} ({item.item_key})")
        case.steps.append(received)
        self.seen.add("received")
        refused: set[str] = set()  # steps the rules refused here; choose another
        while len(case.steps) < _MAX_STEPS:
            step = self._choose(state, len(case.steps), refused)
            if step == _STOP:
                break
            draft = self._draft(case, state, item, step)
            new = self._check(state, draft, len(case.steps) + 1) if draft else None
            if draft is None or new is None:
                refused.add(step)
                continue
            case.steps.append(draft)
            self.seen.add(step)
            state, refused = new, set()
        case.final_state = state.state
        return case

    def _check(self, state: CaseState, step: _Step, seq: int) -> CaseState | None:
        """The state after ``step`` under the node's own rules, or None if they refuse it."""
        draft = _Draft(step.type, step.body, seq, step.body_id)
        try:
            # The workflow reads only type, body, seq and body_id of an envelope.
            return take_step(state, cast(Envelope, draft), self.catalogs, self.entitlement)
        except LedgerError:
            return None

    def _choose(self, state: CaseState, taken: int, refused: set[str]) -> str:
        allowed = [step for step in state.allowed_steps() if step not in refused]
        options: list[tuple[str, float]] = []
        for step in allowed:
            if taken >= _MAX_STEPS // 2 and step in _LOOPS:
                continue  # a long case heads for its end
            weight = _WEIGHTS.get(step, 1.0)
            if step not in self.seen:
                weight *= _UNSEEN_BONUS
            options.append((step, weight))
        onward = set(state.allowed_steps()) - {"corrected", "reopened"}
        if state.state == "delivered":
            stop = _STOP_DELIVERED
        elif onward:
            stop = _STOP_OPEN
        elif "reopened" in allowed:
            stop = _STOP_REVIEWABLE
        else:
            stop = _STOP_CLOSED
        options.append((_STOP, stop))
        return self._pick_weighted(options)

    def _draft(self, case: _Case, state: CaseState, item: CatalogItem, step: str) -> _Step | None:
        """The step as some entitled officer would take it, or None if no body can."""
        rng = self.rng
        seq = len(case.steps) + 1
        kind, _, refinement = step.partition(":")
        body: dict[str, Any] | None
        if step == "corrected":
            target = rng.choice(sorted(state.steps_by_body))
            actor = state.steps_by_body[target]
            target_type = case.steps[target - 1].type
            body = {"target_seq": target, "reason": f"更正第{target}步（{target_type}）的录入错误"}
        else:
            actors = state.actor_bodies(state.transition(step).actor)
            if not actors:
                return None
            actor = rng.choice(actors)
            body = self._body(case, state, item, kind, refinement, seq)
            if body is None:
                return None
        at = case.steps[-1].at + self._gap(step)
        return _Step(actor, self._officer(actor), kind, body, at)

    def _materials(self, case: _Case, seq: int, count: int = 2) -> list[dict[str, Any]]:
        names = self.rng.sample(_MATERIALS, count)
        return [
            {
                "name": name,
                "sha256": hashlib.sha256(
                    f"tongban-demo/{case.case_id}/{seq}/{name}".encode()
                ).digest(),
            }
            for name in names
        ]

    def _tracking(self) -> tuple[str, str]:
        courier = self.rng.choice(_COURIERS)
        prefix = {"EMS": "EMS", "中国邮政": "YZ", "顺丰速运": "SF"}[courier]
        return courier, f"{prefix}{self.rng.randrange(10**11, 10**12)}"

    def _body(
        self,
        case: _Case,
        state: CaseState,
        item: CatalogItem,
        kind: str,
        refinement: str,
        seq: int,
    ) -> dict[str, Any] | None:
        rng = self.rng
        if kind == "form_checked":
            reasons = {
                "pass": [],
                "needs_supplement": ["申请材料不齐全"],
                "refused": ["申请事项不属于本地受理范围"],
            }[refinement]
            return {"result": refinement, "reasons": reasons, "identity_verified": True}
        if kind == "supplement_requested":
            return {"items": [rng.choice(_MATERIALS)], "reason": "材料不清晰，请补正"}
        if kind == "supplemented":
            return {"materials": self._materials(case, seq, 1)}
        if kind == "mailed":
            courier, tracking = self._tracking()
            return {"leg": refinement, "courier": courier, "tracking_number": tracking}
        if kind == "mail_problem":
            problem = rng.choice(("lost", "returned", "damaged"))
            return {
                "problem": problem,
                "detail": {"lost": "快递丢失", "returned": "地址不详退回", "damaged": "包裹破损"}[
                    problem
                ],
            }
        if kind in ("arrived", "accepted", "resumed"):
            return {"note": ""}
        if kind == "refused":
            return {"reasons": ["不符合受理条件"], "basis": f"《{item.national_name}》办事指南"}
        if kind == "transferred":
            candidates = [
                b.body_id
                for b in self._handlers(item, state.jurisdiction)
                if b.body_id != state.home_body
            ]
            if not candidates:
                return None
            return {"to_body": rng.choice(candidates), "reason": "按管辖权限移交"}
        if kind == "co_handled":
            return {"opinion": "同意，已办理转出手续"}
        if kind == "suspended":
            reason = rng.choice(("hearing", "testing", "expert_review", "other"))
            detail = {
                "hearing": "听证",
                "testing": "检验检测",
                "expert_review": "专家评审",
                "other": "待第三方核实",
            }[reason]
            return {"reason": reason, "detail": detail}
        if kind == "decided":
            reasons = [] if refinement == "approved" else ["经审查不符合条件"]
            return {
                "result": refinement,
                "reasons": reasons,
                "basis": f"{item.national_name}办理规定",
            }
        if kind == "delivered":
            return {"method": refinement, "results": [f"{item.national_name}办理结果"]}
        if kind == "withdrawn":
            return {"reason": "申请人主动撤回申请"}
        if kind == "reopened":
            basis = rng.choice(("administrative_review", "court_ruling"))
            reference = (
                f"川行复〔2026〕{rng.randrange(1, 999)}号"
                if basis == "administrative_review"
                else f"（2026）川01行终{rng.randrange(1, 999)}号"
            )
            return {"basis": basis, "reference": reference}
        raise DemoError(f"no demo body for step {kind}")  # pragma: no cover


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


def _demo_key(seed: int, label: str) -> Ed25519Signer:
    # Derived from the (public) seed: anyone can re-derive them, which is the point of a demo.
    return Ed25519Signer.from_seed(hashlib.sha256(f"tongban-demo/{seed}/{label}".encode()).digest())


def _check_directory(data_dir: Path) -> None:
    if not data_dir.exists():
        return
    if not data_dir.is_dir():
        raise NotADemoDirectory(f"{data_dir} is not a directory")
    content = sorted(p.name for p in data_dir.iterdir())
    if not content:
        return
    if DEMO_MARKER not in content:
        node_files = [name for name in content if name in _NODE_FILES]
        what = f"node files ({', '.join(node_files)})" if node_files else "other files"
        raise NotADemoDirectory(
            f"refusing to write demo data into {data_dir}: it holds {what} and no {DEMO_MARKER} "
            "marker, so it may be a real node; choose a new or empty directory"
        )
    if set(content) - {DEMO_MARKER}:
        raise NotADemoDirectory(
            f"{data_dir} already holds a demo; delete the directory to build it again"
        )


def _open_vault(
    database_url: str, schema: str | None, data_dir: Path, rng: random.Random
) -> PersonalDataVault:
    master_key = load_or_create_master_key(data_dir)
    # Seeded so a seed's applicant refs and commitments repeat; acceptable only because
    # every applicant here is invented (the master key is still random).
    randbytes = rng.randbytes
    if database_url.startswith(("postgresql://", "postgres://")):
        return PostgresVault(database_url, schema or "public", master_key=master_key, rng=randbytes)
    return SQLiteVault(data_dir / VAULT_SQLITE_FILE, master_key=master_key, rng=randbytes)


class _Builder:
    def __init__(self, app: LedgerApplication, clock: DemoClock, seed: int, data_dir: Path):
        self.app = app
        self.clock = clock
        self.seed = seed
        self.keys_dir = data_dir / DEMO_KEYS_DIR
        self.officers: dict[tuple[str, str], Ed25519Signer] = {}
        self.records = 0
        self.index: dict[str, Any] = {
            "warning": "DEMO KEYS derived from a public seed: never trust them on a real node",
            "seed": seed,
            "roots": {},
            "bodies": [],
        }

    def _save_key(self, name: str, signer: Ed25519Signer) -> str:
        private_directory(self.keys_dir, "demo keys directory")
        write_key(self.keys_dir / name, signer)
        return f"{DEMO_KEYS_DIR}/{name}"

    def registry(self, roots: Mapping[str, Ed25519Signer], bodies: Sequence[BodySpec]) -> None:
        start = self.clock.now
        node = self.app.node_signer
        assert node is not None  # opened read-write
        for region, root in roots.items():
            clerk = RegistryClerk(self.app, region)
            clerk.establish_root(root, valid_from=start)
            self.records += 1
            if region == HOME_REGION:
                clerk.certify_node(root, node.public_key, "demo-node", valid_from=start)
                self.records += 1
            self.index["roots"][region] = {
                "kid": root.key_id,
                "key_file": self._save_key(f"root-{region}.key", root),
            }
            for spec in (b for b in bodies if b.region == region):
                body_key = _demo_key(self.seed, f"body/{spec.body_id}")
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
                    signer = _demo_key(self.seed, f"officer/{spec.body_id}/{officer_id}")
                    clerk.certify_officer(
                        body_key, spec.body_id, officer_id, signer.public_key, valid_from=start
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
) -> DemoSummary:
    """Build a demo node in ``data_dir`` (marked ``DEMO``) and return what it holds.

    ``database_url`` defaults to ``ledger.sqlite3`` in the directory; ``schema`` is for
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
    settings = Settings(data_dir=data_dir, database_url=database_url, region=HOME_REGION)
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

    roots = {region: _demo_key(seed, f"root/{region}") for region in (HOME_REGION, JIANGSU)}
    write_trusted_roots(data_dir / TRUST_FILE, {r: k.public_key for r, k in roots.items()})
    app = open_ledger(settings, clock=clock, schema=schema)
    try:
        builder = _Builder(app, clock, seed, data_dir)
        builder.registry(roots, bodies)
        vault_schema = schema or settings.database_schema or None
        vault = _open_vault(url, vault_schema, data_dir, random.Random(f"vault/{seed}"))
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
