"""/console/reports in real headless Chromium against a live server on the demo data: the list,
one report with its chart, and the xlsx download. Screenshot:
docs/screenshots/console_reports.png."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from tests.console.test_browser import CHROMIUM, _login, _shot, browser, live_server  # noqa: F401

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not __import__("os").path.exists(CHROMIUM),
                                 reason="needs chromium at /usr/bin/chromium")]


def test_reports_in_chromium(browser, live_server):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _login(page, live_server, "demo_clerk")
    page.click("nav >> text=统计报表")
    page.wait_for_url("**/console/reports")
    assert page.locator(".card h2").count() == 6
    page.click("text=监测对象 >> nth=0")
    page.wait_for_url("**/console/reports/monitoring")
    assert page.locator("svg").count() >= 1
    assert "监测对象类别" in page.inner_text("body")
    _shot(page, "reports")
    with page.expect_download() as info:
        page.click("form.filters >> text=导出 Excel")
    wb = load_workbook(io.BytesIO(open(info.value.path(), "rb").read()))
    assert "按监测对象类别" in wb.sheetnames
    page.close()
