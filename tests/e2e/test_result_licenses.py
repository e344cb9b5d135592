"""The 送达 forms of the case page fill in the result license (``api/page_results.py``;
``docs/pages.md``, "License issuance"): after an approved decision of an item that results in
a license, the identifier the home body will issue (``tongban license id``'s) is in the
``results`` field, with a note saying where it came from; nothing after a refusal; a note,
and nothing filled in, when this node holds no trust list naming the home body's USCC. The
browser walk that signs such a step and issues the license is
``tests/browser/test_enrolment.py``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from html import unescape

import pytest

from api.license_client import identifier_for
from tests.e2e.test_login_sessions import _log_in
from tests.support import licenses
from tests.support.api_node import ApiNode, api_node

HOME = licenses.ISSUER
RESULTS = re.compile(
    r'<textarea id="delivered-post-results"[^>]*>(?P<text>[^<]*)</textarea>'
    r'(?:<p class="hint" id="delivered-post-results-hint">(?P<hint>.*?)</p>)?'
)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    """A node that holds no trust list."""
    with api_node(tmp_path_factory.mktemp("result-licenses")) as served:
        yield served


@pytest.fixture(scope="module")
def licensed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    """A node whose trust list names 510104-RS's license key and USCC."""
    with api_node(tmp_path_factory.mktemp("result-licenses-licensed")) as served:
        licenses.enable_licenses(served)
        yield served


def _mailed_to_applicant(node: ApiNode, result: str) -> uuid.UUID:
    """A proxy case decided ``result`` by the home body and mailed to the applicant: the
    home body's 送达（邮寄） form is next."""
    case_id = node.proxy_case()
    decided = {"result": result, "reasons": [] if result == "approved" else ["不符合条件"]}
    for step, body in (
        ("arrived", {"note": ""}),
        ("accepted", {"note": ""}),
        ("decided", {**decided, "basis": "社会保障卡管理办法"}),
        ("mailed", {"leg": "home_to_applicant", **licenses.MAIL}),
    ):
        answer = node.step(case_id, HOME, step, body)
        assert answer.status_code == 201, answer.text
    return case_id


def _results_field(node: ApiNode, case_id: uuid.UUID) -> tuple[str, str]:
    """The 送达（邮寄） form's ``results`` text and note, as the home officer's page has them."""
    browser, _ = _log_in(node, HOME)
    page = browser.get(f"/pages/cases/{case_id}")
    assert page.status_code == 200, page.text
    found = RESULTS.search(page.text)
    assert found is not None, page.text
    return unescape(found["text"]), found["hint"] or ""


def test_without_a_trust_list_the_form_says_where_the_identifier_comes_from(
    node: ApiNode,
) -> None:
    text, hint = _results_field(node, _mailed_to_applicant(node, "approved"))
    assert text == ""
    assert "社会保障卡" in hint and f"没有受理部门 {HOME} 所在地区的信任列表" in hint
    assert "tongban license id" in hint


def test_an_approved_case_gets_its_license_identifier_filled_in(licensed: ApiNode) -> None:
    node = licensed
    case_id = _mailed_to_applicant(node, "approved")
    text, hint = _results_field(node, case_id)
    identifier = identifier_for(case_id, licenses.CARD, licenses.RS_USCC).text
    assert text == identifier
    assert f"社会保障卡 <code>{identifier}</code>" in hint and HOME in hint
    # The step the form makes lists it, and the home body may then issue that license.
    answer = node.step(case_id, HOME, "delivered", {"method": "post", "results": [text]})
    assert answer.status_code == 201, answer.text
    prepared = licenses.client(node).http_json(
        "POST", "/licenses/prepare", {"case": str(case_id), "identifier": identifier}
    )
    assert prepared["delivered_seq"] == 8


def test_a_refused_case_gets_nothing_filled_in(licensed: ApiNode) -> None:
    text, hint = _results_field(licensed, _mailed_to_applicant(licensed, "rejected"))
    assert (text, hint) == ("", "")


def test_nothing_is_filled_in_for_a_form_other_than_delivered(licensed: ApiNode) -> None:
    case_id = licensed.proxy_case()
    browser, _ = _log_in(licensed, HOME)
    page = browser.get(f"/pages/cases/{case_id}").text
    assert 'data-step="arrived"' in page and "-results-hint" not in page
