"""tools/workflow_docs.py: docs/workflows.md is exactly what the workflow table draws."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ledger.errors import MalformedEncoding
from ledger.workflow import STATES, STEP_FIELDS, STEP_TYPES, TRANSITIONS, check_body

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMITTED = REPO_ROOT / "docs" / "workflows.md"


def _load_tool() -> ModuleType:
    # tools/ is not a package; load the script by path so the test needs no sys.path tricks.
    spec = importlib.util.spec_from_file_location(
        "workflow_docs", REPO_ROOT / "tools" / "workflow_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


docs = _load_tool()
EDGE = re.compile(r"^\s+(\S+) --> (\S+) : (.+)$")


def _diagrams(text: str) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    """The committed doc's edges ``(from, to, label)`` per ``(channel, coordination)``."""
    found = {}
    for match in re.finditer(r"^### (\w+) × (\w+)\n\n```mermaid\n(.*?)```", text, re.M | re.S):
        edges = [
            (m[1], m[2], m[3].replace("#58;", ":"))
            for line in match[3].splitlines()
            if (m := EDGE.match(line))
        ]
        found[(match[1], match[2])] = edges
    return found


def test_regenerating_equals_the_committed_doc() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == docs.render(), (
        "docs/workflows.md is stale: run tools/workflow_docs.py"
    )


def test_check_mode_exits_1_on_a_stale_doc(tmp_path: Path) -> None:
    out = tmp_path / "workflows.md"
    assert docs.main(["--check", "--out", str(out)]) == 1  # missing
    assert docs.main(["--out", str(out)]) == 0
    assert docs.main(["--check", "--out", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    assert docs.main(["--check", "--out", str(out)]) == 1


def test_one_diagram_per_channel_and_coordination() -> None:
    assert set(_diagrams(COMMITTED.read_text(encoding="utf-8"))) == {
        (c, k) for c in ("online", "proxy", "direct") for k in ("single", "joint")
    }


def test_every_transition_is_drawn_where_it_applies_and_nowhere_else() -> None:
    diagrams = _diagrams(COMMITTED.read_text(encoding="utf-8"))
    for (channel, coordination), edges in diagrams.items():
        expected = [
            ("[*]" if t.state == "start" else t.state, t.next, f"{t.step} ({t.actor})")
            for t in TRANSITIONS
            if channel in t.channels and coordination in t.coordinations
        ]
        assert edges == expected, (channel, coordination)


def test_closed_states_are_marked_in_each_diagram() -> None:
    text = COMMITTED.read_text(encoding="utf-8")
    for channel, coordination in docs.COMBINATIONS:
        drawn = docs.diagram(channel, coordination)
        for state in ("delivered", "refused", "withdrawn"):
            assert f"    {state} --> [*]" in drawn and f"class {state} closed" in drawn
        assert drawn in text


def test_every_state_and_actor_is_explained() -> None:
    assert set(docs.STATE_MEANINGS) == set(STATES)
    assert {t.actor for t in TRANSITIONS} <= set(docs.ACTOR_MEANINGS)


# -- the field table is the body checks' own ---------------------------------------------------


def test_the_doc_draws_the_workflow_s_own_field_table() -> None:
    assert docs.STEP_FIELDS is STEP_FIELDS
    assert list(STEP_FIELDS) == list(STEP_TYPES)


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_a_body_built_from_the_table_is_accepted(step_type: str) -> None:
    check_body(step_type, docs.sample_body(step_type))


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_leaving_out_a_field_fails_exactly_when_the_table_says_required(step_type: str) -> None:
    for spec in STEP_FIELDS[step_type]:
        body = docs.sample_body(step_type)
        del body[spec.name]
        if spec.required:
            with pytest.raises(MalformedEncoding):
                check_body(step_type, body)
        else:
            check_body(step_type, body)


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_a_field_the_table_does_not_name_is_refused(step_type: str) -> None:
    with pytest.raises(MalformedEncoding) as error:
        check_body(step_type, {**docs.sample_body(step_type), "applicant_name": "张三"})
    assert (error.value.reason, error.value.field) == ("malformed", "body.applicant_name")


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_choices_and_limits_are_the_code_s(step_type: str) -> None:
    for spec in STEP_FIELDS[step_type]:
        body = docs.sample_body(step_type)
        if spec.kind == "choice":
            for choice in spec.choices:
                check_body(step_type, {**body, spec.name: choice})
            with pytest.raises(MalformedEncoding):
                check_body(step_type, {**body, spec.name: "no_such_choice"})
        elif spec.kind == "text":
            check_body(step_type, {**body, spec.name: "x" * spec.limit})
            for bad in ("", "x" * (spec.limit + 1)):
                with pytest.raises(MalformedEncoding):
                    check_body(step_type, {**body, spec.name: bad})
        elif spec.kind == "texts" and spec.non_empty:
            with pytest.raises(MalformedEncoding):
                check_body(step_type, {**body, spec.name: []})


def test_refined_steps_of_the_table_use_the_refining_field_s_choices() -> None:
    for t in TRANSITIONS:
        step_type, _, refinement = t.step.partition(":")
        field = docs.refined_by(step_type)
        if not refinement:
            assert field is None, t.step
            continue
        (spec,) = [s for s in STEP_FIELDS[step_type] if s.name == field]
        assert refinement in spec.choices, t.step
