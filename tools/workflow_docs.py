"""Generate ``docs/workflows.md`` from the workflow's own table (``ledger.workflow``).

    .venv/bin/python tools/workflow_docs.py            # (re)write docs/workflows.md
    .venv/bin/python tools/workflow_docs.py --check    # exit 1 if the committed doc differs

The diagrams are drawn from :data:`ledger.workflow.TRANSITIONS` (one Mermaid ``stateDiagram-v2``
per channel × coordination), the closed states from :data:`ledger.reports.CLOSED_STATES`, the
step bodies' fields from :data:`ledger.workflow.STEP_FIELDS` (the same data ``check_body``
interprets).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ledger.personal import APPLICANT_REF_PREFIX
from ledger.ratings.rectification import rectification_limits
from ledger.workflow import (
    ALL_CHANNELS,
    BOTH,
    CLOSED_STATES,
    RATEABLE_STATES,
    RATING_STATES,
    RATING_TRANSITIONS,
    START,
    STATES,
    STEP_FIELDS,
    STEP_TYPES,
    TRANSITIONS,
    UNRATED,
    Field,
    Transition,
    check_body,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "docs" / "workflows.md"
CHANNEL_ORDER = ("online", "proxy", "direct")
COORDINATION_ORDER = ("single", "joint")
COMBINATIONS = tuple((c, k) for c in CHANNEL_ORDER for k in COORDINATION_ORDER)
# Mermaid's stateDiagram parser ends a label at a colon; ``#58;`` is its entity for one.
MERMAID_COLON = "#58;"


STATE_MEANINGS: Mapping[str, str] = {
    START: "before the first step (drawn as the black dot)",
    "received": "application received; 形式审查 and 身份核验 pending where it was received",
    "intake_supplement": "the receiving body waits for materials from the applicant",
    "checked": "passed the window's check; the file is to be mailed to the home body",
    "to_home": "file in the post, window → home body",
    "to_home_problem": "the courier reported a problem on the way to the home body",
    "at_home": "with the home body, to be accepted (受理) or not",
    "home_supplement": "the home body asked for materials; the receiving body collects them",
    "accepted": "accepted (受理); being handled",
    "suspended": "handling paused for a special procedure (hearing, testing, expert review)",
    "decided": "decided; the result is to be delivered",
    "to_applicant": "result in the post to the applicant",
    "to_applicant_problem": "the courier reported a problem on the way to the applicant",
    "to_window": "result in the post to the window",
    "to_window_problem": "the courier reported a problem on the way to the window",
    "at_window": "result at the window, waiting for the applicant",
    "delivered": "result delivered",
    "refused": "not accepted by the home body (不予受理)",
    "intake_refused": "refused at the form check where it was received (形式审查不通过)",
    "withdrawn": "withdrawn by the applicant",
}

ACTOR_MEANINGS: Mapping[str, str] = {
    "intake": "the body that received the case: the window for `proxy`, the home body for "
    "`online` and `direct`",
    "window": "the receiving window (`proxy` only)",
    "home": "the case's current home body: named at `received`, changed by `transferred`",
    "origin": "each origin body named at `received` (joint items, 多地联办), once",
    "party": "any body that took a step on the case (only `corrected`)",
    "rater": "who records a rating: the node (officer `node`, node key, under the home body) "
    "for `online` and `code` ratings, made with the receipt slip's one-time code; an officer "
    "of the intake or the home body for `window` and `hotline` ratings",
}

RATING_STATE_MEANINGS: Mapping[str, str] = {
    UNRATED: "not rated yet",
    "rated": "rated 非常满意, 满意 or 基本满意: nothing to rectify",
    "verifying": "a 差评 (不满意, 非常不满意): the home body verifies it (核实)",
    "rectifying": "the complaint is founded: the home body rectifies (整改)",
    "following_up": "the home body follows up with the applicant (回访: reading the contact "
    "data is a logged personal-data read)",
    "closing": "followed up; to be closed",
    "rectification_closed": "the rectification is closed (办结)",
}


# -- sample bodies: which field refines a step, asked of the code -----------------------------

SAMPLE_REF = APPLICANT_REF_PREFIX + "a" * 26


def sample_value(spec: Field) -> Any:
    """A value the body checks accept for ``spec`` (its first choice)."""
    samples: dict[str, Any] = {
        "text": "x",
        "text?": "",
        "texts": ["x"],
        "references": ["x"],
        "materials": [{"name": "申请表", "sha256": bytes(32)}],
        "applicant": {
            "ref": SAMPLE_REF,
            "commitments": {"name": bytes(32), "id_number": bytes(32)},
        },
        "division": "510104",
        "flag": True,
        "positive": 1,
        "digest": bytes(32),
    }
    return spec.choices[0] if spec.kind == "choice" else samples[spec.kind]


def sample_body(step_type: str) -> dict[str, Any]:
    return {spec.name: sample_value(spec) for spec in STEP_FIELDS[step_type]}


def refined_by(step_type: str) -> str | None:
    """The body field the table refines this step by (``mailed`` → ``leg``), from the code."""
    body = sample_body(step_type)
    step = check_body(step_type, body)
    if ":" not in step:
        return None
    suffix = step.split(":", 1)[1]
    return next(
        spec.name
        for spec in STEP_FIELDS[step_type]
        if spec.kind == "choice" and body[spec.name] == suffix
    )


# -- rendering -------------------------------------------------------------------------------


def transitions_for(channel: str, coordination: str) -> list[Transition]:
    """The transitions a case of this channel and coordination can take, in table order."""
    return [t for t in TRANSITIONS if channel in t.channels and coordination in t.coordinations]


def edge_label(t: Transition) -> str:
    return f"{t.step} ({t.actor})"


def diagram(channel: str, coordination: str) -> str:
    """One ``stateDiagram-v2``: ``[*]`` is the start; closed states also lead to ``[*]``."""
    lines = ["stateDiagram-v2"]
    reached: list[str] = []
    for t in transitions_for(channel, coordination):
        source = "[*]" if t.state == START else t.state
        lines.append(f"    {source} --> {t.next} : {edge_label(t).replace(':', MERMAID_COLON)}")
        reached += [s for s in (t.state, t.next) if s != START]
    closed = [s for s in dict.fromkeys(reached) if s in CLOSED_STATES]
    lines += [f"    {state} --> [*]" for state in closed]
    lines.append("    classDef closed font-weight:bold,stroke-width:3px")
    lines += [f"    class {state} closed" for state in closed]
    return "\n".join(lines)


def _sets(values: frozenset[str], everything: frozenset[str], order: tuple[str, ...]) -> str:
    return "all" if values == everything else ", ".join(v for v in order if v in values)


def _field_type(spec: Field) -> str:
    if spec.kind == "choice":
        return " \\| ".join(f"`{c}`" for c in spec.choices)
    return {
        "text": f"text (≤ {spec.limit})",
        "text?": "text, may be empty",
        "texts": "list of texts" + (", at least one" if spec.non_empty else ""),
        "references": "list of references (license identifiers, document numbers)",
        "materials": "list of `{name, sha256}`",
        "applicant": "`{ref, commitments}`",
        "division": "6-digit division code",
        "flag": "true / false",
        "positive": "integer ≥ 1",
        "digest": "32 bytes",
    }[spec.kind]


INTRO = """\
# Case workflows

*Generated by `tools/workflow_docs.py` from `ledger/workflow/` (`table.py`, `fields.py`); do not
edit by hand (`tools/workflow_docs.py --check` and `tests/unit/test_workflow_docs.py` fail when
it drifts).*

## Steps

A case is a chain of signed envelopes (`docs/envelope.md`); each envelope is one **step**. Its
`type` names what happened (`received`, `mailed`, `decided`, …) and its `body` carries the
details. In the transition table a step is the type refined by the one body field that changes
where the case goes: {refinements}. The ledger accepts a step only when the table allows it from
the case's current state, for the case's channel and coordination, and only from the body that
is the step's **actor**.

## Actors

Every step has exactly one responsible body (收件、经办权责清晰):

{actors}

## Entitlement

Who may act as an actor is read from the signed organization registry (`docs/keys.md`), never
from the envelope alone: home steps need a body with the `handler` role, of the item's sector
(its lead or a cooperating unit), whose division covers the case's jurisdiction in the ledger's
region; window steps need a `cross_province_window` body (another region) or an
`in_province_window` body (same region). `received` also checks the catalog version the case
pins (the item is open, offered through that channel, of that coordination) and names the home
body, the jurisdiction and, for joint items, the origin bodies; `transferred` checks the new
home body the same way. An origin body needs the `handler` role and the item's sector, in
any region and place. A joint case is decided only after every origin body co-handled it.

## States

A state is where the case is; it is rebuilt from the steps. **Closed** states (bold in the
diagrams, leading to the end dot) are left only by `reopened`, after administrative review
(行政复议) or a court ruling.

| state | meaning |
| --- | --- |
{states}

### `corrected`

In every state after `received`, a body may take `corrected` to mark one of **its own** earlier
steps (`target_seq`) as mistaken, with a reason. The state does not change, and the corrected
step stays in the chain: nothing signed is ever removed. It is left out of the diagrams.
"""


def rating_section() -> str:
    """Ratings (好差评) and rectification: their own table over the rating state."""
    lines = ["stateDiagram-v2"]
    for t in RATING_TRANSITIONS:
        source = "[*]" if t.state == UNRATED else t.state
        lines.append(f"    {source} --> {t.next} : {edge_label(t).replace(':', MERMAID_COLON)}")
    lines += ["    rated --> [*]", "    rectification_closed --> [*]"]
    states = "\n".join(f"| `{s}` | {RATING_STATE_MEANINGS[s]} |" for s in RATING_STATES)
    table = "\n".join(
        f"| `{t.state}` | `{t.step}` | `{t.next}` | {t.actor} |" for t in RATING_TRANSITIONS
    )
    limits = rectification_limits("")
    rateable = ", ".join(f"`{s}`" for s in sorted(RATEABLE_STATES))
    return f"""## Ratings and rectification (好差评)

A case is rated once (GB/T 39734), in a case state of {rateable}, on five levels; the rating
and a 差评's rectification (GB/T 39735) move the case's **rating state**, not its state, so a
rated case stays delivered (or refused) and may still be `reopened`. The rating's channel says
who signs it (`docs/envelope.md` §5.5): `window` and `hotline` ratings are recorded and signed
by an officer of the intake or the home body; `online` and `code` ratings are made by the
applicant with the one-time code printed on the receipt slip and signed by the node (officer
id `node`, the node key) under the home body, carrying the code's proof, which must open the
commitment in the case's `received` step. The officer id `node` signs nothing else. The rated
body is the case's home body; it verifies, rectifies, follows up and closes.

Each rectification stage has its own deadline in working days (`ledger/ratings/`,
`rectification_limits.json`, per region): verify {limits["verify"]}, rectify
{limits["rectify"]}, follow up {limits["follow_up"]}, close {limits["close"]} (defaults),
counted from the China date of the step that opens the stage, that day not counted.

```mermaid
{chr(10).join(lines)}
```

| rating state | meaning |
| --- | --- |
{states}

| rating state | step | next rating state | actor |
| --- | --- | --- | --- |
{table}"""


def render() -> str:
    refinements = ", ".join(
        f"`{t}` by `{f}`" for t in STEP_TYPES if (f := refined_by(t)) is not None
    )
    actors = "\n".join(f"- `{a}`: {m}" for a, m in ACTOR_MEANINGS.items())
    states = "\n".join(
        f"| `{s}`{' (closed)' if s in CLOSED_STATES else ''} | {STATE_MEANINGS[s]} |"
        for s in STATES
    )
    parts = [INTRO.format(refinements=refinements, actors=actors, states=states)]
    parts.append(
        "## Diagrams\n\nOne diagram per channel × coordination, with exactly the transitions "
        "that apply to it. An edge reads `step (actor)`."
    )
    for channel, coordination in COMBINATIONS:
        parts.append(
            f"### {channel} × {coordination}\n\n```mermaid\n{diagram(channel, coordination)}\n```"
        )
    parts.append(rating_section())
    rows = [
        "## Transition table\n",
        "| state | step | next state | actor | channels | coordinations |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows += [
        f"| `{t.state}` | `{t.step}` | `{t.next}` | {t.actor} | "
        f"{_sets(t.channels, ALL_CHANNELS, CHANNEL_ORDER)} | "
        f"{_sets(t.coordinations, BOTH, COORDINATION_ORDER)} |"
        for t in TRANSITIONS
    ]
    parts.append("\n".join(rows))
    fields = [
        "## Step bodies\n",
        "Every field below is required unless marked optional, and a body carries no other "
        "field. Personal data never appears in clear (`applicant` holds a vault reference and "
        "HMAC commitments).\n",
        "| step type | field | type | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for step_type in STEP_TYPES:
        refined = refined_by(step_type)
        for n, spec in enumerate(STEP_FIELDS[step_type]):
            notes = [spec.meaning]
            if not spec.required:
                notes.append("optional")
            if spec.name == refined:
                notes.append("refines the step")
            fields.append(
                f"| {f'`{step_type}`' if n == 0 else ''} | `{spec.name}` | {_field_type(spec)} | "
                f"{'; '.join(notes)} |"
            )
    parts.append("\n".join(fields))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.out.exists() or args.out.read_text(encoding="utf-8") != text:
            print(f"{args.out} is stale: run tools/workflow_docs.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
