"""Schemathesis against the committed ``openapi.json`` and the real app, in process.

Every operation gets generated requests, valid by the schema and not, sent with a token of a
principal the authorization matrix lets through (and sometimes none), on a node holding real
cases. Each answer must be no 5xx, a status the operation documents, of the documented media
type, with a body matching the documented schema. The bounded variant always runs; the slow
one (``-m slow``) sends ten times as many.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adapters.supervision import scan_alerts
from ledger.audit import verify_ledger
from ledger.envelope import ZERO_HASH, parse_event
from tests.reliability.test_authorization import EXPECTED
from tests.support.api_node import ApiNode, api_node

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.json"
DOCUMENT = json.loads(OPENAPI.read_text())
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)


def _operation(
    result: Ok[APIOperation[Any, Any, Any, Any]] | Err[InvalidSchema],
) -> APIOperation[Any, Any, Any, Any]:
    if isinstance(result, Err):
        raise result.err()  # an operation the committed document fails to describe
    return result.ok()


OPERATIONS = {
    f"{op.method.upper()} {op.path}": op
    for op in (_operation(result) for result in SCHEMA.get_all_operations())
}
BOUNDED_EXAMPLES = 80  # per operation and generation mode
SLOW_EXAMPLES = 600
sent: dict[tuple[str, GenerationMode], int] = {}


def problem_names_its_reason(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """Every problem says what went wrong in a machine-readable ``reason``, not just a status."""
    if response.headers.get("content-type", [""])[0].startswith("application/problem+json"):
        problem = json.loads(response.content)
        assert problem.get("reason"), (
            f"{case.operation.label}: a problem without a reason: {problem}"
        )
    return None


def bounded(examples: int) -> hypothesis.settings:
    """Exactly ``examples`` generated inputs, the same on every run (no shrinking database)."""
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.generate],
    )


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
        # The calendar engine's legs of those cases are all overdue in a year: the alert feed
        # holds alerts to page through.
        now = dt.datetime.now(dt.UTC)
        assert scan_alerts(node.services, now.date() + dt.timedelta(days=365), now=now)
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

    @bounded(examples)
    @given(
        case=operation.as_strategy(generation_mode=mode),
        principal=st.sampled_from(principals_for(label)),
    )
    def run(case: schemathesis.Case[Any], principal: str) -> None:
        headers = CaseInsensitiveDict(case.headers or {})
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


# -- signed envelopes with generated content ---------------------------------------------------
# Schemathesis cannot sign, so its envelopes stop at the signature. These are signed by the
# right officer and posted with the right token, so the generated content reaches the
# workflow's checks of every field.

CANONICAL_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=40)
    | st.binary(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
TEMPLATES: dict[str, tuple[str, dict[str, Any]]] = {
    # step → (the body that signs it, a valid body)
    "form_checked": ("320105-ZWFW", {"result": "pass", "reasons": [], "identity_verified": True}),
    "mailed": (
        "320105-ZWFW",
        {"leg": "window_to_home", "courier": "EMS", "tracking_number": "EMS0001"},
    ),
    "withdrawn": ("320105-ZWFW", {"reason": "申请人撤回"}),
    "arrived": ("510104-RS", {"note": ""}),
    "decided": ("510104-RS", {"result": "approved", "reasons": [], "basis": "条例"}),
    "rated": ("510104-RS", {"level": "satisfied", "channel": "window", "comment": ""}),
    "rectified": ("510104-RS", {"measures": "整改"}),
}


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with one field replaced by any canonical value, dropped, or one added."""
    body = dict(body)
    action = draw(st.sampled_from(["replace", "drop", "add", "nested"]))
    key = draw(st.sampled_from(sorted(body)))
    if action == "replace":
        body[key] = draw(CANONICAL_VALUES)
    elif action == "drop":
        del body[key]
    elif action == "add":
        body[draw(st.text(min_size=1, max_size=12))] = draw(CANONICAL_VALUES)
    elif isinstance(body[key], dict) and body[key]:
        inner = dict(body[key])
        inner[draw(st.sampled_from(sorted(inner)))] = draw(CANONICAL_VALUES)
        body[key] = inner
    else:
        body[key] = [draw(CANONICAL_VALUES)]
    return body


def post_signed(node: ApiNode, case_id: uuid.UUID, step: str, body: dict[str, Any]) -> None:
    """Sign and post; any refusal is a problem with a reason, and changes nothing stored."""
    body_id = TEMPLATES[step][0] if step in TEMPLATES else "320105-ZWFW"
    if step == "received":
        raw = node.envelope(body_id, case_id, 1, ZERO_HASH, step, body)
        path, principal = "/cases", "window"
    else:
        head = node.services.ledger.head(case_id)
        raw = node.envelope(body_id, case_id, head.seq + 1, head.event_hash, step, body)
        path = f"/cases/{case_id}/events"
        principal = "window" if body_id == "320105-ZWFW" else "home"
    before = node.stored()
    response = node.post(path, principal, raw)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        problem = response.json()
        assert problem["reason"], problem
        if problem["reason"] == "malformed":
            assert problem["field"], problem
        assert node.stored() == before, f"refused {step} changed the stored rows: {problem}"


def fuzz_signed(node: ApiNode, examples: int) -> None:
    case_id = node.proxy_case()

    @bounded(examples)
    @given(data=st.data(), step=st.sampled_from(["received", *TEMPLATES]))
    def run(data: st.DataObject, step: str) -> None:
        if step == "received":
            fresh, raw = node.received()
            valid = parse_event(raw).body
            post_signed(node, fresh, step, data.draw(mutated(valid)))
        else:
            post_signed(node, case_id, step, data.draw(mutated(TEMPLATES[step][1])))

    run()
    assert verify_ledger(node.services.ledger).ok


def test_signed_envelopes_with_generated_content(node: ApiNode) -> None:
    fuzz_signed(node, 150)


@pytest.mark.slow
def test_many_signed_envelopes_with_generated_content(node: ApiNode) -> None:
    fuzz_signed(node, 2000)
