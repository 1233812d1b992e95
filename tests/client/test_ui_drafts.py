"""Typed input is never silently gone (issue 16): under Xvfb, each form screen with an unsaved
edit, then each way of leaving it (back button, Android back, 立即同步, another tab, a tap outside
a pop-up, 退出登录): the input is kept, or the user is asked 保存 / 放弃 / 继续编辑.

Runs the real widgets in a child process like tests/client/test_ui.py (whose demo store,
Xvfb display and server fixtures it reuses)."""

from __future__ import annotations

import json
import shutil
import sys
import time
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
SHOTS = ["draft_ask", "draft_sync_kept", "member_cancel_asks", "visit_ask", "wuqing_ask",
         "logout_dialog"]


@pytest.fixture(scope="module")
def drafts_run(display, tmp_path_factory, request):  # noqa: F811
    return drive_screens(request, display, tmp_path_factory, "drafts", __file__)


def test_household_form_kept_or_asked(drafts_run):
    r = drafts_run["report"]
    assert r["errors"] == []
    assert r["sync_kept"] == "13688889999"  # 立即同步 did not reload the form over the edit
    assert r["tab_kept"] == "13688889999"  # another tab and back: still there
    assert r["back_asks"] and r["stay_kept"] == "13688889999"
    assert r["after_save_screen"] == "roster" and r["saved_phone"] == "13688889999"
    assert r["escape_asks"] and r["after_discard_screen"] == "roster"
    assert r["discarded_not_saved"] is True
    assert r["other_tab_kept_after_save"] == "张庄88号"


def test_member_popup_survives_a_tap_outside(drafts_run):
    r = drafts_run["report"]
    assert r["popup_open_after_outside_tap"] is True
    assert r["popup_name_kept"] == "张小红"
    assert r["cancel_asks"] == "放弃修改？" and r["popup_closed_after_second_cancel"] is True


def test_visit_and_wuqing_asked_before_leaving(drafts_run):
    from kivy_client.store import Store

    r = drafts_run["report"]
    assert r["visit_back_asks"] and r["visit_after_save_screen"] == "household"
    assert r["wuqing_escape_asks"] and r["wuqing_after_discard"] == "household"
    assert r["wuqing_logout_asks"] and r["logout_dialog_after_save"]
    assert "导出后清除" in r["logout_dialog_text"] and r["logged_out_kept"] is True
    store = Store(drafts_run["store"], device_id=DEVICE)
    try:
        visits = [c for c in store.outbox(limit=1000) if c.entity == "visit"]
        assert [v.fields["notes"] for v in visits] == ["返回前保存的走访"]
        items = [c for c in store.outbox(limit=1000) if c.entity == "checklist_item"]
        # the discarded verdict never reached the outbox; the one saved at logout did
        assert [(c.fields["item_code"], c.fields["verdict"]) for c in items] == [
            ("helper_duty", "unclear")]
    finally:
        store.close()
    for name in SHOTS:
        shot = drafts_run["out"] / f"tablet_{name}.png"
        assert shot.exists() and shot.stat().st_size > 10_000, name
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOTS / shot.name)


# --- the child ------------------------------------------------------------------------------------


def _button(popup: Any, text: str) -> Any:  # pragma: no cover - child
    from kivy.uix.button import Button

    return next(w for w in popup.content.walk() if isinstance(w, Button) and w.text == text)


def _child(store_path: str, out_dir: str, info_json: str) -> None:  # pragma: no cover
    info = json.loads(info_json)
    d = Driver.offline(store_path, out_dir)
    app, store, report, out, presenters = d.app, d.store, d.report, d.out, d.presenters
    pump, settle, tap, shot, type_into = d.pump, d.settle, d.tap, d.shot, d.type_into
    d.unlock(info["username"], info["password"])
    first = info["first"]
    before_phone = store.get("household", first).fields.get("phone")

    # 基本信息 with an unsaved edit, then 立即同步 (offline: the sync fails, the form stays)
    app.show("household", household_id=first)
    household = app.manager.get_screen("household")
    pump()
    phone = household.basic_form.inputs["phone"]
    type_into(phone, "13688889999")
    bar = app.status_bar
    tap(bar.ids.sync_button, "sync")
    d.wait(lambda: not bar.syncing)
    settle(0.3)
    report["sync_kept"] = phone.text
    shot("draft_sync_kept")
    # another tab and back
    household.select_tab("members")
    pump()
    household.select_tab("basic")
    pump()
    report["tab_kept"] = phone.text
    # 返回名单: asked; 继续编辑 keeps the input
    tap(household.ids.back_button, "返回名单")
    settle()
    report["back_asks"] = app.draft_popup is not None
    shot("draft_ask")
    tap(_button(app.draft_popup, "继续编辑"), "继续编辑")
    settle()
    report["stay_kept"] = phone.text if app.manager.current == "household" else ""
    # a second edit on another tab survives saving the first tab
    address = household.security_form  # 两不愁三保障 form: any field
    basic_address = household.basic_form.inputs["address"]
    type_into(basic_address, "张庄88号")
    household.select_tab("security")
    sec_name = next(n for n, s in address.specs.items() if s.kind == "bool")
    address.inputs[sec_name].value = False
    pump()
    household.save_household("security")
    report["other_tab_kept_after_save"] = basic_address.text
    household.select_tab("basic")
    # 返回名单 again: 保存 stores the edit and goes on
    tap(household.ids.back_button, "返回名单")
    settle()
    tap(_button(app.draft_popup, "保存"), "保存")
    settle()
    report["after_save_screen"] = app.manager.current
    report["saved_phone"] = store.get("household", first).fields.get("phone")

    # Android back (Escape) with an edit: asked; 放弃 drops it
    second = info["second"]
    app.show("household", household_id=second)
    pump()
    before = store.get("household", second).fields.get("address")
    type_into(household.basic_form.inputs["address"], "不要保存的地址")
    d.window.dispatch("on_keyboard", 27, 0, None, [])
    settle()
    report["escape_asks"] = app.draft_popup is not None
    tap(_button(app.draft_popup, "放弃"), "放弃")
    settle()
    report["after_discard_screen"] = app.manager.current
    report["discarded_not_saved"] = store.get("household", second).fields.get("address") == before
    assert before_phone != "13688889999"

    # the member pop-up: a tap outside does not close it; 取消 asks once
    app.show("household", household_id=second)
    household.select_tab("members")
    pump()
    members = household.lists["member"]
    tap(members.add_button, "添加家庭成员")
    popup = members.popup
    settle()
    type_into(popup.form.inputs["name"], "张小红")
    touch = d.touch_class(5, 5)
    touch.touch_down()
    pump(1)
    touch.touch_up()
    settle()
    report["popup_open_after_outside_tap"] = popup.is_open
    report["popup_name_kept"] = popup.form.inputs["name"].text
    tap(popup.cancel_button, "取消")
    report["cancel_asks"] = popup.cancel_button.text
    shot("member_cancel_asks")
    tap(popup.cancel_button, "放弃修改？")
    settle()
    report["popup_closed_after_second_cancel"] = not popup.is_open

    # a visit with notes, then 返回农户: asked; 保存 saves it
    tap(household.ids.visit_button, "走访")
    visit = app.manager.get_screen("visit")
    pump()
    type_into(visit.ids.notes, "返回前保存的走访")
    tap(visit.ids.back_button, "返回农户")
    settle()
    report["visit_back_asks"] = app.draft_popup is not None
    shot("visit_ask")
    tap(_button(app.draft_popup, "保存"), "保存")
    settle()
    report["visit_after_save_screen"] = app.manager.current

    # 五清: a verdict changed without 保存此项, then back: asked; 放弃
    tap(household.ids.wuqing_button, "五清")
    wuqing = app.manager.get_screen("wuqing")
    pump()
    item = wuqing.items["measures"]
    wuqing.ids.item_box.parent.scroll_to(item)
    pump()
    tap(item.ids.verdict_unclear, "不清")
    d.window.dispatch("on_keyboard", 27, 0, None, [])
    settle()
    report["wuqing_escape_asks"] = app.draft_popup is not None
    shot("wuqing_ask")
    tap(_button(app.draft_popup, "放弃"), "放弃")
    settle()
    report["wuqing_after_discard"] = app.manager.current
    # again, and 退出登录: asked; 保存, then the logout dialog (work not uploaded yet)
    tap(household.ids.wuqing_button, "五清")
    pump()
    item = wuqing.items["helper_duty"]
    wuqing.ids.item_box.parent.scroll_to(item)
    pump()
    tap(item.ids.verdict_unclear, "不清")
    tap(bar.ids.logout_button, "退出登录")
    settle()
    report["wuqing_logout_asks"] = app.draft_popup is not None
    tap(_button(app.draft_popup, "保存"), "保存")
    settle()
    report["logout_dialog_after_save"] = app.logout_popup is not None
    report["logout_dialog_text"] = app.logout_popup.content.children[-1].text \
        if app.logout_popup else ""
    shot("logout_dialog")
    if app.logout_popup is not None:
        tap(_button(app.logout_popup, "保留在本机并退出"), "保留在本机并退出")
        settle()
    report["logged_out_kept"] = (not presenters.signed_in and store.pending_count() > 0
                                 and app.manager.current == "login")
    app.stop()
    store.close()
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - the child process
    time.sleep(0)
    _child(*sys.argv[1:4])
