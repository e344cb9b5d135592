"""Token sessions and the supervisors' page (``POST /login/token``, ``/pages/supervision``):
an auditor, a supervisor or the administrator, who sign nothing, open a page session with
their API token; a body or peer token opens none; the session ends at logout and at once when
the token is revoked; the page shows the overdue legs of the supervisor's scope only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from api.deps import SESSION_COOKIE
from ledger.calendars import china_date
from ledger.read_models import Leg
from tests.support.api_node import ApiNode, api_node
from tests.support.planned_legs import PlannedLegs


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiNode, dict[str, str]]]:
    legs = PlannedLegs()
    with api_node(tmp_path_factory.mktemp("token-sessions"), legs=legs) as node:
        today = china_date(node.services.clock())
        mine, theirs = node.proxy_case(), node.proxy_case()
        started = today - timedelta(days=30)
        late = today - timedelta(days=3)
        legs.planned[mine] = [Leg("decision", started, late, 15, 0, False, "510104-RS")]
        legs.planned[theirs] = [Leg("acceptance", started, late, 5, 0, False, "510000-ZWFW")]
        assert node.services.follower is not None
        node.services.follower.rebuild()
        yield node, {"mine": str(mine), "theirs": str(theirs)}


def _log_in(node: ApiNode, principal: str) -> tuple[httpx.Client, httpx.Response]:
    browser = node.client.__class__(node.app)
    return browser, browser.post("/login/token", json={"token": node.tokens[principal]})


def test_a_supervisor_logs_in_with_a_token_and_sees_its_scopes_overdue_legs(
    served: tuple[ApiNode, dict[str, str]],
) -> None:
    node, cases = served
    browser, answer = _log_in(node, "supervisor")
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert (shown["kind"], shown["subject"]) == ("supervisor", "510100")
    assert len(shown["csrf_token"]) == 64
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert node.tokens["supervisor"] not in cookie  # the browser keeps a session, not the token
    page = browser.get("/pages/supervision")
    assert page.status_code == 200, page.text
    overdue = page.text.split('id="overdue"', 1)[1].split("</table>", 1)[0]
    assert cases["mine"][:8] in overdue and "审查决定" in overdue and "已超期" in overdue
    assert cases["theirs"][:8] not in page.text  # 510000-ZWFW is outside 510100
    assert "510104-RS" in page.text.split('id="by-body"', 1)[1].split("</table>", 1)[0]
    assert "/bulletins/" in page.text and "监督员 510100" in page.text
    # The same session reads the API routes (the bulletin's page links there).
    month = china_date(node.services.clock()).strftime("%Y-%m")
    assert browser.get(f"/bulletins/{month}", params={"format": "html"}).status_code == 200
    # An officer's page sends it back to its own.
    worklist = browser.get("/pages/worklist", follow_redirects=False)
    assert (worklist.status_code, worklist.headers["location"]) == (303, "/pages/supervision")


def test_an_auditor_and_the_administrator_see_every_body(
    served: tuple[ApiNode, dict[str, str]],
) -> None:
    node, cases = served
    for principal in ("auditor", "admin"):
        browser, answer = _log_in(node, principal)
        assert answer.status_code == 200, answer.text
        page = browser.get("/pages/supervision").text
        assert cases["mine"][:8] in page and cases["theirs"][:8] in page, principal


@pytest.mark.parametrize(
    ("principal", "status", "words"),
    [
        ("home", 403, "officers log in with their key"),
        ("peer", 403, "opens no page session"),
        ("revoked", 401, "unknown or revoked"),
        ("bad", 401, "unknown or revoked"),
    ],
)
def test_other_tokens_open_no_session(
    served: tuple[ApiNode, dict[str, str]], principal: str, status: int, words: str
) -> None:
    node, _ = served
    _, answer = _log_in(node, principal)
    assert answer.status_code == status and words in answer.json()["detail"]
    assert answer.json()["field"] == "token"
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")


def test_without_a_session_the_page_sends_to_the_login_page(
    served: tuple[ApiNode, dict[str, str]],
) -> None:
    node, _ = served
    answer = node.client.__class__(node.app).get("/pages/supervision", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/pages/login?next=%2Fpages%2Fsupervision"


def test_revoking_the_token_ends_its_sessions_at_once(tmp_path: Path) -> None:
    with api_node(tmp_path) as node:
        token, info = node.services.access.create_token(
            "supervisor", "510100", now=datetime.now().astimezone()
        )
        browser = node.client.__class__(node.app)
        opened = browser.post("/login/token", json={"token": token})
        assert opened.status_code == 200
        assert browser.get("/pages/supervision").status_code == 200
        node.services.access.revoke(info.token_id, now=datetime.now().astimezone())
        ended = browser.get("/login/session")
        assert ended.status_code == 401 and "revoked" in ended.json()["detail"]
        back = browser.get("/pages/supervision", follow_redirects=False)
        assert back.status_code == 303


def test_logout_needs_the_csrf_token_and_ends_the_session(
    served: tuple[ApiNode, dict[str, str]],
) -> None:
    node, _ = served
    browser, answer = _log_in(node, "auditor")
    csrf = answer.json()["csrf_token"]
    assert browser.post("/logout").status_code == 403  # no CSRF token
    assert browser.get("/login/session").json()["kind"] == "auditor"
    assert browser.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert browser.get("/login/session").status_code == 401
