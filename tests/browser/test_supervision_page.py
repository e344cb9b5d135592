"""时限监督 with a published calendar, in Debian's Chromium (the live node, browser and helpers
of ``test_officer_pages.py``).

Sichuan's root publishes the year's working-day calendar (``adapters/calendar_seed.py``); a
proxy case reaches its home body 510104-RS, whose 受理 leg the calendar engine counts to a
real (not provisional) last day. The node's clock (``NodeServices.clock``, what every
supervision route and page judges "today" by) is then moved to the day after that last day,
and a supervisor of 510100, logged in with their token on the login page, finds the case
overdue (已超期) on ``/pages/supervision``: in the overdue table with its case number, item,
leg and body, and counted in the by-body and by-item tables. Throughout: no request leaves the
node, no console error, no serious or critical axe-core violation. Screenshot:
``docs/screenshots/pages-supervision-overdue.png`` with ``TONGBAN_SCREENSHOTS_DIR``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, expect

from adapters.calendar_seed import UnannouncedYear, seed_year
from ledger.admin import RegistryClerk
from ledger.calendars import CHINA, CalendarYear, china_date
from tests.browser import test_officer_pages as officer_pages
from tests.browser.test_officer_pages import (
    LiveNode,
    accessibility_violations,
    screenshot,
    watch,
)

# This module's own instances of the officers' pages' live node and browser.
live = officer_pages.live
browser = officer_pages.browser

HOME = "510104-RS"  # in the supervisor's scope (510100, tests/support/api_node.py)
ITEM = "510000/2/23"  # proxy_case's item


@pytest.fixture(scope="module")
def calendared(live: LiveNode) -> LiveNode:
    """The live node with Sichuan's calendar published for this year and the next, so no leg
    that starts today rests on an unpublished year. The package announces a year only once the
    State Council has: a year it does not know yet gets a plain calendar (weekends off)."""
    node = live.node
    clerk = RegistryClerk(node.services.ledger, node.world.region)
    this_year = china_date(node.services.clock()).year
    for year in (this_year, this_year + 1):
        try:
            calendar = seed_year(node.world.region, year)
        except UnannouncedYear:
            calendar = CalendarYear(region=node.world.region, year=year, holidays=frozenset())
        clerk.append(node.world.root, "calendar_published", calendar.to_body())
    return live


@pytest.fixture
def day_after(calendared: LiveNode) -> Iterator[tuple[LiveNode, str, dict[str, str]]]:
    """A proxy case arrived at 510104-RS today, and the node's clock moved to noon (China
    time) of the day after its 受理 leg's last day: the live node, the case id and the leg."""
    node = calendared.node
    case_id = node.proxy_case()
    arrived = node.step(case_id, HOME, "arrived", {"note": "材料齐全"})
    assert arrived.status_code == 201, arrived.text
    legs = node.get(f"/bodies/{HOME}/legs", "home").json()["legs"]
    (leg,) = [g for g in legs if g["case_id"] == str(case_id) and g["name"] == "acceptance"]
    # counted on the published calendar: a real last day, not a provisional one
    assert (leg["closed"], leg["provisional"]) == (False, False), leg
    later = dt.date.fromisoformat(leg["deadline"]) + dt.timedelta(days=1)
    noon = dt.datetime.combine(later, dt.time(12), tzinfo=CHINA)
    services = node.services
    kept = services.clock
    services.clock = lambda: int(noon.timestamp() * 1_000_000)
    try:
        yield calendared, str(case_id), leg
    finally:
        services.clock = kept


def _cells(row: Locator) -> list[str]:
    return [cell.strip() for cell in row.locator("td").all_inner_texts()]


def test_a_supervisor_sees_an_overdue_case_on_the_supervision_page(
    day_after: tuple[LiveNode, str, dict[str, str]], browser: Browser
) -> None:
    live, case_id, leg = day_after
    node = live.node
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = watch(page)
    page.goto(f"{live.base}/pages/supervision")
    expect(page).to_have_url(re.compile(r"/pages/login\?next="))
    page.fill("#api-token", node.tokens["supervisor"])
    page.click("#token-login button[type=submit]")
    expect(page).to_have_url(f"{live.base}/pages/supervision")
    expect(page.locator(".who")).to_contain_text("监督员 510100")
    today = china_date(node.services.clock())
    expect(page.locator("#main")).to_contain_text(f"截至 {today.isoformat()}")

    # The overdue table: the case, by its number, with item, leg, body, last day and status.
    overdue = page.locator("#overdue tbody tr")
    expect(overdue).to_have_count(1)
    assert _cells(overdue.first) == [case_id, ITEM, "受理", HOME, leg["deadline"], "已超期"]
    expect(page.locator("#due-soon")).to_have_text("无。")
    # ... and counted overdue by body and by item (open, overdue, due soon: columns 2-4).
    by_body = page.locator("#by-body tbody tr", has_text=HOME)
    assert _cells(by_body)[:4] == [HOME, "1", "1", "0"]
    by_item = page.locator("#by-item tbody tr", has_text=ITEM)
    assert _cells(by_item)[:4] == [ITEM, "1", "1", "0"]
    # The window's Jiangsu legs are outside the supervisor's scope.
    assert "320105-ZWFW" not in page.locator("#main").inner_text()

    assert accessibility_violations(page) == []
    screenshot(live, page, "pages-supervision-overdue")
    watched.check(live.base)
    context.close()
