"""The public pages in Debian's Chromium (Playwright, never a downloaded browser): a license
issued on the test node is checked from its ``TB1:`` text (valid), revoked and checked again
(invalid, ``revoked``), an altered and a tampered text are refused with their reasons; the
catalog is filtered and an item's guide read; every page renders and works with JavaScript
disabled. Throughout: no request leaves the node, no console error, no serious or critical
axe-core violation. Screenshots: ``docs/screenshots/public-*.png`` with
``TONGBAN_SCREENSHOTS_DIR=docs/screenshots``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.license_client import IssuedLicense
from licenses.qr import qr_png
from tests.browser.test_officer_pages import (
    CHROMIUM,
    SCREENSHOTS_DIR,
    Watched,
    _free_port,
    _served,
    accessibility_violations,
    watch,
)
from tests.e2e.test_public_pages import (
    SLIP_CODE,
    case_with_code,
    delivered_with_code,
    extended,
)
from tests.support import licenses
from tests.support.api_node import ApiNode, api_node


@dataclass
class PublicNode:
    node: ApiNode
    base: str
    shots: Path
    issued: IssuedLicense


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PublicNode]:
    with api_node(tmp_path_factory.mktemp("public-browser")) as node:
        licenses.enable_licenses(node)
        issued = licenses.issue(node)
        port = _free_port()
        with _served(node.app, port):
            shots = Path(SCREENSHOTS_DIR or tmp_path_factory.mktemp("screenshots"))
            yield PublicNode(node, f"http://127.0.0.1:{port}", shots, issued)


def y4m_picture(png: bytes, width: int = 640, height: int = 480) -> bytes:
    """One frame of raw video (YUV4MPEG2, 4:2:0): the image centred on white, what Chromium's
    fake camera shows (``--use-file-for-fake-video-capture``)."""
    import cv2  # dev dependencies, as for reading QR codes back
    import numpy as np

    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None, "the QR image did not decode"
    frame = np.full((height, width), 255, np.uint8)
    top, left = (height - image.shape[0]) // 2, (width - image.shape[1]) // 2
    frame[top : top + image.shape[0], left : left + image.shape[1]] = image
    chroma = bytes([128]) * (width * height // 2)  # no colour: both quarter planes grey
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    return header + b"FRAME\n" + frame.tobytes() + chroma


@pytest.fixture(scope="module")
def camera_picture(live: PublicNode, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's license QR code as the fake camera's picture."""
    path = tmp_path_factory.mktemp("camera") / "license-qr.y4m"
    path.write_bytes(y4m_picture(qr_png(live.issued.compact, scale=4)))
    return path


@pytest.fixture(scope="module")
def browser(camera_picture: Path) -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                # A camera that shows the license's QR code, allowed without asking.
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={camera_picture}",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


def _page(browser: Browser, *, javascript: bool = True) -> Watched:
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
    )
    return watch(context.new_page())


def _shot(live: PublicNode, page: Page, name: str) -> None:
    live.shots.mkdir(parents=True, exist_ok=True)
    shot = live.shots / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, f"{shot} is nearly empty"


def _accessible(page: Page) -> None:
    assert accessibility_violations(page) == []


def _check(page: Page, live: PublicNode, text: str) -> None:
    page.goto(f"{live.base}/pages/check")
    page.get_by_label("证照二维码文字").fill(text)
    page.get_by_role("button", name="核验", exact=True).click()
    expect(page.locator("#verdict-heading, #input-error").first).to_be_visible()


def _reasons(page: Page) -> list[str]:
    return [
        reason
        for reason in page.locator("#failed li").evaluate_all(
            "items => items.map((li) => li.dataset.reason)"
        )
    ]


def test_a_license_is_checked_valid_then_revoked_then_altered(
    browser: Browser, live: PublicNode
) -> None:
    watched = _page(browser)
    page = watched.page
    page.goto(f"{live.base}/pages/check")
    expect(page.get_by_role("heading", level=1)).to_have_text("电子证照核验")
    _accessible(page)
    _shot(live, page, "public-check")

    _check(page, live, live.issued.compact)
    expect(page.locator("#verdict")).to_have_text("核验结果：有效")
    expect(page.locator("#status-source")).to_have_text("发证节点在线答复")
    expect(page.get_by_text(live.issued.identifier)).to_be_visible()
    expect(page.get_by_text("2026-01-01 至 2035-12-31")).to_be_visible()
    _accessible(page)
    _shot(live, page, "public-check-valid")

    node = live.node
    revoke = licenses.status_event(node, live.issued.identifier, "revoke")
    answer = node.post(f"/licenses/{live.issued.identifier}/revoke", "home", revoke)
    assert answer.status_code == 201, answer.text
    _check(page, live, live.issued.compact)
    expect(page.locator("#verdict")).to_have_text("核验结果：无效")
    assert _reasons(page) == ["revoked"]
    expect(page.locator("#failed")).to_contain_text("证照已被发证机关注销")
    _accessible(page)
    _shot(live, page, "public-check-revoked")

    _check(page, live, extended(licenses.issue(node).compact))
    expect(page.locator("#verdict")).to_have_text("核验结果：无效")
    assert _reasons(page) == ["bad_signature"]
    expect(page.get_by_text("核验未通过，不可信")).to_be_visible()
    _shot(live, page, "public-check-altered")

    text = live.issued.compact
    _check(page, live, text[:40] + ("A" if text[40] != "A" else "B") + text[41:])
    assert _reasons(page) == ["malformed"]

    _check(page, live, "HC1:6BFOXN%TS3DH")
    expect(page.locator("#input-error")).to_contain_text("应以 TB1: 开头")
    _accessible(page)
    _shot(live, page, "public-check-bad-input")
    watched.check(live.base)


def test_a_qr_image_is_read_in_the_browser_and_checked(
    browser: Browser, live: PublicNode, tmp_path: Path
) -> None:
    """The image is decoded by the vendored jsQR in the page; the node receives the text."""
    fresh = licenses.issue(live.node)
    image = tmp_path / "license-qr.png"
    image.write_bytes(qr_png(fresh.compact))
    watched = _page(browser)
    page = watched.page
    uploads: list[str] = []
    page.on("request", lambda request: uploads.append(request.post_data or ""))
    page.goto(f"{live.base}/pages/check")
    page.get_by_label("或选择证照二维码图片").set_input_files(str(image))
    expect(page.locator("#qr-status")).to_have_text("已从图片读出证照二维码文字，请按“核验”。")
    expect(page.get_by_label("证照二维码文字")).to_have_value(fresh.compact)
    _accessible(page)
    _shot(live, page, "public-check-qr")
    page.get_by_role("button", name="核验", exact=True).click()
    expect(page.locator("#verdict")).to_have_text("核验结果：有效")
    assert not any("PNG" in body for body in uploads)  # the image stayed in the browser
    watched.check(live.base)


def test_the_catalog_is_filtered_and_an_item_read(browser: Browser, live: PublicNode) -> None:
    watched = _page(browser)
    page = watched.page
    page.goto(f"{live.base}/pages/catalog")
    _accessible(page)
    page.get_by_role("link", name="四川省").click()
    expect(page.locator("#count")).to_have_text("共 140 项（全部 140 项）。")
    page.get_by_label("批次").select_option("2")
    page.get_by_label("办理渠道").select_option("proxy")
    page.get_by_role("button", name="筛选").click()
    expect(page).to_have_url(re.compile(r"batch=2.*channel=proxy"))
    count = page.locator("#count").inner_text()
    shown = int(re.search(r"共 (\d+) 项（已筛选）", count).group(1))  # type: ignore[union-attr]
    assert 0 < shown < 140
    assert page.locator("tbody tr").count() == shown
    expect(page.locator("tbody tr").first).to_contain_text("第二批")
    _accessible(page)
    _shot(live, page, "public-catalog")

    page.locator("tbody tr a").first.click()
    guide = page.locator("#guide")
    expect(guide).to_contain_text("申请条件")
    expect(guide).to_contain_text("未公布")
    _accessible(page)
    _shot(live, page, "public-catalog-item")
    watched.check(live.base)


def test_the_camera_reads_the_code_in_the_browser_and_the_page_checks_it(
    browser: Browser, live: PublicNode
) -> None:
    """The fake camera shows the license's QR code: frames are read by jsQR in the page, the
    camera is closed once it is found, and only the text goes to the node."""
    watched = _page(browser)
    page = watched.page
    page.context.grant_permissions(["camera"], origin=live.base)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.post_data or ""))
    page.goto(f"{live.base}/pages/check")
    page.get_by_role("button", name=re.compile("用摄像头扫描")).click()
    expect(page.locator("#qr-status")).to_have_text(
        "已从摄像头画面读出证照二维码文字，请按“核验”。"
    )
    expect(page.get_by_label("证照二维码文字")).to_have_value(live.issued.compact)
    expect(page.locator("#qr-video")).to_be_hidden()  # closed once read
    assert page.evaluate("document.getElementById('qr-video').srcObject") is None
    _accessible(page)
    _shot(live, page, "public-check-camera")
    page.get_by_role("button", name="核验", exact=True).click()
    # The module's license may have been revoked by an earlier test: the verdict is the node's
    # for exactly the text read (valid, or revoked and nothing else).
    expect(page.locator("#verdict")).to_contain_text("核验结果")
    assert _reasons(page) in ([], ["revoked"])
    expect(page.locator("#main")).to_contain_text(live.issued.identifier)
    assert [body for body in sent if body] and all("FRAME" not in body for body in sent)
    watched.check(live.base)


def test_the_applicant_follows_a_case_with_the_slips_code(
    browser: Browser, live: PublicNode
) -> None:
    case_id = case_with_code(live.node)
    watched = _page(browser)
    page = watched.page
    page.goto(f"{live.base}/pages/check")
    page.get_by_role("link", name="办理进度查询").click()
    page.get_by_label("案件编号").fill(str(case_id))
    page.get_by_label("查询码").fill("0000-0000-0000-0000")
    page.get_by_role("button", name="查询进度").click()
    expect(page.locator("#input-error")).to_contain_text("查询码与该案件不符")
    page.get_by_label("查询码").fill(SLIP_CODE)
    page.get_by_role("button", name="查询进度").click()
    expect(page.locator("#state")).to_have_text("待受理")
    expect(page.locator("#awaited")).to_contain_text("受理")
    _accessible(page)
    _shot(live, page, "public-progress")

    delivered = delivered_with_code(live.node)
    page.get_by_label("案件编号").fill(str(delivered))
    page.get_by_label("查询码").fill(SLIP_CODE)
    page.get_by_role("button", name="查询进度").click()
    expect(page.locator("#state")).to_have_text("已办结")
    page.get_by_label("满意", exact=True).check()
    page.get_by_label("意见").fill("窗口办理很快")
    _accessible(page)
    _shot(live, page, "public-rate")
    page.get_by_role("button", name="提交评价").click()
    expect(page.locator("#rated")).to_have_text("评价已提交，谢谢。")
    steps = [step for _, step, _, _ in live.node.services.ledger.get_case(delivered).steps]
    assert steps[-1] == "rated"
    watched.check(live.base)


def test_with_javascript_disabled_every_public_page_renders_and_checks(
    browser: Browser, live: PublicNode
) -> None:
    watched = _page(browser, javascript=False)
    page = watched.page
    page.goto(f"{live.base}/pages/check")
    expect(page.locator("#qr-picker")).to_be_hidden()  # reading an image needs a script
    page.goto(f"{live.base}/pages/catalog")
    expect(page.get_by_role("link", name="江苏省")).to_be_visible()
    page.goto(f"{live.base}/pages/catalog/320000?batch=1&channel=online")
    expect(page.locator("#count")).to_contain_text("已筛选")
    page.goto(f"{live.base}/pages/catalog/320000/1/1")
    expect(page.locator("#guide")).to_contain_text("未公布")
    fresh = licenses.issue(live.node)
    _check(page, live, fresh.compact)  # a plain form post: no script involved
    expect(page.locator("#verdict")).to_have_text("核验结果：有效")
    page.goto(f"{live.base}/pages/progress")
    page.get_by_label("案件编号").fill(str(case_with_code(live.node)))
    page.get_by_label("查询码").fill(SLIP_CODE)
    page.get_by_role("button", name="查询进度").click()
    expect(page.locator("#state")).to_have_text("待受理")
    watched.check(live.base)
