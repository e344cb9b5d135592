"""Planning a demo (pure: the ledger is not touched): the workflow's own transition table
walked with weighted choices, every step checked against the node's rules."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from adapters.demo.applicants import _fake_applicant
from adapters.demo.bodies import _SICHUAN_COUNTIES, HOME_REGION, JIANGSU, BodySpec
from adapters.demo.clock import _DAY, _HOUR, _MINUTE, DEMO_SPAN
from adapters.demo.errors import DemoError
from ledger.catalog import CatalogItem, load_catalog
from ledger.envelope import Envelope
from ledger.errors import LedgerError
from ledger.keys import CatalogVersions
from ledger.personal import PersonalData
from ledger.workflow import RATEABLE_STATES, TRANSITIONS, CaseState, Entitlement, take_step

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
    "extended": 6,
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
        "extended",
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
    # Acceptance and decision take working days, so legs span holidays and some are late
    # (docs/supervision.md); the service standard promises 5 and 15 working days.
    "accepted": (2 * _HOUR, 9 * _DAY),
    "decided:approved": (1 * _DAY, 26 * _DAY),
    "decided:rejected": (1 * _DAY, 26 * _DAY),
}
_DEFAULT_GAP = (10 * _MINUTE, 1 * _DAY)

# How demo applicants rate (好差评): mostly well.
_RATING_WEIGHTS: Mapping[str, float] = {
    "very_satisfied": 60,
    "satisfied": 25,
    "basically_satisfied": 7,
    "dissatisfied": 6,
    "very_dissatisfied": 2,
}
_AFTER = (1 * _DAY, 5 * _DAY)

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
    officer_id: str
    key_id: str  # ``body/officer``: the planner's stand-in for the officer's key


# The demo's catalog amendment: two market-supervision items are 行政许可, so their cases run
# under the statute's limits and may be extended (docs/supervision.md §3).
DEMO_AMENDMENT: tuple[Mapping[str, Any], ...] = (
    {"item": "510000/1/47", "field": "item_type", "value": "行政许可"},
    {"item": "510000/2/52", "field": "item_type", "value": "行政许可"},
)


def head_officer(body: BodySpec) -> str:
    """The demo officer certified as the body's head (负责人): the first one."""
    return body.officer_ids()[0]


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
        self.catalog = load_catalog(HOME_REGION).amended(list(DEMO_AMENDMENT))
        # The node's own rules judge every drafted step: the plan cannot drift from them.
        self.catalogs = CatalogVersions([self.catalog])
        views = {b.body_id: b.view() for b in bodies}
        heads = {f"{b.body_id}/{head_officer(b)}" for b in bodies if "handler" in b.roles}
        self.entitlement = Entitlement(views.get, HOME_REGION, heads.__contains__)
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
        options = self.items[(channel, coordination)]
        permits = [i for i in options if i.item_type == "行政许可"]
        if permits and "extended" not in self.seen and rng.random() < 0.5:
            options = permits  # small demos show an extension too (needs a 行政许可 item)
        item = rng.choice(options)
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
        self._aftercare(case, state)
        case.final_state = state.state
        return case

    def _aftercare(self, case: _Case, state: CaseState) -> None:
        """Most delivered or refused cases are rated (好差评) at the window or through the
        12345 hotline; a 差评 is rectified, sometimes late, sometimes still open. (Ratings
        with the slip's code are signed by the node, not by the officers the demo plays.)"""
        rng = self.rng
        if state.state not in RATEABLE_STATES or rng.random() > 0.7:
            return
        # Poor ratings first, until a rectification has been both dismissed (not upheld) and
        # carried out (rectified) and closed: a small demo shows every step, whatever the draws.
        poor_seen = {"rectification_closed", "rectified"} <= self.seen
        level = (
            "dissatisfied"
            if not poor_seen
            else self._pick_weighted([(lv, w) for lv, w in _RATING_WEIGHTS.items()])
        )
        rater = rng.choice(state.actor_bodies("rater"))
        chain: list[tuple[str, str, dict[str, Any], tuple[int, int]]] = [
            (
                rater,
                "rated",
                {"level": level, "channel": rng.choice(("window", "hotline")), "comment": ""},
                (1 * _DAY, 10 * _DAY),
            )
        ]
        if level in ("dissatisfied", "very_dissatisfied"):
            upheld = "rectification_verified:not_upheld" in self.seen and (
                "rectified" not in self.seen or rng.random() < 0.8
            )
            home = state.home_body
            chain.append(
                (
                    home,
                    "rectification_verified",
                    {"result": "upheld" if upheld else "not_upheld", "finding": "经核实"},
                    (1 * _DAY, 4 * _DAY),
                )
            )
            if upheld:
                chain.append((home, "rectified", {"measures": "已整改"}, (3 * _DAY, 25 * _DAY)))
            chain.append((home, "followed_up", {"outcome": "satisfied", "note": ""}, _AFTER))
            chain.append((home, "rectification_closed", {"note": ""}, (0, 2 * _DAY)))
            if poor_seen and rng.random() < 0.3:
                chain = chain[: rng.randrange(2, len(chain))]  # still open
        for body_id, kind, body, (low, high) in chain:
            at = case.steps[-1].at + rng.randint(low, high)
            step = _Step(body_id, self._officer(body_id), kind, body, at)
            new = self._check(state, step, len(case.steps) + 1)
            if new is None:  # pragma: no cover - a bug in the chain above
                raise DemoError(f"the node would refuse demo step {kind} of case {case.number}")
            case.steps.append(step)
            self.seen.add(kind)
            if kind == "rectification_verified":
                self.seen.add(f"{kind}:{body['result']}")
            state = new

    def _check(self, state: CaseState, step: _Step, seq: int) -> CaseState | None:
        """The state after ``step`` under the node's own rules, or None if they refuse it."""
        draft = _Draft(
            step.type,
            step.body,
            seq,
            step.body_id,
            step.officer_id,
            f"{step.body_id}/{step.officer_id}",
        )
        try:
            # The workflow reads only type, body, seq, body_id and officer_id of an envelope.
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
        officer = head_officer(self.bodies[actor]) if kind == "extended" else self._officer(actor)
        return _Step(actor, officer, kind, body, at)

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
        if kind == "extended":
            left = 10 - state.extended_days  # the statute's maximum for a single body
            if left < 1:
                return None
            return {
                "working_days": rng.randint(1, left),
                "approval": "head_of_body",
                "reason": "需组织现场核查，经本机关负责人批准延长审查期限",
            }
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
