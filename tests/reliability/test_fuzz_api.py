"""Schemathesis against the committed ``openapi.json`` and the real app, in process.

Every operation gets generated requests, valid by the schema and not, sent with a token of a
principal the authorization matrix lets through (and sometimes none), on a node holding real
cases. Each answer must be no 5xx, a status the operation documents, of the documented media
type, with a body matching the documented schema. The bounded variant always runs; the slow
one (``-m slow``) sends ten times as many.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.reliability.test_authorization import EXPECTED
from tests.support.api_node import ApiNode, api_node

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.json"
DOCUMENT = json.loads(OPENAPI.read_text())
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = {
    f"{op.method.upper()} {op.path}": op
    for op in (result.ok() for result in SCHEMA.get_all_operations())
}
BOUNDED_EXAMPLES = 80  # per operation and generation mode
SLOW_EXAMPLES = 600
sent: dict[tuple[str, GenerationMode], int] = {}


def problem_names_its_reason(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """Every problem says what went wrong in a machine-readable ``reason``, not just a status."""
    if response.headers.get("content-type", [""])[0].startswith("application/problem+json"):
        problem = json.loads(response.content)
        assert problem.get("reason"), (
            f"{case.operation.label}: a problem without a reason: {problem}"
        )
    return None


def principals_for(label: str) -> list[str]:
    """Those the matrix lets through on this route (so the handler runs), and no one."""
    row = EXPECTED.get(label, {})
    allowed = [p for p, status in row.items() if status < 400 or status in (404, 422)]
    return [*allowed, "none"] if "none" not in allowed else allowed


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    with api_node(tmp_path_factory.mktemp("fuzz")) as node:
        for _ in range(3):
            node.proxy_case()
        node.post("/audit/checkpoint", "admin", content_type=None)
        yield node
    total = sum(sent.values())
    operations = len({label for label, _ in sent})
    print(f"\nschemathesis: {total} requests over {operations} operations")


def modes(label: str) -> list[GenerationMode]:
    """Negative data needs something to negate: a parameter or a body."""
    method, path = label.split(" ", 1)
    spec = DOCUMENT["paths"][path][method.lower()]
    negatable = spec.get("parameters") or spec.get("requestBody")
    return [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if negatable else [])


def fuzz(node: ApiNode, label: str, examples: int) -> None:
    for mode in modes(label):
        try:
            fuzz_mode(node, label, mode, examples)
        except hypothesis.errors.Unsatisfiable:
            # Schemathesis finds nothing to negate (say, an unconstrained string in the path).
            if mode is GenerationMode.POSITIVE or sent.get((label, mode), 0):
                raise


def fuzz_mode(node: ApiNode, label: str, mode: GenerationMode, examples: int) -> None:
    operation = OPERATIONS[label]

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.generate],
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        principal=st.sampled_from(principals_for(label)),
    )
    def run(case: schemathesis.Case, principal: str) -> None:
        headers = dict(case.headers or {})
        if principal != "none":
            headers["Authorization"] = f"Bearer {node.tokens[principal]}"
        case.headers = headers
        sent[label, mode] = sent.get((label, mode), 0) + 1
        case.call_and_validate(
            app=node.app,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
                problem_names_its_reason,
            ],
        )

    run()


@pytest.mark.parametrize("label", list(OPERATIONS))
def test_generated_requests_get_documented_answers(node: ApiNode, label: str) -> None:
    fuzz(node, label, BOUNDED_EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("label", list(OPERATIONS))
def test_many_generated_requests_get_documented_answers(node: ApiNode, label: str) -> None:
    fuzz(node, label, SLOW_EXAMPLES)


def test_the_fuzzed_spec_is_the_committed_one() -> None:
    """What is fuzzed is the document a test keeps equal to the code (test_openapi.py)."""
    assert DOCUMENT["paths"].keys() == {op.path for op in OPERATIONS.values()}
