"""Issue 16 under Xvfb, through touches on the real widgets: the login screen without sync
buttons, a wrong server address and throttled unlock said on it, 所属行政村 as a picker and 户编号
read-only, 是/否 as two buttons, photos as thumbnails with 同行人员 remembered, photos of other
tablets offered for download, the clerk's decision in 轨迹 and as a notice after the sync, 五清
saved all at once, and an unreachable server retried with a hint and a 停止 button.

Runs the real widgets in a child process like tests/client/test_ui.py (whose demo store, Xvfb
display and server fixtures it reuses)."""

from __future__ import annotations

import json
import shutil
import sys
import time
import uuid
from typing import Any

import pytest

from tests.client.test_ui import (  # noqa: F401 - fixtures
    DEVICE,
    Driver,
    display,
    drive_screens,
    ui_client,
    ui_make_user,
)
from tests.live import SCREENSHOTS

pytestmark = pytest.mark.gui
SHOTS = ["login_wrong_address", "login_throttled", "household_basic_picker",
         "household_security_toggle", "household_history_photos", "conflict_notice",
         "visit_thumbnails", "wuqing_v2", "sync_retrying"]
MISSING_PHOTO = "ab" * 32


@pytest.fixture(scope="module")
def field_run(display, tmp_path_factory, request):  # noqa: F811
    return drive_screens(request, display, tmp_path_factory, "field", __file__)


def test_login_screen_and_what_it_says(field_run):
    report = field_run["report"]
    assert report["errors"] == []
    assert report["login_bar"] == {"sync": 0, "logout": 0, "counts": ""}
    assert "该服务器地址没有响应" in report["wrong_address"]
    assert "离线解锁" in report["wrong_address"]
    assert "30 秒后再试" in report["throttled"]
    assert report["after_unlock"] == "roster"
    assert report["bar_after_unlock"]["sync"] == 1


def test_fewer_taps_on_the_household_file(field_run):
    report = field_run["report"]
    assert report["village_text"] == "张庄村（411702105201）"
    assert report["village_choices"] == ["（未填写）", "张庄村（411702105201）"]
    assert report["number_readonly"] is True
    assert report["security_value"] is False and report["security_saved"] is False
    assert report["security_cleared"] is None  # tapping the chosen button again clears it


def test_history_photos_and_the_clerk_decision(field_run):
    report = field_run["report"]
    assert "乡镇乡村振兴（防返贫）专干赵专干已处理" in report["decision_text"]
    assert "已电话核实" in report["decision_text"]
    assert report["download_before"] == "下载照片"
    assert report["download_after"] == "重试下载"
    assert "照片未能下载" in report["download_message"]
    assert "未被采用" in report["notice_text"] and "赵专干" in report["notice_text"]


def test_visit_thumbnails_and_remembered_co_visitor(field_run):
    report = field_run["report"]
    assert report["co_visitor_prefilled"] == "刘强" and report["prefilled_is_no_draft"]
    assert report["thumbnails"] == 1
    assert report["thumbnails_after_remove"] == 0
    assert report["visit_saved_screen"] == "household"


def test_wuqing_save_all_and_sync_retry_hint(field_run):
    report = field_run["report"]
    assert report["wuqing_dirty"] == 2
    assert report["wuqing_message"] == "已保存 2 项到本机，联网后同步"
    assert report["retry_text"].startswith("无法连接服务器，正在重试（第")
    assert report["stop_visible"] is True
    assert report["stopped_message"].startswith("已停止同步")
    assert report["outbox_kept"] is True
    for name in SHOTS:
        shot = field_run["out"] / f"tablet_{name}.png"
        assert shot.exists() and shot.stat().st_size > 10_000, name
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOTS / shot.name)


# --- the child ------------------------------------------------------------------------------------


def _button(popup: Any, text: str) -> Any:
    from kivy.uix.button import Button

    return next(w for w in popup.content.walk() if isinstance(w, Button) and w.text == text)


def _child(store_path: str, out_dir: str, info_json: str) -> None:  # pragma: no cover
    info = json.loads(info_json)
    d = Driver.offline(store_path, out_dir,
                       sync_options={"max_retries": 30, "backoff": 0.4, "max_backoff": 0.4})
    app, store, report, out = d.app, d.store, d.report, d.out
    pump, settle, tap, shot, type_into = d.pump, d.settle, d.tap, d.shot, d.type_into
    bar = app.status_bar

    def visible(widget: Any) -> int:
        return 1 if widget.opacity > 0 and widget.width > 0 else 0

    # the login screen: no sync buttons, no counts
    login = app.manager.get_screen("login")
    pump()
    report["login_bar"] = {"sync": visible(bar.ids.sync_button),
                           "logout": visible(bar.ids.logout_button),
                           "counts": bar.ids.counts.text}
    # a mistyped address (nothing listens on port 9) is not "no signal"
    type_into(login.ids.server, "http://127.0.0.1:9")
    type_into(login.ids.username, info["username"])
    type_into(login.ids.password, info["password"])
    tap(login.ids.login_button, "登录")
    d.wait(lambda: not login.busy)
    report["wrong_address"] = login.message
    shot("login_wrong_address")
    # wrong passwords in a row: the next attempt must wait
    for _ in range(3):
        type_into(login.ids.password, "wrong-password")
        tap(login.ids.unlock_button, "离线解锁")
    report["throttled"] = login.message
    shot("login_throttled")
    key = f"unlock_failures:{info['username']}"  # the wait is over (moved back in time)
    count, at = json.loads(store.get_meta(key) or "[0, 0]")
    store.set_meta(key, json.dumps([count, at - 600]))
    type_into(login.ids.password, info["password"])
    tap(login.ids.unlock_button, "离线解锁")
    report["after_unlock"] = app.manager.current
    pump()
    report["bar_after_unlock"] = {"sync": visible(bar.ids.sync_button)}

    # 基本信息: the village is picked, 户编号 from the national system is read-only
    first = info["first"]
    app.show("household", household_id=first)
    household = app.manager.get_screen("household")
    pump()
    form = household.basic_form
    report["village_text"] = form.inputs["village_code"].text
    report["village_choices"] = list(form.inputs["village_code"].values)
    report["number_readonly"] = bool(form.inputs["household_number"].readonly)
    shot("household_basic_picker")
    # 两不愁三保障: 是/否 as two buttons, one tap each
    household.select_tab("security")
    pump()
    toggle = household.security_form.inputs["food_secure"]
    tap(toggle.no, "否")
    report["security_value"] = toggle.value
    shot("household_security_toggle")
    tap(household.save_security_button, "保存")
    report["security_saved"] = store.get("household", first).fields.get("food_secure")
    tap(toggle.no, "否")
    report["security_cleared"] = toggle.value
    household.security_form.set_values(household.security_form.clean)

    # what a pull brings: a visit photographed on another tablet, a conflict the clerk decided
    # against this cadre's value
    now = "2026-11-21T08:00:00+00:00"
    conflict = {
        "id": str(uuid.uuid4()), "kind": "field", "entity": "household",
        "record_id": first, "household_id": first, "village_code": "411702105201",
        "field": "address", "base_value": "张庄1号",
        "server": {"value": "张庄一组1号", "user_name": "李书记", "device_id": "tab-2"},
        "client": {"value": "张庄东头1号", "user_name": "王村干", "device_id": DEVICE,
                   "user_id": store.current_user_id},
        "status": "open", "detected_at": now}
    store.apply_pull_page({"changes": [], "conflicts": [conflict], "next_cursor": "c2",
                           "has_more": False})  # first undecided, as the cadre's sync saw it
    store.apply_pull_page({"changes": [{
        "entity": "visit", "record_id": str(uuid.uuid4()), "version": 1, "deleted": False,
        "fields": {"household_id": first, "visited_at": now, "purpose": "日常走访",
                   "notes": "另一台平板的走访，带照片", "location_captured": False,
                   "household_confirmed": True, "attachment_ids": [MISSING_PHOTO]}}],
        "conflicts": [{**conflict, "status": "resolved", "resolution": "keep_server",
                       "resolved_by_name": "赵专干", "resolved_at": now,
                       "note": "已电话核实，以书记填写为准"}],
        "next_cursor": "c3", "has_more": False})
    app.show("household", household_id=first)
    household.select_tab("history")
    pump()
    panel = household.history_box
    report["decision_text"] = " ".join(w.text for w in panel.walk()
                                       if "已处理" in getattr(w, "text", ""))
    button = panel.download_buttons.get(MISSING_PHOTO)
    report["download_before"] = button.text if button else ""
    if button is not None:
        household.ids.tabs.current_tab.content.children[-1].scroll_to(button)
        tap(button, "下载照片")  # offline: it says so and offers to retry
        d.wait(lambda: button.text == "重试下载")
    report["download_after"] = button.text if button else ""
    report["download_message"] = household.message
    shot("household_history_photos")
    # the notice after the sync that brought the decision
    from kivy_client.sync import SyncReport

    app._finished(SyncReport(), None)
    settle()
    popup = app.notice_popup
    report["notice_text"] = popup.content.children[-1].text if popup else ""
    shot("conflict_notice")
    if popup is not None:
        tap(_button(popup, "知道了"), "知道了")
        settle()

    # a visit: the photo as a thumbnail (a tap removes it); 同行人员 remembered for the next one
    household.select_tab("basic")
    tap(household.ids.visit_button, "走访记录")
    visit = app.manager.get_screen("visit")
    pump()
    visit.ids.scroll.scroll_to(visit.ids.photo_button, animate=False)  # below 走访发现
    pump()
    tap(visit.ids.photo_button, "拍照")
    visit.chooser.choose(info["photo"])
    settle()
    report["thumbnails"] = len(visit.ids.thumbnails.children)
    thumb = visit.ids.thumbnails.children[0]
    tap(thumb, "缩略图")
    report["thumbnails_after_remove"] = len(visit.ids.thumbnails.children)
    visit.ids.scroll.scroll_to(visit.ids.photo_button, animate=False)
    pump()
    tap(visit.ids.photo_button, "拍照")
    visit.chooser.choose(info["photo"])
    settle()
    type_into(visit.ids.notes, "了解家庭近况，收入稳定")
    type_into(visit.ids.co_visitor, "刘强")
    shot("visit_thumbnails")
    tap(visit.ids.save_button, "保存走访记录")
    report["visit_saved_screen"] = app.manager.current
    tap(household.ids.visit_button, "走访记录")
    pump()
    report["co_visitor_prefilled"] = visit.ids.co_visitor.text
    report["prefilled_is_no_draft"] = not visit.has_draft()
    app.show("household", household_id=first)
    pump()

    # 五清 v2: two items changed, one 保存全部
    tap(household.ids.wuqing_button, "五清")
    wuqing = app.manager.get_screen("wuqing")
    pump()
    base = wuqing.items["base_file"]
    tap(base.ids.verdict_clear, "清")
    measures = wuqing.items["measures"]
    wuqing.ids.item_box.parent.scroll_to(measures)
    pump()
    tap(measures.ids.verdict_unclear, "不清")
    pump()
    type_into(measures.ids.rectify_by, "2026-12-31")
    type_into(measures.ids.rectify_note, "补充健康帮扶措施")
    type_into(measures.ids.note, "缺健康帮扶措施")
    settle(0.6)
    report["wuqing_dirty"] = wuqing.dirty_count
    shot("wuqing_v2")
    tap(wuqing.ids.save_all_button, "保存全部")
    report["wuqing_message"] = wuqing.message
    app.show("household", household_id=first)
    pump()

    # a sync with no server: the retries are said, and 停止 ends it
    outbox_before = store.pending_count()
    tap(bar.ids.sync_button, "立即同步")
    d.wait(lambda: bar.retrying, 20)
    report["retry_text"] = bar.progress_text
    report["stop_visible"] = visible(bar.ids.stop_button) == 1
    shot("sync_retrying")
    tap(bar.ids.stop_button, "停止")
    d.wait(lambda: not bar.syncing, 20)
    report["stopped_message"] = bar.online_text
    report["outbox_kept"] = store.pending_count() == outbox_before
    app.stop()
    store.close()
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - the child process
    time.sleep(0)
    _child(*sys.argv[1:4])
