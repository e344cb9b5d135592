"""License issuance in the officers' pages, in Debian's Chromium (Playwright, never a downloaded
browser; the live node, browser and helpers of ``test_officer_pages.py``).

Sichuan's 510104-RS officer, logged in with their own key, opens a delivered, approved case,
issues its 社会保障卡 in the page (the node drafts the ``license_issued`` event and seals the
draft with the body's seal; the page decodes, shows and signs), and reads the license page
with its QR code. Anyone then checks that QR image on the public check page (read in the
browser, valid); the officer revokes the license in the page, and the same image is checked
revoked. Throughout: no request leaves the node, no console error, no serious or critical
axe-core violation. Screenshots: ``docs/screenshots/pages-license-issue.png`` and
``pages-license.png`` with ``TONGBAN_SCREENSHOTS_DIR=docs/screenshots``."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from licenses.compact import decode_compact
from licenses.document import parse_license
from tests.browser import test_officer_pages as officer_pages
from tests.browser.test_officer_pages import (
    LiveNode,
    _logged_in,
    accessibility_violations,
    screenshot,
    watch,
)
from tests.support import licenses
from tests.support.api_node import APPLICANT

# This module's own instances of the officers' pages' live node and browser.
live = officer_pages.live
browser = officer_pages.browser

HOME = licenses.ISSUER


@pytest.fixture(scope="module")
def licensed(live: LiveNode) -> LiveNode:
    """The live node issuing licenses: 510104-RS's license key certified, Sichuan's trust
    list published, and that key installed as the body's seal (``adapters/license_seals.py``)."""
    licenses.enable_licenses(live.node)
    licenses.install_seal(live.node)
    return live


def _check_image(page: Page, live: LiveNode, image: Path) -> None:
    """The public check page, the QR image chosen: read by jsQR in the page, then checked."""
    page.goto(f"{live.base}/pages/check")
    page.get_by_label("或选择证照二维码图片").set_input_files(str(image))
    expect(page.locator("#qr-status")).to_have_text("已从图片读出证照二维码文字，请按“核验”。")
    page.get_by_role("button", name="核验", exact=True).click()


def issue_in_the_page(
    live: LiveNode,
    page: Page,
    case_id: uuid.UUID,
    identifier: str,
    holder: tuple[str, str],
    *,
    screenshots: bool = False,
) -> None:
    """The home body's officer, logged in on ``page``, issues the 社会保障卡 ``identifier`` of
    the delivered ``case_id`` from its case page: the face typed, the event and the face the
    page decoded checked (``holder``: name and ID number from the vault), signed; the license
    page then shows it valid with its QR code, and the ledger holds it issued with its sealed
    document. ``screenshots``: make the checked-in ones on the way."""
    node = live.node
    page.goto(f"{live.base}/pages/cases/{case_id}")
    offered = page.locator("#licenses")
    expect(offered).to_contain_text("社会保障卡")
    expect(offered).to_contain_text("未签发")
    page.get_by_role("link", name="签发电子证照").click()
    page.wait_for_url(f"**/pages/cases/{case_id}/licenses/{identifier}")
    expect(page.locator("h1")).to_have_text("签发电子证照")
    assert accessibility_violations(page) == []
    page.get_by_label("卡号").fill("A12345678")
    page.click("#issue button[type=submit]")
    expect(page.locator("#confirm")).to_be_visible()
    decoded = page.locator("#decoded").inner_text()
    assert identifier in decoded and "license_issued" in decoded and str(case_id) in decoded
    face = page.locator("#face").inner_text()
    assert "A12345678" in face and holder[0] in face and holder[1] in face
    assert accessibility_violations(page) == []
    if screenshots:
        screenshot(live, page, "pages-license-issue")
    page.click("#sign")
    page.wait_for_url(f"**/pages/licenses/{identifier}")

    expect(page.locator("#state")).to_have_text("有效")
    qr = page.locator("#qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("(image) => image.complete && image.naturalWidth > 0")
    compact = page.locator("#compact").inner_text().strip()
    assert decode_compact(compact).identifier.text == identifier
    assert accessibility_violations(page) == []
    if screenshots:
        screenshot(live, page, "pages-license")
    # The license the ledger holds: issued by the officer's signed event, its document sealed.
    state = node.services.ledger.license_state(identifier)
    assert state.state == "issued"
    view = node.get(f"/licenses/{identifier}", "home").json()
    document = parse_license(base64.b64decode(view["document"]))
    assert document.issuance_index == state.issuance_index
    decode_compact(compact).check_document(document.raw)


def test_a_home_officer_issues_and_revokes_a_license_in_the_page(
    licensed: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    live = licensed
    node = live.node
    case_id, identifier = licenses.delivered_case(node)
    officer = _logged_in(browser, live, HOME, tmp_path / "officer")
    page = officer.page
    holder = (APPLICANT["name"], licenses.HOLDER_ID)
    issue_in_the_page(live, page, case_id, identifier, holder, screenshots=True)

    # The QR image as the officer's browser received it, checked by anyone: valid.
    png = page.request.get(f"{live.base}/pages/licenses/{identifier}/qr.png")
    assert png.ok and png.headers["content-type"] == "image/png"
    image = tmp_path / "license-qr.png"
    image.write_bytes(png.body())
    public = watch(browser.new_context(locale="zh-CN").new_page())
    _check_image(public.page, live, image)
    expect(public.page.locator("#verdict")).to_have_text("核验结果：有效")
    expect(public.page.get_by_text(identifier)).to_be_visible()

    # The officer revokes it in the page: the event drafted, shown, signed in the browser.
    revoke = page.locator('form[data-action="revoke"]')
    revoke.get_by_label("注销原因").fill("持证人申请注销")
    revoke.locator("button[type=submit]").click()
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#decoded")).to_contain_text("license_revoked")
    expect(page.locator("#decoded")).to_contain_text("持证人申请注销")
    page.click("#sign")
    expect(page.locator("#state")).to_have_text("已注销")
    assert node.services.ledger.license_state(identifier).state == "revoked"
    assert page.locator("form.license-status").count() == 0

    _check_image(public.page, live, image)
    expect(public.page.locator("#verdict")).to_have_text("核验结果：无效")
    reasons = public.page.locator("#failed li").evaluate_all(
        "lis => lis.map((li) => li.dataset.reason)"
    )
    assert reasons == ["revoked"]

    page.goto(f"{live.base}/pages/cases/{case_id}")
    expect(page.locator("#licenses")).to_contain_text("已注销")
    expect(page.get_by_role("link", name="查看电子证照")).to_be_visible()
    for watched in (officer, public):
        watched.check(live.base)
        watched.page.context.close()


def test_without_a_seal_the_issue_page_says_so(
    licensed: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    live = licensed
    case_id, identifier = licenses.delivered_case(live.node)
    seal = licenses.install_seal(live.node)
    kept = seal.with_suffix(".kept")
    seal.rename(kept)
    try:
        officer = _logged_in(browser, live, HOME, tmp_path)
        page = officer.page
        page.goto(f"{live.base}/pages/cases/{case_id}/licenses/{identifier}")
        expect(page.locator("#no-seal")).to_contain_text("没有本部门（510104-RS）的电子印章密钥")
        assert page.locator("#issue").count() == 0
        assert accessibility_violations(page) == []
        officer.check(live.base)
        page.context.close()
    finally:
        kept.rename(seal)
