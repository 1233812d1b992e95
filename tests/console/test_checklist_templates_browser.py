"""五清模板 in real headless Chromium against a live server on the demo county: the county admin
starts a new version from the built-in template, changes an item, publishes it and chooses it.
Screenshot: docs/screenshots/console_checklist_templates.png."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.console.test_browser import (  # noqa: F401  (fixtures)
    CHROMIUM,
    _login,
    _shot,
    browser,
    live_server,
)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not __import__("os").path.exists(CHROMIUM), reason="needs /usr/bin/chromium")]


def test_county_admin_publishes_and_chooses_a_template(browser, live_server, db):  # noqa: F811
    page = browser.new_page()
    _login(page, live_server, "demo_admin")
    page.goto(f"{live_server}/console/checklist-templates")
    assert "五清核查模板" in page.inner_text("body")
    page.click("a[href*='base=wuqing.v1']")
    page.wait_for_load_state()
    form = page.locator("#new-template")
    assert form.locator("input[name=code]").input_value() == "411702.wuqing.v1"
    form.locator("input[name=name]").fill("五清（驿城区2026版）")
    form.locator("input[name=item_title_2]").fill("村书记心中有数")
    form.locator("input[name=item_code_5]").fill("tasks")
    form.locator("input[name=item_title_5]").fill("任务清")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "已新建模板版本" in page.inner_text("body")
    with db.connect() as conn:
        items = conn.execute(sa.text("SELECT items FROM checklist_template "
                                     "WHERE code = '411702.wuqing.v1'")).scalar()
    assert [i["title"] for i in items][2:] == ["村书记心中有数", "帮扶责任清", "脱贫轨迹清",
                                              "任务清"]
    assert items[2]["secretary_only"] is True  # kept from the base template

    page.select_option("#choose-form select[name=code]", "411702.wuqing.v1")
    page.click("#choose-form button[type=submit]")
    page.wait_for_load_state()
    assert "已更换本县使用的五清模板" in page.inner_text("body")
    with db.connect() as conn:
        chosen = conn.execute(sa.text("SELECT checklist_template FROM county_policy "
                                      "WHERE county_code = '411702'")).scalar()
    assert chosen == "411702.wuqing.v1"
    _shot(page, "checklist_templates")
    page.close()
