"""Step bodies: the fields of each step type, as data, and the one check that reads them.

Each step type's body is data, :data:`STEP_FIELDS`: :func:`check_body` interprets it (one small
check per field kind) and ``docs/workflows.md`` lists it. A body carries exactly the fields of
its step, nothing else, so personal data cannot ride in a field nobody checks
(docs/envelope.md 5.4).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ledger.errors import MalformedEncoding
from ledger.personal import APPLICANT_REF_PREFIX, find_personal_data, is_applicant_ref
from ledger.personal import FIELDS as PERSONAL_FIELDS

_DIVISION = re.compile(r"[1-9][0-9]{5}")

#: The five levels of GB/T 39734, best first: 非常满意, 满意, 基本满意, 不满意, 非常不满意.
RATING_LEVELS = (
    "very_satisfied",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "very_dissatisfied",
)
#: 差评: the levels that open a rectification.
POOR_LEVELS = frozenset({"dissatisfied", "very_dissatisfied"})
RATING_CHANNELS = ("window", "hotline", "online", "code")
#: Channels whose ratings the node signs (bound to the slip's code); officers sign the others.
NODE_SIGNED_CHANNELS = frozenset({"online", "code"})


@dataclass(frozen=True)
class Field:
    """One field of a step body: what :func:`check_body` accepts and ``docs/workflows.md`` shows.

    ``kind``: ``text`` (non-empty, ≤ ``limit`` characters), ``text?`` (may be empty, but
    present), ``choice`` (one of ``choices``), ``texts`` (list of non-empty texts; at least one
    with ``non_empty``), ``references`` (as ``texts``, but numbers such as a license serial may
    hold any run of digits: only a resident ID number in clear is refused), ``materials``
    (``[{name, sha256}]``, at least one), ``applicant`` (``{ref, commitments}``), ``division``
    (6-digit GB/T 2260 code), ``flag`` (true / false), ``positive`` (integer ≥ 1), ``digest``
    (32 bytes: a SHA-256 value).
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


def _check_digest(spec: Field, value: object) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise _malformed(spec, "must be 32 bytes")


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
    "digest": _check_digest,
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
        Field(
            "rating_code",
            "digest",
            "commitment to the one-time rating code on the receipt slip (envelope.md §5.5)",
            required=False,
        ),
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
    "extended": (
        Field("working_days", "positive", "working days added to the decision leg"),
        Field(
            "approval",
            "choice",
            "who approved: the body's head (Art. 42) or the government at that level (Art. 26)",
            ("head_of_body", "government"),
        ),
        Field("reason", "text", "why, as the applicant is told"),
        Field(
            "reference", "text", "the government's approval document (`government`)", required=False
        ),
    ),
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
    # 好差评 (GB/T 39734) and the rectification of a poor rating (GB/T 39735).
    "rated": (
        Field("level", "choice", "the applicant's rating (好差评)", RATING_LEVELS),
        Field(
            "channel",
            "choice",
            "how the rating came in: at the window or the 12345 hotline (an officer records "
            "it), online or with the slip's code (the node signs it)",
            RATING_CHANNELS,
        ),
        Field("comment", "text?", "the applicant's words", required=False),
        Field(
            "code_proof",
            "digest",
            "proof of the slip's rating code: `online` and `code` only (envelope.md §5.5)",
            required=False,
        ),
    ),
    "rectification_verified": (
        Field("result", "choice", "核实: is the complaint founded", ("upheld", "not_upheld")),
        Field("finding", "text", "what the check found"),
    ),
    "rectified": (Field("measures", "text", "整改: what was done"),),
    "followed_up": (
        Field(
            "outcome",
            "choice",
            "回访: what the applicant said",
            ("satisfied", "not_satisfied", "unreachable"),
        ),
        Field("note", "text?", "free text"),
    ),
    "rectification_closed": (Field("note", "text?", "free text"),),
}
STEP_TYPES: tuple[str, ...] = tuple(STEP_FIELDS)
# The one body field that refines a step in the table.
_REFINED_BY = {
    "form_checked": "result",
    "mailed": "leg",
    "decided": "result",
    "delivered": "method",
    "rated": "level",
    "rectification_verified": "result",
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
    return table_step(step_type, body)


def table_step(step_type: str, body: Mapping[str, Any]) -> str:
    """The table step (``type`` or ``type:refinement``) of a body :func:`check_body` passed,
    without checking it again."""
    refined_by = _REFINED_BY.get(step_type)
    return f"{step_type}:{body[refined_by]}" if refined_by else step_type
