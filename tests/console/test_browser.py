"""The console in real headless Chromium against a live server: two tablets create a conflict, a
clerk logs in, opens and resolves it, and both tablets converge. Screenshots of every page go to
docs/screenshots/console_<page>.png."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.devices import Tablet, field_conflict
from tests.live import SCREENSHOTS

CHROMIUM = "/usr/bin/chromium"
VILLAGE = "411702105201"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="needs Debian chromium at /usr/bin/chromium (CI installs it)"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def live_server(demo_db, live_url) -> str:
    """The live server (``live_url``) on the demo county."""
    return live_url


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"console_{name}.png"), full_page=True)


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    _signed_in(page, username)


def _signed_in(page, username: str) -> None:
    """Wait for the signed-in header; if it never comes, say where the browser is instead."""
    try:
        page.locator("header .who").wait_for()
    except Exception as exc:  # playwright's TimeoutError
        raise AssertionError(f"{username} not signed in: at {page.url}\n"
                             f"{page.inner_text('body')[:800]}") from exc


def _bad_roster() -> bytes:
    from tests.console.test_imports import ROWS, roster_bytes

    return roster_bytes(ROWS)


def test_clerk_resolves_conflict_and_devices_converge(browser, live_server, tmp_path):
    base = live_server
    with httpx.Client(base_url=base, timeout=30) as http:
        t1 = Tablet(http, "demo_cadre", "tab-one").login()
        t2 = Tablet(http, "demo_cadre", "tab-two").login()
        hid, _, _ = field_conflict(http, VILLAGE, "测试户主", tablets=(t1, t2))
        for i in range(2):  # two more of the same kind, so the bulk form shows
            field_conflict(http, VILLAGE, f"同类户{i + 1}", tablets=(t1, t2))

        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        context.set_default_timeout(60_000)
        page = context.new_page()
        page.goto(f"{base}/console/conflicts")
        assert "/console/login" in page.url
        page.fill("input[name=username]", "demo_clerk")
        _shot(page, "login")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        _signed_in(page, "demo_clerk")
        assert urlsplit(page.url).path == "/console/conflicts"
        assert page.locator("text=待处理冲突").count() >= 1
        _shot(page, "inbox")

        page.locator("tr.household-row", has_text="测试户主").first.wait_for()
        row = page.locator("tr.household-row", has_text="测试户主").locator(
            "xpath=following-sibling::tr[1]")
        row.locator("a", has_text="处理").click()
        page.wait_for_url("**/console/conflicts/*")
        assert "13911112222" in page.content() and "13733334444" in page.content()
        page.check("input[value=take_client]")
        page.fill("textarea[name=note]", "已电话核实，以后同步的号码为准")
        _shot(page, "conflict")
        page.click("button:has-text('确认处理')")
        page.wait_for_url("**/console/conflicts?resolved=*")
        assert "已处理 1 条冲突" in page.content()

        t1.pull()
        t2.pull()
        assert t1.records[hid]["phone"] == t2.records[hid]["phone"] == "13733334444"

        page.goto(f"{base}/console/conflicts")
        similar = page.locator("a", has_text="批量处理").first
        similar.click()
        page.wait_for_url("**select=all")
        _shot(page, "conflict_bulk")

        page.goto(f"{base}/console/households/{hid}")
        _shot(page, "household")
        page.goto(f"{base}/console/households?village={VILLAGE}")
        first = page.locator("table a").first
        first.click()
        page.wait_for_url("**/console/households/*")
        _shot(page, "household_full")
        page.goto(f"{base}/console/quality")
        _shot(page, "quality")
        page.goto(f"{base}/console/exports")
        _shot(page, "exports")
        with page.expect_download() as download:
            page.click("form[action$='notice.xlsx'] button")
        assert download.value.suggested_filename.endswith(".xlsx")
        context.close()

        admin = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        admin.set_default_timeout(60_000)
        page = admin.new_page()
        _login(page, base, "demo_admin")
        assert urlsplit(page.url).path == "/console/conflicts"
        page.goto(f"{base}/console/users")
        _shot(page, "users")
        page.goto(f"{base}/console/imports")
        roster = tmp_path / "花名册.xlsx"
        roster.write_bytes(_bad_roster())
        page.set_input_files("input[name=file]", str(roster))
        page.click("button:has-text('开始导入')")
        page.wait_for_selector("text=导入结果")
        assert "未导入任何数据" in page.content()
        _shot(page, "import")
        admin.close()
