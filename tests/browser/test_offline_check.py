"""The public check page's in-browser check (在本机核验，不上传证照) in Debian's Chromium: the
page fetches the node's keys, trust list and status list, verifies and keeps them in the
browser, and verifies a license's ``TB1:`` text itself (``api/static/offline-verify.js``):
valid; still valid from the cached list after the node revoked it (the list is as old as it
says); revoked once the cache is refreshed. No request carries the license text, or any part of
it. An ``sm2-sm3`` text is refused in the page, which then offers the node's check. Without
JavaScript none of it shows. Screenshots: ``docs/screenshots/public-check-offline*.png``."""

from __future__ import annotations

import zlib

import base45
import msgpack
from playwright.sync_api import Browser, Page, Request, expect

from tests.browser.test_public_pages import (  # noqa: F401 (fixtures used by name)
    PublicNode,
    _accessible,
    _page,
    _shot,
    browser,
    camera_picture,
    live,
)
from tests.support import licenses

LOCAL = "在本机核验（不上传证照）"


def _local_check(page: Page, text: str) -> None:
    page.get_by_label("证照二维码文字").fill(text)
    page.get_by_role("button", name=LOCAL).click()
    expect(page.locator("#local-verdict-line")).to_be_visible()


def _local_reasons(page: Page) -> list[str]:
    return [
        reason
        for reason in page.locator("#local-failed li").evaluate_all(
            "items => items.map((li) => li.dataset.reason)"
        )
    ]


def _pieces(text: str, size: int = 16) -> set[str]:
    """Every run of ``size`` characters of the text: none may appear in a request."""
    return {text[i : i + size] for i in range(len(text) - size + 1)}


class Requests:
    """Every request the page makes: method, URL and body."""

    def __init__(self, page: Page) -> None:
        self.seen: list[tuple[str, str, str]] = []
        page.on("request", self._record)

    def _record(self, request: Request) -> None:
        self.seen.append((request.method, request.url, request.post_data or ""))

    def carrying(self, text: str) -> list[tuple[str, str, str]]:
        pieces = _pieces(text)
        return [
            seen
            for seen in self.seen
            if any(piece in seen[1] or piece in seen[2] for piece in pieces)
        ]


def test_a_license_is_verified_in_the_browser_valid_then_revoked_after_a_refresh(
    browser: Browser,  # noqa: F811
    live: PublicNode,  # noqa: F811
) -> None:
    issued = licenses.issue(live.node)
    watched = _page(browser)
    page = watched.page
    requests = Requests(page)
    page.goto(f"{live.base}/pages/check")
    expect(page.locator("#local-cache-lists")).to_contain_text("本机尚未保存任何列表")
    page.get_by_role("button", name="更新本机缓存").click()
    expect(page.locator("#local-cache-status")).to_have_text("已更新本机缓存。")
    lists = page.locator("#local-lists")
    expect(lists).to_contain_text("信任列表")
    expect(lists).to_contain_text("510000-1")

    _local_check(page, issued.compact)
    expect(page.locator("#local-verdict-line")).to_have_text("本机核验结果：有效")
    expect(page.locator("#local-status-source")).to_have_text("本机保存的状态列表")
    verdict = page.locator("#local-verdict")
    expect(verdict).to_contain_text(issued.identifier)
    expect(verdict).to_contain_text("2026-01-01 至 2035-12-31")
    expect(verdict).to_contain_text("510104-RS")
    first_version = page.locator("#local-status-list tbody td").nth(1).inner_text()
    _accessible(page)
    _shot(live, page, "public-check-offline")

    # Revoked on the node: the cached list, signed before, still says valid, and says its age.
    revoke = licenses.status_event(live.node, issued.identifier, "revoke")
    answer = live.node.post(f"/licenses/{issued.identifier}/revoke", "home", revoke)
    assert answer.status_code == 201, answer.text
    _local_check(page, issued.compact)
    expect(page.locator("#local-verdict-line")).to_have_text("本机核验结果：有效")
    expect(page.locator("#local-status-list tbody td").nth(1)).to_have_text(first_version)

    # Refreshed: the node's newer list replaces it, and the license is revoked.
    page.get_by_role("button", name="更新本机缓存").click()
    expect(page.locator("#local-cache-status")).to_have_text("已更新本机缓存。")
    _local_check(page, issued.compact)
    expect(page.locator("#local-verdict-line")).to_have_text("本机核验结果：无效")
    assert _local_reasons(page) == ["revoked"]
    expect(page.locator("#local-failed")).to_contain_text("证照已被发证机关注销")
    newer = page.locator("#local-status-list tbody td").nth(1).inner_text()
    assert int(newer) > int(first_version)
    _accessible(page)
    _shot(live, page, "public-check-offline-revoked")

    # Kept in the browser: a new page of the same browser verifies without fetching a list.
    page.reload()
    before = len(requests.seen)
    _local_check(page, issued.compact)
    assert _local_reasons(page) == ["revoked"]
    fetched = [url for _, url, _ in requests.seen[before:] if "/status-lists/" in url]
    assert fetched == []

    assert requests.carrying(issued.compact) == []
    assert not [seen for seen in requests.seen if seen[0] == "POST"]
    watched.check(live.base)


def test_no_request_carries_the_license_text(
    browser: Browser,  # noqa: F811
    live: PublicNode,  # noqa: F811
) -> None:
    """From an empty browser: the check fetches the keys, the trust list and the status list
    itself, by their names, and nothing else; the text, its identifier and every 16-character
    piece of it stay in the page."""
    issued = licenses.issue(live.node)
    watched = _page(browser)
    page = watched.page
    requests = Requests(page)
    page.goto(f"{live.base}/pages/check")
    loaded = len(requests.seen)
    _local_check(page, issued.compact)
    expect(page.locator("#local-verdict-line")).to_have_text("本机核验结果：有效")
    made = [
        (method, url.removeprefix(live.base))
        for method, url, _ in requests.seen[loaded:]
        if "/static/" not in url  # the page's own files (the favicon may come late)
    ]
    assert made == [
        ("GET", "/keys"),
        ("GET", "/trust-list"),
        ("GET", "/status-lists/510000-1"),
    ]
    assert requests.carrying(issued.compact) == []
    assert not [seen for seen in requests.seen if issued.identifier in seen[1] + seen[2]]
    watched.check(live.base)


def _sm2_text() -> str:
    """A compact text naming ``sm2-sm3``: refused at decoding (its suite) before any key is
    looked up, so the signature bytes do not matter here."""
    payload = {
        "digest": bytes(32),
        "from": 20260101,
        "holder": {"id": "1101**********002X", "name": "张*"},
        "id": (
            "1.2.156.3005.2.11100000TB0000010H001.11510104MB0000123N.B8FC8E960FD1404595862F92.001.0"
        ),
        "issuer": "11510104MB0000123N",
        "kid": "0" * 32,
        "status": ["510000-1", 7],
        "suite": "sm2-sm3",
        "type": "11100000TB0000010H001",
        "until": 20351231,
        "v": 1,
    }
    content = msgpack.packb(payload, use_bin_type=True)
    outer = msgpack.packb([content, bytes(64)], use_bin_type=True)
    encoded: bytes = base45.b45encode(zlib.compress(outer, 9))
    return "TB1:" + encoded.decode()


def test_an_sm2_license_is_refused_in_the_browser_and_sent_to_the_node_on_request(
    browser: Browser,  # noqa: F811
    live: PublicNode,  # noqa: F811
) -> None:
    watched = _page(browser)
    page = watched.page
    requests = Requests(page)
    page.goto(f"{live.base}/pages/check")
    page.get_by_role("button", name="更新本机缓存").click()
    expect(page.locator("#local-cache-status")).to_have_text("已更新本机缓存。")
    text = _sm2_text()
    _local_check(page, text)
    assert _local_reasons(page) == ["unsupported_suite"]
    expect(page.locator("#local-fallback")).to_contain_text("国密算法（sm2-sm3）")
    assert requests.carrying(text) == []
    page.get_by_role("button", name="改由本节点核验（上传证照文字）").click()
    expect(page.locator("#verdict")).to_contain_text("核验结果")  # the node's own verdict
    assert [seen[0] for seen in requests.carrying(text)] == ["POST"]
    watched.check(live.base)


def test_without_javascript_the_local_check_is_not_offered(
    browser: Browser,  # noqa: F811
    live: PublicNode,  # noqa: F811
) -> None:
    watched = _page(browser, javascript=False)
    page = watched.page
    page.goto(f"{live.base}/pages/check")
    expect(page.get_by_role("button", name=LOCAL)).to_be_hidden()
    expect(page.locator("#local-cache")).to_be_hidden()
    page.get_by_label("证照二维码文字").fill(licenses.issue(live.node).compact)
    page.get_by_role("button", name="核验", exact=True).click()
    expect(page.locator("#verdict")).to_have_text("核验结果：有效")
    watched.check(live.base)
