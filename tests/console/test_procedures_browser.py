"""监测审核 and 公示 in real headless Chromium against a live server on the demo county: the
township clerk batch-approves the procedures whose notice is over, returns one with a reason, the
county admin confirms, and the household's derived fields are set; the 公示 page masks ID numbers
and phones. Screenshots go to docs/screenshots/console_procedures*.png."""

from __future__ import annotations

import re

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


def _stages(db) -> dict[str, str]:
    with db.connect() as conn:
        return dict(conn.execute(sa.text("SELECT id::text, stage FROM procedure")).all())


def test_clerk_and_county_approve_in_the_console(browser, live_server, db):  # noqa: F811
    before = _stages(db)
    page = browser.new_page()
    _login(page, live_server, "demo_clerk")
    page.goto(f"{live_server}/console/procedures")
    ready = page.locator("input[name=ids]")
    n = ready.count()
    assert n >= 2, page.inner_text("body")[:1000]
    assert "已超期" in page.inner_text("body")
    _shot(page, "procedures_township")
    ids = [ready.nth(i).get_attribute("value") for i in range(n)]
    page.check("table.queue th input[type=checkbox]")
    page.click("#approve")
    page.wait_for_load_state()
    assert f"已办理 {n} 件" in page.inner_text("body")
    stages = _stages(db)
    assert all(stages[i] == "township_approved" for i in ids)

    # a return needs a reason (the form will not submit without one), then it is recorded
    early = [i for i, s in stages.items() if s == "verified"]
    form = page.locator(f"form[action='/console/procedures/{early[0]}/decide']")
    form.locator("button").click()
    assert _stages(db)[early[0]] == "verified"  # blocked by the browser: reason is required
    form.locator("input[name=reason]").fill("入户核实记录缺少户主签字")
    form.locator("select[name=action]").select_option("return")
    form.locator("button").click()
    page.wait_for_load_state()
    assert _stages(db)[early[0]] == "returned"
    page.close()

    page = browser.new_page()
    _login(page, live_server, "demo_admin")
    page.goto(f"{live_server}/console/procedures")
    waiting = page.locator("input[name=ids]")
    assert waiting.count() >= n
    _shot(page, "procedures_county")
    page.fill("input[name=decision_note]", "经县级审定，同意")
    page.check("table.queue th input[type=checkbox]")
    page.click("#approve")
    page.wait_for_load_state()
    assert "已办理" in page.inner_text("body")
    stages = _stages(db)
    approved = [i for i in ids if stages[i] == "approved"]
    assert approved
    with db.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT p.kind, h.monitoring_status, h.monitoring_since FROM procedure p "
            "JOIN household h ON h.id = p.household_id WHERE p.id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": approved}).all()
    for kind, status, since in rows:
        assert status == ("monitored" if kind == "entry" else "eliminated")
        assert since is not None
    assert len(before) == len(stages)
    page.close()


def test_notice_page_masks_personal_data(browser, live_server, db):  # noqa: F811
    page = browser.new_page()
    _login(page, live_server, "demo_clerk")
    page.goto(f"{live_server}/console/notices?village=411702105201")
    text = page.inner_text("body")
    assert "拟纳入监测对象" in text and "拟风险消除对象" in text
    with db.connect() as conn:
        ids = conn.execute(sa.text(
            "SELECT h.head_id_number, h.phone FROM procedure p JOIN household h "
            "ON h.id = p.household_id WHERE p.stage = 'notice'")).all()
    for id_number, phone in ids:
        assert id_number not in text and (not phone or phone not in text)
    assert re.search(r"\d{4}\*{10}\d{4}", text)
    _shot(page, "notices")
    page.close()
