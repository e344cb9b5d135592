"""How a cross-province case moves: its steps, the transition table, and who may take each step.

One table, :data:`TRANSITIONS`, is the whole workflow: ``(state, step, next state, actor,
channels, coordinations)``. A *step* is an event type, refined by the one body field that
changes where the case goes (``form_checked:pass``, ``mailed:window_to_home``,
``decided:approved``); ``docs/workflows.md`` draws the table (``tools/workflow_docs.py``), so the
picture cannot drift from the rules.

Each step type's body is data too, :data:`STEP_FIELDS`: :func:`check_body` interprets it (one
small check per field kind) and the doc lists it. A body carries exactly the fields of its step,
nothing else, so personal data cannot ride in a field nobody checks (docs/envelope.md 5.4).

Actors (收件、经办权责清晰 — every step has exactly one responsible body):

- ``intake``: the body that received the case (the window for ``proxy``, the home body for
  ``online`` and ``direct``);
- ``window``: the receiving window (``proxy`` only);
- ``home``: the case's current home body (named at ``received``, changed by ``transferred``);
- ``origin``: one of the origin bodies named at ``received`` (``joint`` items, 多地联办);
- ``party``: any body on the case (``corrected``, which marks that body's own earlier step).

Entitlement (:class:`Entitlement`) checks the organization data of the signed key registry:
home steps by a ``handler`` body of the item's sector (lead or cooperating unit) whose division
contains the case's jurisdiction in the home region; origin bodies by a ``handler`` body of the
item's sector, of any region and place; window steps by a
``cross_province_window`` (another region) or ``in_province_window`` (same region) body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ledger.catalog import CatalogItem
from ledger.envelope import Envelope
from ledger.errors import EnvelopeRejected, LedgerError, MalformedEncoding, StepNotAllowed
from ledger.keys import BodyView, CatalogVersions, KeyRegistry
from ledger.personal import APPLICANT_REF_PREFIX, find_personal_data, is_applicant_ref
from ledger.personal import FIELDS as PERSONAL_FIELDS

ALL_CHANNELS = frozenset({"online", "proxy", "direct"})
ONLINE_OR_DIRECT = frozenset({"online", "direct"})
PROXY = frozenset({"proxy"})
BOTH = frozenset({"single", "joint"})
JOINT = frozenset({"joint"})

_DIVISION = re.compile(r"[1-9][0-9]{5}")


class NotEntitled(EnvelopeRejected):
    reason = "not_entitled"


class ItemNotOpen(EnvelopeRejected):
    """The item cannot be received: pending national deployment, a ministry's system, a check."""

    reason = "item_not_open"


@dataclass(frozen=True)
class Transition:
    state: str
    step: str
    next: str
    actor: str
    channels: frozenset[str] = ALL_CHANNELS
    coordinations: frozenset[str] = BOTH


def _t(
    state: str,
    step: str,
    next_state: str,
    actor: str,
    channels: frozenset[str] = ALL_CHANNELS,
    coordinations: frozenset[str] = BOTH,
) -> Transition:
    return Transition(state, step, next_state, actor, channels, coordinations)


START = "start"
# States before the home body decided: the applicant may still withdraw.
_WITHDRAWABLE_AT_INTAKE = ("received", "intake_supplement")
_WITHDRAWABLE_AT_WINDOW = ("checked", "to_home", "to_home_problem")  # proxy only
_WITHDRAWABLE_BY_HOME = ("at_home", "home_supplement", "accepted", "suspended")

TRANSITIONS: tuple[Transition, ...] = (
    _t(START, "received", "received", "intake"),
    # 形式审查 and 身份核验 where the application was received.
    _t("received", "form_checked:pass", "checked", "intake", PROXY),
    _t("received", "form_checked:pass", "at_home", "intake", ONLINE_OR_DIRECT),
    _t("received", "form_checked:needs_supplement", "intake_supplement", "intake"),
    _t("received", "form_checked:refused", "intake_refused", "intake"),
    _t("intake_supplement", "supplemented", "received", "intake"),
    _t("checked", "supplement_requested", "intake_supplement", "window", PROXY),
    # The file travels from the window to the home body (收受分离).
    _t("checked", "mailed:window_to_home", "to_home", "window", PROXY),
    _t("to_home", "mail_problem", "to_home_problem", "window", PROXY),
    _t("to_home_problem", "mailed:window_to_home", "to_home", "window", PROXY),
    _t("to_home", "arrived", "at_home", "home", PROXY),
    # 受理 / 不予受理, supplements asked by the home body, misrouted files.
    _t("at_home", "accepted", "accepted", "home"),
    _t("at_home", "refused", "refused", "home"),
    _t("at_home", "supplement_requested", "home_supplement", "home"),
    _t("home_supplement", "supplemented", "checked", "window", PROXY),
    _t("home_supplement", "supplemented", "at_home", "home", ONLINE_OR_DIRECT),
    _t("at_home", "transferred", "at_home", "home"),
    # Handling: joint items need every origin body; special procedures pause the clock.
    _t("accepted", "co_handled", "accepted", "origin", ALL_CHANNELS, JOINT),
    _t("accepted", "suspended", "suspended", "home"),
    _t("suspended", "resumed", "accepted", "home"),
    _t("accepted", "decided:approved", "decided", "home"),
    _t("accepted", "decided:rejected", "decided", "home"),
    # Delivering the result: online, by post to the applicant, or back at the window.
    _t("decided", "delivered:online", "delivered", "home"),
    _t("decided", "delivered:at_window", "delivered", "home", frozenset({"direct"})),
    _t("decided", "mailed:home_to_applicant", "to_applicant", "home"),
    _t("to_applicant", "mail_problem", "to_applicant_problem", "home"),
    _t("to_applicant_problem", "mailed:home_to_applicant", "to_applicant", "home"),
    _t("to_applicant", "delivered:post", "delivered", "home"),
    _t("decided", "mailed:home_to_window", "to_window", "home", PROXY),
    _t("to_window", "mail_problem", "to_window_problem", "home", PROXY),
    _t("to_window_problem", "mailed:home_to_window", "to_window", "home", PROXY),
    _t("to_window", "arrived", "at_window", "window", PROXY),
    _t("at_window", "delivered:at_window", "delivered", "window", PROXY),
    # After administrative review (行政复议) or a court ruling.
    _t("decided", "reopened", "accepted", "home"),
    _t("delivered", "reopened", "accepted", "home"),
    _t("refused", "reopened", "at_home", "home"),
    # A refusal at the window's form check is reviewed where it was made.
    _t("intake_refused", "reopened", "received", "intake"),
    *(_t(state, "withdrawn", "withdrawn", "intake") for state in _WITHDRAWABLE_AT_INTAKE),
    *(_t(state, "withdrawn", "withdrawn", "window", PROXY) for state in _WITHDRAWABLE_AT_WINDOW),
    *(_t(state, "withdrawn", "withdrawn", "home") for state in _WITHDRAWABLE_BY_HOME),
)

STATES: tuple[str, ...] = tuple(
    dict.fromkeys([START, *(t.state for t in TRANSITIONS), *(t.next for t in TRANSITIONS)])
)
# ``corrected`` is allowed in every state after ``received`` and leaves the state unchanged.
CORRECTABLE_STATES = frozenset(STATES) - {START}
# Closed: states the table leaves only by ``reopened`` (after review or a court ruling).
CLOSED_STATES = frozenset(
    state
    for state in STATES
    if state != START and all(t.step == "reopened" for t in TRANSITIONS if t.state == state)
)

# -- step bodies --------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One field of a step body: what :func:`check_body` accepts and ``docs/workflows.md`` shows.

    ``kind``: ``text`` (non-empty, ≤ ``limit`` characters), ``text?`` (may be empty, but
    present), ``choice`` (one of ``choices``), ``texts`` (list of non-empty texts; at least one
    with ``non_empty``), ``references`` (as ``texts``, but numbers such as a license serial may
    hold any run of digits: only a resident ID number in clear is refused), ``materials``
    (``[{name, sha256}]``, at least one), ``applicant`` (``{ref, commitments}``), ``division``
    (6-digit GB/T 2260 code), ``flag`` (true / false), ``positive`` (integer ≥ 1).
    ``required=False``: the field may be left out.
    """

    name: str
    kind: str
    meaning: str
    choices: tuple[str, ...] = ()
    required: bool = True
    non_empty: bool = False  # for ``texts``: at least one
    limit: int = 500  # for ``text``: at most this many characters

    def __post_init__(self) -> None:
        if self.kind not in _KIND_CHECKS:
            raise ValueError(f"field {self.name}: unknown kind {self.kind!r}")
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError(f"field {self.name}: choices go with kind 'choice' only")


def _malformed(spec: Field, rule: str, where: str = "") -> MalformedEncoding:
    place = f"body.{spec.name}{where}"
    return MalformedEncoding(f"{place} {rule}", field=place)


def _refuse_personal_data(
    spec: Field, text: str, where: str = "", *, reference: bool = False
) -> None:
    found = find_personal_data(text, reference=reference)
    if found is not None:
        raise _malformed(spec, f"must not carry {found} in clear", where)


def _check_text(spec: Field, value: object) -> None:
    allow_empty = spec.kind == "text?"
    if not isinstance(value, str) or (not value and not allow_empty) or len(value) > spec.limit:
        raise _malformed(
            spec,
            f"must be {'' if allow_empty else 'non-empty '}text of at most {spec.limit} characters",
        )
    _refuse_personal_data(spec, value)


def _check_choice(spec: Field, value: object) -> None:
    if value not in spec.choices:
        raise _malformed(spec, f"must be one of {list(spec.choices)}")


def _check_texts(spec: Field, value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _malformed(spec, "must be a list of texts")
    if spec.non_empty and not value:
        raise _malformed(spec, "must not be empty")
    for n, text in enumerate(value):
        _refuse_personal_data(spec, text, f"[{n}]", reference=spec.kind == "references")


_MATERIAL_FIELDS = frozenset({"name", "sha256"})


def _check_materials(spec: Field, value: object) -> None:
    if not isinstance(value, list) or not value:
        raise _malformed(spec, "lists at least one material")
    for n, material in enumerate(value):
        where = f"[{n}]"
        if not isinstance(material, dict) or set(material) != _MATERIAL_FIELDS:
            raise _malformed(spec, "is {name, sha256}", where)
        if not isinstance(material["name"], str) or not material["name"]:
            raise _malformed(spec, "must be non-empty text", f"{where}.name")
        _refuse_personal_data(spec, material["name"], f"{where}.name")
        digest = material["sha256"]
        if not isinstance(digest, bytes) or len(digest) != 32:
            raise _malformed(spec, "must be 32 bytes", f"{where}.sha256")


_COMMITTED_FIELDS = frozenset(PERSONAL_FIELDS)
_COMMITTED_ALWAYS = frozenset({"name", "id_number"})


def _check_applicant(spec: Field, value: object) -> None:
    # docs/envelope.md 5.4: personal data never enters an envelope in clear, so the reference
    # must be a vault reference (not a name or an ID number) and the rest 32-byte HMACs.
    if not isinstance(value, dict) or set(value) != {"ref", "commitments"}:
        raise _malformed(spec, "is {ref, commitments}")
    ref = value["ref"]
    if not isinstance(ref, str) or not is_applicant_ref(ref):
        raise _malformed(
            spec,
            f"must be a vault reference, {APPLICANT_REF_PREFIX} + 26 lower-case base32 "
            "characters; personal data never enters an envelope in clear",
            ".ref",
        )
    commitments = value["commitments"]
    if (
        not isinstance(commitments, dict)
        or not _COMMITTED_ALWAYS <= set(commitments) <= _COMMITTED_FIELDS
        or not all(isinstance(v, bytes) and len(v) == 32 for v in commitments.values())
    ):
        raise _malformed(
            spec,
            "maps name, id_number (and phone, address) to 32-byte HMACs; personal data never "
            "enters an envelope in clear",
            ".commitments",
        )


def _check_division(spec: Field, value: object) -> None:
    if not isinstance(value, str) or not _DIVISION.fullmatch(value):
        raise _malformed(spec, "must be a 6-digit division code (GB/T 2260)")


def _check_flag(spec: Field, value: object) -> None:
    if not isinstance(value, bool):
        raise _malformed(spec, "must be true or false")


def _check_positive(spec: Field, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _malformed(spec, "must be a positive integer")


_KIND_CHECKS: Mapping[str, Callable[[Field, object], None]] = {
    "text": _check_text,
    "text?": _check_text,
    "choice": _check_choice,
    "texts": _check_texts,
    "references": _check_texts,
    "materials": _check_materials,
    "applicant": _check_applicant,
    "division": _check_division,
    "flag": _check_flag,
    "positive": _check_positive,
}

#: Every step type and the fields of its body, in order: the one source :func:`check_body`
#: checks against and ``tools/workflow_docs.py`` draws. A body carries these fields only.
STEP_FIELDS: Mapping[str, tuple[Field, ...]] = {
    "received": (
        Field("item", "text", "the catalog item key, `region/batch/seq`"),
        Field("channel", "choice", "how the application came in", ("online", "proxy", "direct")),
        Field("coordination", "choice", "one body or several (多地联办)", ("single", "joint")),
        Field("catalog_version", "text", "the catalog version the case pins"),
        Field(
            "applicant",
            "applicant",
            "`{ref, commitments}`: a vault reference (`ap_` + 26 base32 characters) and HMACs",
        ),
        Field("materials", "materials", "`[{name, sha256}]`, at least one"),
        Field("home_body", "text", "the body that decides the case"),
        Field("jurisdiction", "division", "the place the case belongs to (GB/T 2260)"),
        Field("origin_bodies", "texts", "bodies that co-handle a joint item", required=False),
    ),
    "form_checked": (
        Field("result", "choice", "形式审查 outcome", ("pass", "needs_supplement", "refused")),
        Field("reasons", "texts", "why, when not passed", required=False),
        Field("identity_verified", "flag", "身份核验 done"),
    ),
    "supplement_requested": (
        Field("items", "texts", "what is missing", non_empty=True),
        Field("reason", "text", "why it is needed"),
    ),
    "supplemented": (Field("materials", "materials", "the added materials"),),
    "mailed": (
        Field(
            "leg",
            "choice",
            "which way the file travels",
            ("window_to_home", "home_to_window", "home_to_applicant"),
        ),
        Field("courier", "text", "the carrier"),
        Field("tracking_number", "text", "the carrier's number", limit=64),
    ),
    "mail_problem": (
        Field("problem", "choice", "what went wrong", ("lost", "returned", "damaged")),
        Field("detail", "text?", "free text"),
    ),
    "arrived": (Field("note", "text?", "free text"),),
    "accepted": (Field("note", "text?", "free text"),),
    "refused": (
        Field("reasons", "texts", "why not accepted (不予受理)", non_empty=True),
        Field("basis", "text", "the legal basis"),
    ),
    "transferred": (
        Field("to_body", "text", "the new home body (a handler entitled to the item)"),
        Field("reason", "text", "why"),
    ),
    "co_handled": (Field("opinion", "text", "the origin body's opinion"),),
    "suspended": (
        Field(
            "reason",
            "choice",
            "the special procedure",
            ("hearing", "testing", "expert_review", "other"),
        ),
        Field("detail", "text?", "free text"),
    ),
    "resumed": (Field("note", "text?", "free text"),),
    "decided": (
        Field("result", "choice", "the decision", ("approved", "rejected")),
        Field("reasons", "texts", "why", required=False),
        Field("basis", "text", "the legal basis"),
    ),
    "delivered": (
        Field(
            "method",
            "choice",
            "how the result reached the applicant",
            ("online", "post", "at_window"),
        ),
        Field("results", "references", "result documents (references)", required=False),
    ),
    "withdrawn": (Field("reason", "text", "the applicant's stated reason"),),
    "corrected": (
        Field("target_seq", "positive", "the seq of the body's own earlier step it corrects"),
        Field("reason", "text", "what was wrong"),
    ),
    "reopened": (
        Field("basis", "choice", "why", ("administrative_review", "court_ruling")),
        Field("reference", "text", "the decision's reference number"),
    ),
}
STEP_TYPES: tuple[str, ...] = tuple(STEP_FIELDS)
# The one body field that refines a step in the table.
_REFINED_BY = {
    "form_checked": "result",
    "mailed": "leg",
    "decided": "result",
    "delivered": "method",
}


def check_body(step_type: str, body: Mapping[str, Any]) -> str:
    """Validate a step's body; return its table step (``type`` or ``type:refinement``)."""
    fields = STEP_FIELDS.get(step_type)
    if fields is None:
        raise MalformedEncoding(
            f"unknown step type {step_type!r}; known: {', '.join(STEP_TYPES)}", field="type"
        )
    names = [spec.name for spec in fields]
    # A field the step does not define is refused, not ignored: personal data could ride in it.
    for name in body:
        if name not in names:
            raise MalformedEncoding(
                f"body.{name} is not a field of a {step_type} step (fields: {', '.join(names)})",
                field=f"body.{name}",
            )
    for spec in fields:
        if spec.name in body or spec.required:
            _KIND_CHECKS[spec.kind](spec, body.get(spec.name))
    refined_by = _REFINED_BY.get(step_type)
    return f"{step_type}:{body[refined_by]}" if refined_by else step_type


# -- case state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseState:
    """Where a case is and who is on it; rebuilt from its steps."""

    state: str = START
    item: str = ""
    channel: str = ""
    coordination: str = ""
    catalog_version: str = ""
    jurisdiction: str = ""
    intake_body: str = ""
    home_body: str = ""
    origin_bodies: tuple[str, ...] = ()
    co_handled_by: frozenset[str] = frozenset()
    steps_by_body: Mapping[int, str] = field(default_factory=dict)  # seq -> body that took it

    def allowed_steps(self) -> list[str]:
        """The table steps possible next from here (for this channel and coordination)."""
        steps = [
            t.step
            for t in TRANSITIONS
            if t.state == self.state
            and (
                self.state == START
                or (self.channel in t.channels and self.coordination in t.coordinations)
            )
        ]
        if self.state in CORRECTABLE_STATES:
            steps.append("corrected")
        return list(dict.fromkeys(steps))

    def transition(self, step: str) -> Transition:
        for t in TRANSITIONS:
            if (
                t.state == self.state
                and t.step == step
                and (
                    self.state == START
                    or (self.channel in t.channels and self.coordination in t.coordinations)
                )
            ):
                return t
        allowed = ", ".join(self.allowed_steps()) or "none (the case is closed)"
        raise StepNotAllowed(
            f"step {step!r} is not allowed in state {self.state!r}; allowed next: {allowed}",
            field="type",
        )

    def actor_bodies(self, actor: str) -> tuple[str, ...]:
        """The bodies that may act as ``actor`` on this case now."""
        if actor == "intake":
            return (self.intake_body,)
        if actor == "window":
            return (self.intake_body,) if self.channel == "proxy" else ()
        if actor == "home":
            return (self.home_body,)
        if actor == "origin":
            return tuple(b for b in self.origin_bodies if b not in self.co_handled_by)
        return ()


def catalog_item(catalogs: CatalogVersions, version: str, item_key: str) -> CatalogItem:
    """The item as the pinned catalog version has it, or the refusal naming the field."""
    catalog = catalogs.get(version)
    if catalog is None:
        raise EnvelopeRejected(
            f"catalog version {version} is not known to this ledger",
            reason="unknown_catalog_version",
            field="body.catalog_version",
        )
    for item in catalog.items:
        if item.item_key == item_key:
            return item
    raise EnvelopeRejected(
        f"catalog version {version[:12]}… of region {catalog.region} has no item {item_key}",
        reason="unknown_item",
        field="body.item",
    )


def _contains(division: str, level: str, jurisdiction: str) -> bool:
    """Whether a body at ``division``/``level`` covers the place ``jurisdiction``."""
    prefix = {"province": 2, "city": 4}.get(level, 6)
    return jurisdiction[:prefix] == division[:prefix]


class Entitlement:
    """Decides whether a body may act on a case, from the signed organization registry."""

    def __init__(self, bodies: Callable[[str], BodyView | None], home_region: str):
        self.bodies = bodies
        self.home_region = home_region

    def known(self, body_id: str, field_name: str) -> BodyView:
        body = self.bodies(body_id)
        if body is None:
            raise NotEntitled(
                f"body {body_id!r} is not in the organization registry", field=field_name
            )
        return body

    def check_handler(
        self, body_id: str, item: CatalogItem, jurisdiction: str, field_name: str
    ) -> None:
        body = self.known(body_id, field_name)
        sectors = {item.sector, *item.cooperating_sectors}
        problems = []
        if body.region != self.home_region:
            problems.append(
                f"is in region {body.region}, the case's home region is {self.home_region}"
            )
        if "handler" not in body.roles:
            problems.append("has no handler role")
        if body.sector not in sectors:
            problems.append(
                f"is of sector {body.sector!r}, the item needs one of {sorted(sectors)}"
            )
        if not _contains(body.division, body.level, jurisdiction):
            problems.append(f"({body.level} {body.division}) does not cover {jurisdiction}")
        if problems:
            raise NotEntitled(f"body {body_id} " + "; ".join(problems), field=field_name)

    def check_origin(self, body_id: str, item: CatalogItem, field_name: str) -> None:
        """An origin body of a joint case (多地联办) reads its applicant in clear and
        co-handles it: a handler of the item's sector. It may be of any region and place
        (it is where the applicant's file comes from), so neither is checked."""
        body = self.known(body_id, field_name)
        sectors = {item.sector, *item.cooperating_sectors}
        problems = []
        if "handler" not in body.roles:
            problems.append("has no handler role")
        if body.sector not in sectors:
            problems.append(
                f"is of sector {body.sector!r}, the item needs one of {sorted(sectors)}"
            )
        if problems:
            raise NotEntitled(f"origin body {body_id} " + "; ".join(problems), field=field_name)

    def check_window(self, body_id: str) -> None:
        body = self.known(body_id, "actor.body")
        role = "in_province_window" if body.region == self.home_region else "cross_province_window"
        if role not in body.roles:
            raise NotEntitled(f"body {body_id} has no {role} role", field="actor.body")


def _opened(envelope: Envelope) -> CaseState:
    body = envelope.body
    return CaseState(
        state="received",
        item=body["item"],
        channel=body["channel"],
        coordination=body["coordination"],
        catalog_version=body["catalog_version"],
        jurisdiction=body["jurisdiction"],
        intake_body=envelope.body_id,
        home_body=body["home_body"],
        origin_bodies=tuple(body.get("origin_bodies", [])),
        steps_by_body={envelope.seq: envelope.body_id},
    )


def advance(state: CaseState, envelope: Envelope) -> CaseState:
    """The state after a step already accepted (no entitlement checks: replaying stored steps).

    A step the table does not allow leaves the state as it was; the audit reports it.
    """
    try:
        step = check_body(envelope.type, envelope.body)
        if state.state == START:
            return _opened(envelope) if step == "received" else state
        taken = {**state.steps_by_body, envelope.seq: envelope.body_id}
        if step == "corrected":
            return replace(state, steps_by_body=taken)
        new = replace(state, state=state.transition(step).next, steps_by_body=taken)
    except LedgerError:  # a step the rules refuse (only a permissive policy stores one)
        return state
    if step == "transferred":
        new = replace(new, home_body=envelope.body["to_body"])
    elif step == "reopened":
        # A reopened joint case is co-handled afresh by its origin bodies.
        new = replace(new, co_handled_by=frozenset())
    elif step == "co_handled":
        new = replace(new, co_handled_by=state.co_handled_by | {envelope.body_id})
    return new


def check_received(
    envelope: Envelope,
    catalogs: CatalogVersions,
    entitlement: Entitlement,
    moment: int | None = None,
) -> None:
    """Refuse a ``received`` step the catalog or the organization registry does not allow.

    With ``moment`` (the receipt time), a new case must pin the catalog version current then:
    an amendment cannot be sidestepped by pinning an older version.
    """
    body = envelope.body
    item = catalog_item(catalogs, body["catalog_version"], body["item"])
    current = catalogs.current_at(item.region, moment) if moment is not None else None
    if current is not None and current != body["catalog_version"]:
        raise EnvelopeRejected(
            f"new cases pin the current catalog version {current}, not {body['catalog_version']}",
            reason="stale_catalog_version",
            field="body.catalog_version",
        )
    if item.region != entitlement.home_region:
        raise EnvelopeRejected(
            f"item {item.item_key} belongs to region {item.region}; a case lives in the ledger "
            "of the region whose body decides it",
            reason="wrong_ledger",
            field="body.item",
        )
    if item.status in ("pending", "national_system", "verify"):
        why = {
            "pending": "waits for a national deployment (待统一部署)",
            "national_system": "is handled in a ministry's national system",
            "verify": "is a certificate check, handled by the license module",
        }[item.status]
        raise ItemNotOpen(f"item {item.item_key} {item.national_name} {why}", field="body.item")
    channel = body["channel"]
    if channel not in item.channels:
        raise EnvelopeRejected(
            f"item {item.item_key} is not offered through {channel!r} (only "
            f"{', '.join(item.channels)})",
            reason="channel_not_offered",
            field="body.channel",
        )
    if body["coordination"] != item.coordination:
        raise EnvelopeRejected(
            f"item {item.item_key} is {item.coordination} in catalog version {item_version(body)}",
            reason="wrong_coordination",
            field="body.coordination",
        )
    origins = body.get("origin_bodies", [])
    if item.coordination == "joint" and not origins:
        raise EnvelopeRejected(
            f"item {item.item_key} is handled jointly (多地联办): name its origin bodies",
            reason="missing_origin",
            field="body.origin_bodies",
        )
    if item.coordination == "single" and origins:
        raise EnvelopeRejected(
            f"item {item.item_key} is not handled jointly",
            reason="unexpected_origin",
            field="body.origin_bodies",
        )
    if not body["jurisdiction"].startswith(entitlement.home_region[:2]):
        raise EnvelopeRejected(
            f"jurisdiction {body['jurisdiction']} is outside region {entitlement.home_region}",
            reason="wrong_jurisdiction",
            field="body.jurisdiction",
        )
    entitlement.check_handler(body["home_body"], item, body["jurisdiction"], "body.home_body")
    for n, origin in enumerate(origins):
        entitlement.check_origin(origin, item, f"body.origin_bodies[{n}]")
    if channel == "proxy":
        entitlement.check_window(envelope.body_id)
    elif envelope.body_id != body["home_body"]:
        raise NotEntitled(
            f"an {channel} case is received by its home body {body['home_body']}, not "
            f"{envelope.body_id}",
            field="actor.body",
        )


def item_version(body: Mapping[str, Any]) -> str:
    return f"{str(body.get('catalog_version', ''))[:12]}…"


def take_step(
    state: CaseState,
    envelope: Envelope,
    catalogs: CatalogVersions,
    entitlement: Entitlement,
    moment: int | None = None,
) -> CaseState:
    """The case state after ``envelope``, or the refusal naming the state, the steps allowed
    next and the field."""
    step = check_body(envelope.type, envelope.body)
    if state.state == START:
        state.transition(step)  # only ``received`` opens a case
        check_received(envelope, catalogs, entitlement, moment)
        return advance(state, envelope)
    if step == "corrected":
        target = envelope.body["target_seq"]
        if target >= envelope.seq or state.steps_by_body.get(target) != envelope.body_id:
            raise StepNotAllowed(
                f"a body corrects only its own earlier step; seq {target} was not taken by "
                f"{envelope.body_id}",
                field="body.target_seq",
            )
        return advance(state, envelope)
    transition = state.transition(step)
    bodies = state.actor_bodies(transition.actor)
    if envelope.body_id not in bodies:
        who = ", ".join(bodies) or "no body"
        raise NotEntitled(
            f"step {step!r} in state {state.state!r} is taken by the {transition.actor} body "
            f"({who}), not {envelope.body_id}",
            field="actor.body",
        )
    if step == "transferred":
        to_body = envelope.body["to_body"]
        if to_body == state.home_body:
            raise StepNotAllowed("a case is transferred to another body", field="body.to_body")
        item = catalog_item(catalogs, state.catalog_version, state.item)
        entitlement.check_handler(to_body, item, state.jurisdiction, "body.to_body")
    elif step.startswith("decided:") and state.coordination == "joint":
        waiting = [b for b in state.origin_bodies if b not in state.co_handled_by]
        if waiting:
            raise StepNotAllowed(
                "a joint case is decided after every origin body co-handled it; waiting for "
                f"{', '.join(waiting)}",
                field="type",
            )
    return advance(state, envelope)


class WorkflowPolicy:
    """No rules beyond the table-free core: for tests of the signed core and for tools."""

    def step(
        self, state: CaseState, envelope: Envelope, registry: KeyRegistry, moment: int | None = None
    ) -> CaseState:
        """The state after ``envelope`` received at ``moment``; raise ``EnvelopeRejected`` to
        refuse it."""
        return advance(state, envelope)


class CaseWorkflow(WorkflowPolicy):
    """The real rules: the transition table, the pinned catalog, the organization registry."""

    def step(
        self, state: CaseState, envelope: Envelope, registry: KeyRegistry, moment: int | None = None
    ) -> CaseState:
        entitlement = Entitlement(registry.body_view, registry.home_region)
        return take_step(state, envelope, registry.catalogs, entitlement, moment)
