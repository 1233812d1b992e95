"""The county admin uploads a tablet's outbox export in real headless Chromium (数据导入 →
导入平板未上传数据): every change's result is shown; a second upload is all 重复. Screenshot
``console_import_outbox.png``."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx

from sync_protocol.outbox_export import OutboxExport
from tests.client.util import household
from tests.conftest import PASSWORD
from tests.console.test_browser import (  # noqa: F401 - fixtures
    _login,
    _shot,
    browser,
    live_server,
    pytestmark,
)


def _export(base: str) -> bytes:
    """What 导出后清除 writes for demo_cadre's tablet: a new household, not uploaded."""
    resp = httpx.post(f"{base}/api/v1/auth/token", data={
        "username": "demo_cadre", "password": PASSWORD, "device_id": "tab-lost"})
    assert resp.status_code == 200, resp.text
    user = resp.json()["user"]
    millis = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    change = {"change_id": str(uuid.uuid4()), "seq": 1, "entity": "household",
              "record_id": str(uuid.uuid4()), "op": "upsert", "base_version": None,
              "fields": household("周国庆", serial=77), "hlc": f"{millis:013d}-0000-tab-lost"}
    return OutboxExport(user_id=user["id"], username="demo_cadre", device_id="tab-lost",
                        exported_at=dt.datetime.now(dt.UTC).isoformat(),
                        changes=[change]).dumps()


def test_admin_uploads_an_outbox_export(browser, live_server, tmp_path):  # noqa: F811
    base = live_server
    path = tmp_path / "ruhu-unsynced-tab-lost.json"
    path.write_bytes(_export(base))
    admin = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    admin.set_default_timeout(60_000)
    page = admin.new_page()
    _login(page, base, "demo_admin")
    page.goto(f"{base}/console/imports")
    page.click("text=导入平板未上传数据")
    page.set_input_files("input[name=file]", str(path))
    page.click("button:has-text('开始导入')")
    page.wait_for_selector("text=导入结果")
    text = page.inner_text("body")
    assert "张卫东（demo_cadre）" in text and "tab-lost" in text
    _shot(page, "import_outbox")
    page.goto(f"{base}/console/imports/outbox")
    page.set_input_files("input[name=file]", str(path))
    page.click("button:has-text('开始导入')")
    page.wait_for_selector("text=导入结果")
    assert "重复（此前已上传）" in page.inner_text("table")
    admin.close()
