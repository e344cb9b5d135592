"""Workflow test support: step bodies, the table's graphs and shortest paths, case drivers.

The workflow tests check ``ledger.workflow`` against the transition table without using the
module's own answers (``CaseState.allowed_steps``, ``actor_bodies``): the graphs and shortest
paths below are computed here from the raw rows, and the step vocabulary is written out by hand.

Two drivers take the same steps: :class:`UnitCase` calls ``take_step`` directly with a fake
organization registry (fast, for the full matrix), :class:`LedgerCase` appends signed envelopes
to a real ledger (for the end-to-end checks).
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.application import Appended
from ledger.catalog import Catalog, load_catalog
from ledger.envelope import ZERO_HASH, Envelope, build_event, parse_event
from ledger.keys import BodyView, CatalogVersions
from ledger.workflow import START, TRANSITIONS, CaseState, Entitlement, Transition, take_step
from tests.support.world import HANDLER_510104, JIANGSU, WINDOW_510000, World, seeded

REGION = "510000"
LEDGER = f"tongban/{REGION}"
JURISDICTION = "510104"

# Every step the workflow knows, written out from the body vocabularies (not read from the
# table): a test checks the table uses exactly these.
ALL_STEPS: tuple[str, ...] = (
    "received",
    "form_checked:pass",
    "form_checked:needs_supplement",
    "form_checked:refused",
    "supplement_requested",
    "supplemented",
    "mailed:window_to_home",
    "mailed:home_to_window",
    "mailed:home_to_applicant",
    "mail_problem",
    "arrived",
    "accepted",
    "refused",
    "transferred",
    "co_handled",
    "suspended",
    "resumed",
    "extended",
    "decided:approved",
    "decided:rejected",
    "delivered:online",
    "delivered:post",
    "delivered:at_window",
    "withdrawn",
    "corrected",
    "reopened",
)
# The rating table's steps (好差评 and rectification), written out likewise.
RATING_STEPS: tuple[str, ...] = (
    "rated:very_satisfied",
    "rated:satisfied",
    "rated:basically_satisfied",
    "rated:dissatisfied",
    "rated:very_dissatisfied",
    "rectification_verified:upheld",
    "rectification_verified:not_upheld",
    "rectified",
    "followed_up",
    "rectification_closed",
)

# -- bodies and officers --------------------------------------------------------------------

# The organization data of the bodies every workflow world has: make_world's four (with
# Jiangsu) and the extras registered by :func:`populate`.
JIANGSU_WINDOW = {
    "division": "320105",
    "level": "county",
    "sector": "政务服务",
    "roles": ["cross_province_window"],
}
JIANGSU_HANDLER = {
    "division": "320105",
    "level": "county",
    "sector": "人力资源社会保障",
    "roles": ["handler"],
}
CITY_HANDLER_510100 = {
    "division": "510100",
    "level": "city",
    "sector": "人力资源社会保障",
    "roles": ["handler"],
}
COUNTY_HANDLER_510105 = {
    "division": "510105",
    "level": "county",
    "sector": "人力资源社会保障",
    "roles": ["handler"],
}
BODY_ORGS: dict[str, tuple[str, Mapping[str, Any]]] = {
    "510104-RS": (REGION, HANDLER_510104),
    "510000-ZWFW": (REGION, WINDOW_510000),
    "320105-ZWFW": (JIANGSU, JIANGSU_WINDOW),
    "320105-RS": (JIANGSU, JIANGSU_HANDLER),
    "510100-RS": (REGION, CITY_HANDLER_510100),
    "510105-RS": (REGION, COUNTY_HANDLER_510105),
}
# officer id -> body id
OFFICERS: dict[str, str] = {
    "rs-001": "510104-RS",  # Sichuan handler (成都市锦江区人社局)
    "zw-001": "510000-ZWFW",  # Sichuan in-province window
    "js-001": "320105-ZWFW",  # Jiangsu cross-province window
    "jsrs-001": "320105-RS",  # Jiangsu handler
    "cdrs-001": "510100-RS",  # Chengdu city handler (a transfer target)
    "qyrs-001": "510105-RS",  # Qingyang county handler (a second origin body)
}
EXTRA_BODIES = {"510100-RS": "cdrs-001", "510105-RS": "qyrs-001"}


def populate(world: World) -> None:
    """Register the bodies and officers beyond make_world's (the transfer target and the
    second origin body)."""
    for body_id, officer_id in EXTRA_BODIES.items():
        world.add_body(body_id, body_id, **BODY_ORGS[body_id][1])
        world.add_officer(body_id, officer_id)


def body_view(body_id: str, region: str, org: Mapping[str, Any]) -> BodyView:
    return BodyView(
        body_id=body_id,
        region=region,
        division=str(org.get("division", "")),
        level=str(org.get("level", "")),
        sector=str(org.get("sector", "")),
        roles=frozenset(org.get("roles", [])),
    )


def fake_entitlement(extra: Mapping[str, BodyView] | None = None) -> Entitlement:
    """An :class:`Entitlement` over a dict of bodies instead of the signed registry."""
    views = {b: body_view(b, region, org) for b, (region, org) in BODY_ORGS.items()}
    views.update(extra or {})
    return Entitlement(views.get, REGION)


# -- catalog versions -----------------------------------------------------------------------

# The packaged catalog has no active direct + joint item: its five (户口迁移, 510000/2/3..7)
# wait for a national deployment. This amendment opens one so the graph can be driven.
OPEN_DIRECT_JOINT = [{"item": "510000/2/3", "field": "status", "value": "active"}]


def packaged_version() -> str:
    return load_catalog(REGION).version


def amended_catalog(changes: list[dict[str, Any]]) -> Catalog:
    return load_catalog(REGION).amended(changes)


def fake_catalogs() -> CatalogVersions:
    return CatalogVersions(
        [load_catalog(REGION), load_catalog(JIANGSU), amended_catalog(OPEN_DIRECT_JOINT)]
    )


def amend_catalog(
    world: World,
    changes: list[dict[str, Any]],
    *,
    base_version: str | None = None,
    signer: Any = None,
) -> tuple[Appended, str]:
    """Sign a ``catalog_amended`` record (by the root unless ``signer``); return the receipt
    and the new version's id."""
    current = world.app.registry.catalogs.current_at(REGION, world.clock.now)
    base = base_version or current or packaged_version()
    appended = world.clerk.append(
        signer or world.root, "catalog_amended", {"base_version": base, "changes": changes}
    )
    base_catalog = world.app.registry.catalogs.get(base)
    assert base_catalog is not None
    return appended, base_catalog.amended(changes).version


# -- combinations of channel and coordination -----------------------------------------------


@dataclass(frozen=True)
class Combo:
    """One channel × coordination graph, with a real item and who plays each actor."""

    name: str
    item: str
    channel: str
    coordination: str
    intake: str  # officer id
    home: str = "rs-001"
    origins: tuple[str, ...] = ()
    catalog_changes: tuple[dict[str, Any], ...] = ()

    @property
    def catalog_version(self) -> str:
        if self.catalog_changes:
            return amended_catalog(list(self.catalog_changes)).version
        return packaged_version()

    def received_body(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "item": self.item,
            "channel": self.channel,
            "coordination": self.coordination,
            "catalog_version": self.catalog_version,
            "applicant": {
                "ref": "ap_" + "a" * 26,  # the vault's format, no vault behind it
                "commitments": {"name": bytes(32), "id_number": bytes(32)},
            },
            "materials": [{"name": "申请表", "sha256": bytes(32)}],
            "home_body": OFFICERS[self.home],
            "jurisdiction": JURISDICTION,
            "origin_bodies": [OFFICERS[o] for o in self.origins],
        }
        body.update(overrides)
        return body

    def officer_for(self, actor: str) -> str:
        """The officer who plays ``actor`` (before any transfer; the first origin body)."""
        return {
            "intake": self.intake,
            "window": self.intake,
            "home": self.home,
            "origin": self.origins[0] if self.origins else "",
            "party": self.intake,
        }[actor]

    def __str__(self) -> str:
        return self.name


TWO_ORIGINS = ("jsrs-001", "qyrs-001")
COMBOS: tuple[Combo, ...] = (
    Combo("online-single", "510000/1/5", "online", "single", intake="rs-001"),
    Combo("online-joint", "510000/1/7", "online", "joint", intake="rs-001", origins=TWO_ORIGINS),
    Combo("proxy-single", "510000/2/23", "proxy", "single", intake="js-001"),
    Combo("proxy-joint", "510000/1/8", "proxy", "joint", intake="js-001", origins=TWO_ORIGINS),
    Combo("direct-single", "510000/3/7", "direct", "single", intake="rs-001"),
    Combo(
        "direct-joint",
        "510000/2/3",
        "direct",
        "joint",
        intake="rs-001",
        origins=TWO_ORIGINS,
        catalog_changes=tuple(OPEN_DIRECT_JOINT),
    ),
)


# -- the graph of one combination -----------------------------------------------------------


def graph(channel: str, coordination: str) -> tuple[Transition, ...]:
    """The table rows a case of this channel and coordination can take."""
    return tuple(
        t
        for t in TRANSITIONS
        if t.state == START or (channel in t.channels and coordination in t.coordinations)
    )


def states_of(rows: Iterable[Transition]) -> list[str]:
    return list(dict.fromkeys(s for t in rows for s in (t.state, t.next)))


def shortest_paths(rows: tuple[Transition, ...]) -> dict[str, tuple[Transition, ...]]:
    """Breadth-first from ``start``: the first shortest path (in table order) to each state."""
    paths: dict[str, tuple[Transition, ...]] = {START: ()}
    queue = deque([START])
    while queue:
        state = queue.popleft()
        for t in rows:
            if t.state == state and t.next not in paths:
                paths[t.next] = (*paths[state], t)
                queue.append(t.next)
    return paths


def expected_allowed(rows: tuple[Transition, ...], state: str) -> set[str]:
    """What may come next in ``state``: its rows, and ``corrected`` once a case exists."""
    allowed = {t.step for t in rows if t.state == state}
    if state != START:
        allowed.add("corrected")
    return allowed


# -- step bodies ----------------------------------------------------------------------------


def step_type(step: str) -> str:
    return step.split(":", 1)[0]


def body_for(step: str, *, to_body: str = "510100-RS", target_seq: int = 1) -> dict[str, Any]:
    """A valid body for a table step (``received`` bodies come from :meth:`Combo.received_body`)."""
    kind, _, refinement = step.partition(":")
    bodies: dict[str, dict[str, Any]] = {
        "form_checked": {
            "result": refinement,
            "reasons": [] if refinement == "pass" else ["材料不全"],
            "identity_verified": True,
        },
        "supplement_requested": {"items": ["身份证复印件"], "reason": "复印件不清晰"},
        "supplemented": {"materials": [{"name": "身份证复印件", "sha256": bytes(range(32))}]},
        "mailed": {"leg": refinement, "courier": "EMS", "tracking_number": f"EMS-{refinement}"},
        "mail_problem": {"problem": "lost", "detail": ""},
        "arrived": {"note": ""},
        "accepted": {"note": ""},
        "refused": {"reasons": ["不符合受理条件"], "basis": "行政许可法第三十二条"},
        "transferred": {"to_body": to_body, "reason": "管辖调整"},
        "co_handled": {"opinion": "同意转移"},
        "suspended": {"reason": "hearing", "detail": "听证"},
        "resumed": {"note": ""},
        "extended": {"working_days": 5, "approval": "head_of_body", "reason": "需现场核查"},
        "decided": {"result": refinement, "reasons": [], "basis": "社会保险法"},
        "delivered": {"method": refinement, "results": []},
        "withdrawn": {"reason": "申请人撤回"},
        "corrected": {"target_seq": target_seq, "reason": "更正笔误"},
        "reopened": {"basis": "administrative_review", "reference": "川府复〔2026〕1号"},
        "rated": {"level": refinement, "channel": "window", "comment": ""},
        "rectification_verified": {"result": refinement, "finding": "窗口答复不清"},
        "rectified": {"measures": "培训窗口人员"},
        "followed_up": {"outcome": "satisfied", "note": ""},
        "rectification_closed": {"note": ""},
    }
    if kind not in bodies:
        raise ValueError(f"no default body for {step!r}")
    return bodies[kind]


# -- drivers --------------------------------------------------------------------------------


class Driver(Protocol):
    combo: Combo
    co_handled: set[str]

    def take(self, officer_id: str, step: str, body: Mapping[str, Any] | None = None) -> object: ...

    @property
    def state(self) -> str: ...


def _body(combo: Combo, step: str, body: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if body is not None:
        return body
    return combo.received_body() if step == "received" else body_for(step)


class UnitCase:
    """A case driven through ``take_step`` with a fake registry (no ledger, no signatures
    checked)."""

    signer = seeded("officer/unit")

    def __init__(
        self,
        combo: Combo,
        catalogs: CatalogVersions | None = None,
        entitlement: Entitlement | None = None,
    ):
        self.combo = combo
        self.catalogs = catalogs or fake_catalogs()
        self.entitlement = entitlement or fake_entitlement()
        self.flow = CaseState()
        self.case_id = uuid.uuid4()
        self.seq = 0
        self.prev = ZERO_HASH
        self.co_handled: set[str] = set()

    @property
    def state(self) -> str:
        return self.flow.state

    def envelope(
        self, officer_id: str, step: str, body: Mapping[str, Any] | None = None
    ) -> Envelope:
        return parse_event(
            build_event(
                self.signer,
                ledger=LEDGER,
                case_id=self.case_id,
                seq=self.seq + 1,
                event_type=step_type(step),
                time=1,
                body_id=OFFICERS.get(officer_id, officer_id),
                officer_id=officer_id,
                prev=self.prev,
                body=_body(self.combo, step, body),
            )
        )

    def take(self, officer_id: str, step: str, body: Mapping[str, Any] | None = None) -> CaseState:
        envelope = self.envelope(officer_id, step, body)
        self.flow = take_step(self.flow, envelope, self.catalogs, self.entitlement)
        self.seq, self.prev = envelope.seq, envelope.hash
        if step == "co_handled":
            self.co_handled.add(officer_id)
        return self.flow


class LedgerCase:
    """A case driven through a real ledger: signed envelopes appended one by one."""

    def __init__(self, world: World, combo: Combo, case_id: uuid.UUID | None = None):
        self.world = world
        self.combo = combo
        self.case_id = case_id or uuid.uuid4()
        self.seq = 0
        self.prev = ZERO_HASH
        self.co_handled: set[str] = set()

    @property
    def state(self) -> str:
        return self.world.app.get_case(self.case_id).flow.state

    @property
    def flow(self) -> CaseState:
        return self.world.app.get_case(self.case_id).flow

    def take(self, officer_id: str, step: str, body: Mapping[str, Any] | None = None) -> Appended:
        officer = self.world.officers[officer_id]
        content = dict(_body(self.combo, step, body))
        if step == "received" and body is None:
            # New cases pin the version current on this ledger (amendments included).
            region = content["item"].split("/")[0]
            current = self.world.app.registry.catalogs.current_at(region, self.world.clock.now)
            content["catalog_version"] = current or content["catalog_version"]
        raw = self.world.event(
            officer,
            self.case_id,
            self.seq + 1,
            self.prev,
            step_type(step),
            content,
        )
        appended = self.world.app.append_event(raw)
        self.seq, self.prev = appended.seq, appended.head.event_hash
        if step == "co_handled":
            self.co_handled.add(officer_id)
        return appended


def co_handle_all(case: Driver) -> None:
    """Let every origin body that has not yet co-handled the case do so."""
    for origin in case.combo.origins:
        if origin not in case.co_handled:
            case.take(origin, "co_handled")


#: Rows the matrix cannot take with the packaged catalog: an extension needs an item whose
#: legal limit allows one (行政许可 or a signed amendment); tests/unit/test_extension.py.
NEEDS_LEGAL_LIMIT = frozenset({"extended"})


def take_transition(case: Driver, t: Transition) -> object:
    """Take one table row with the officer who plays its actor.

    A joint case is decided only after every origin body co-handled it: a rule beyond the
    table, so the origins co-handle first.
    """
    if t.step.startswith("decided:") and case.combo.coordination == "joint":
        co_handle_all(case)
    return case.take(case.combo.officer_for(t.actor), t.step)


def drive(case: Driver, path: Iterable[Transition]) -> None:
    """Take every row of ``path`` (a shortest path from ``start``)."""
    for t in path:
        take_transition(case, t)
