"""国家系统比对 in real headless Chromium against a live server: a township clerk uploads the
national system's export (a household only in ruhu, one only in the national file, one whose
户主姓名 differs), sees them per village, takes the national value over through the page; the
take-over is audited and in the change log, and a village cadre's real tablet Store receives it
on its next pull. A clerk scoped to another village uploads the same file and sees nothing of
the first village (no names, 户编号, ID numbers or phones), and cannot take anything over.
Screenshot: docs/screenshots/console_reconcile.png."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from openpyxl import Workbook
from sqlmodel import Session as DbSession

from kivy_client.session import Session
from kivy_client.store import Store
from kivy_client.sync import SyncClient
from tests.conftest import PASSWORD, VILLAGE_A1, VILLAGE_A2
from tests.console.conftest import add_household, add_user
from tests.console.test_browser import (  # noqa: F401  (fixtures)
    CHROMIUM,
    _login,
    _shot,
    browser,
)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not __import__("os").path.exists(CHROMIUM), reason="needs /usr/bin/chromium")]

HEADER = ["户编号", "户主姓名", "户主身份证号", "家庭人口数", "行政村代码", "备注"]


def _national_file(rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["全国防返贫监测信息系统 农户信息表（导出）"])
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _upload(page, base: str, path: Path) -> None:
    page.goto(f"{base}/console/reconcile")
    page.set_input_files("input[name=file]", str(path))
    page.check("input[name=output][value=page]")
    page.click("button:has-text('开始比对')")
    page.locator("h2", has_text="比对结果").wait_for()


def _tablet(base: str, tmp_path: Path, username: str, device: str
            ) -> tuple[Store, SyncClient, httpx.Client]:
    http = httpx.Client(base_url=base, timeout=30)
    store = Store(tmp_path / f"{device}.db", device_id=device)
    session = Session(store, client=http)
    session.login(username, PASSWORD)
    return store, SyncClient(store, client=http, token=lambda: session.token,
                             sleep=lambda s: None, max_retries=0), http


def test_clerk_reconciles_in_the_browser_and_the_tablet_receives_it(
        browser, world, db, live_url, tmp_path):  # noqa: F811
    base = live_url
    a1, a2 = world["a1"], world["a2"]
    with DbSession(db, expire_on_commit=False) as s:
        only_ruhu = add_household(s, VILLAGE_A1, "周五林", 11)
        agreeing = add_household(s, VILLAGE_A1, "吴六田", 12)
        add_user(s, "clerk_a2", "township_clerk", [VILLAGE_A2], "李湾村专干")
        s.commit()
    path = tmp_path / "国家系统导出.xlsx"
    path.write_bytes(_national_file([
        # 户主姓名 differs (the national system has 赵大善)
        ["HH00001", "赵大善", a1.head_id_number, 1, VILLAGE_A1, ""],
        ["HH00012", "吴六田", agreeing.head_id_number, 1, VILLAGE_A1, ""],
        ["NEW-0001", "王新户", "", 4, VILLAGE_A1, "新识别"],
        ["HH00002", "钱二河", a2.head_id_number, 1, VILLAGE_A2, ""],
    ]))

    store, sync, http = _tablet(base, tmp_path, "cadre_a", "tab-a1")
    try:
        assert sync.sync().rejected == 0
        record = store.get("household", str(a1.id))
        assert record is not None and record.fields["head_name"] == "赵大山"

        # 1. the township clerk, through the page
        page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        _login(page, base, "clerk_a")
        page.locator("nav a", has_text="国家系统比对").click()
        page.wait_for_url("**/console/reconcile")
        _upload(page, base, path)
        body = page.inner_text("body")
        assert "未使用的列：备注" in body
        villages = {row.locator("td").nth(0).inner_text(): [
            row.locator("td").nth(i).inner_text() for i in range(1, 5)]
            for row in page.locator("h3:has-text('按行政村') + table tr:has(td)").all()}
        # 仅入户通有, 仅国家系统有, 存在差异, 一致
        assert villages == {"黄庄村": ["1", "1", "1", "1"], "李湾村": ["0", "0", "0", "1"]}
        differing = page.locator("h3:has-text('存在差异') + form table")
        assert "赵大山" in differing.inner_text() and "赵大善" in differing.inner_text()
        assert "周五林" in page.locator("h3:has-text('仅入户通有') + table").inner_text()
        assert "王新户" in page.locator("h3:has-text('仅国家系统有') + table").inner_text()
        _shot(page, "reconcile")

        page.locator("input[name=apply]").check()
        page.click("button:has-text('用国家系统的值更新勾选的农户')")
        page.locator(".msg.ok").wait_for()
        assert "已按国家系统更新 1 户" in page.inner_text(".msg.ok")

        with db.connect() as conn:
            assert conn.execute(sa.text("SELECT head_name FROM household WHERE id = :id"),
                                {"id": a1.id}).scalar_one() == "赵大善"
            source, user_id = conn.execute(sa.text(
                "SELECT source, user_id FROM change_log WHERE record_id = :id "
                "ORDER BY id DESC LIMIT 1"), {"id": a1.id}).one()
            assert (source, user_id) == ("import", world["clerk_a"].id)
            actions = conn.execute(sa.text(
                "SELECT action, detail FROM audit_log WHERE user_id = :u ORDER BY id"),
                {"u": world["clerk_a"].id}).all()
        done = [d for a, d in actions if a == "reconcile_apply"]
        assert [a for a, _ in actions if a.startswith("reconcile")] == ["reconcile",
                                                                        "reconcile_apply"]
        assert done[0]["households"] == 1 and done[0]["fields"] == ["head_name"]

        # 2. the village tablet receives it on its next pull
        assert sync.sync().rejected == 0
        record = store.get("household", str(a1.id))
        assert record is not None and record.fields["head_name"] == "赵大善"
        unchanged = store.get("household", str(only_ruhu.id))
        assert unchanged is not None and unchanged.fields["head_name"] == "周五林"
        page.close()

        # 3. a clerk of the other village: nothing of 黄庄村 shows, nothing can be taken over
        other = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        _login(other, base, "clerk_a2")
        _upload(other, base, path)
        html = other.content()
        assert "文件中有 3 户不在您的管辖范围内" in html
        for hh in (a1, only_ruhu, agreeing):
            for secret in (hh.head_name, hh.household_number, hh.head_id_number, hh.phone,
                           hh.bank_account, str(hh.id)):
                assert secret not in html, secret
        for shown in ("赵大善", "黄庄村", "王新户"):
            assert shown not in html, shown
        assert "李湾村" in html and other.locator("input[name=apply]").count() == 0
        # a forged take-over of 黄庄村's household is skipped, and nothing is written
        token = other.locator("input[name=csrf_token]").first.get_attribute("value")
        forged = other.request.post(f"{base}/console/reconcile/apply", form={
            "csrf_token": token or "",
            "apply": f'{{"id": "{a1.id}", "fields": {{"head_name": "外村改名"}}}}'})
        assert forged.status == 200 and "1 户不在您的管辖范围内" in forged.text()
        assert "赵大" not in forged.text()
        with db.connect() as conn:
            assert conn.execute(sa.text("SELECT head_name FROM household WHERE id = :id"),
                                {"id": a1.id}).scalar_one() == "赵大善"
        other.close()
    finally:
        store.close()
        http.close()

