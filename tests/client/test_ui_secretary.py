"""The 五清 item only the 村书记 may judge (the template's ``secretary_only``, 村书记心里清 in
``wuqing.v1``), under Xvfb through touches: a village cadre sees its verdict buttons disabled with
the hint (``sync_protocol.wuqing.judge_hint``, the rule the save and the server apply), a tap on
them changes nothing, the other items stay open; a 村党支部书记 on the same screen may set it.

Runs the real widgets in a child process like tests/client/test_ui.py (whose demo store, Xvfb
display and server fixtures it reuses), once per role."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sync_protocol.wuqing import SECRETARY_ONLY_HINT
from tests.client.test_ui import (  # noqa: F401 - fixtures
    DEVICE,
    VILLAGE,
    Driver,
    build_demo_store,
    display,
    run_child,
    ui_client,
    ui_make_user,
)
from tests.live import SCREENSHOTS

pytestmark = pytest.mark.gui
SHOT = "wuqing_secretary_only"


@pytest.fixture(scope="module")
def runs(display, tmp_path_factory, ui_client, ui_make_user):  # noqa: F811
    """The child once as a village cadre, once as the village secretary (each on its own
    tablet store, logged in once against the in-process server)."""
    from tests.conftest import PASSWORD

    out: dict[str, dict[str, Any]] = {}
    for username, role, name in (("wang_cadre", "village_cadre", "王村干"),
                                 ("zhang_shuji", "village_secretary", "张书记")):
        ui_make_user(username, role, [VILLAGE], name=name)
        folder = tmp_path_factory.mktemp(role)
        store_path = folder / "tablet.sqlite3"
        info = build_demo_store(store_path, ui_client, username, PASSWORD)
        info.update(username=username, password=PASSWORD)
        (folder / "out").mkdir()
        report = run_child(display, Path(__file__).resolve(), store_path, folder / "out", info)
        out[role] = {"report": report, "store": store_path, "out": folder / "out"}
    return out


def test_cadre_sees_the_secretary_item_disabled_with_the_hint(runs):
    r = runs["village_cadre"]["report"]
    assert r["errors"] == []
    secretary = r["items"]["secretary_knows"]
    assert secretary["buttons_disabled"] == [True, True, True]
    assert secretary["hint"] == SECRETARY_ONLY_HINT and secretary["hint_shown"]
    assert "村党支部书记" in SECRETARY_ONLY_HINT
    # every other item of wuqing.v1 is the cadre's to judge: buttons enabled, no hint
    others = {code: v for code, v in r["items"].items() if code != "secretary_knows"}
    assert len(others) == 4
    for code, v in others.items():
        assert v["buttons_disabled"] == [False, False, False], code
        assert v["hint"] == "" and not v["hint_shown"], code
    # a finger on the disabled 清: nothing changes, nothing to save, nothing refused
    assert r["verdict_after_tap"] == "unchecked"
    assert r["dirty_after_tap"] == 0
    assert r["message_after_tap"] == ""
    # the note and the photo stay open to the cadre (only the verdict is the secretary's)
    assert r["note_disabled"] is False and r["photo_disabled"] is False
    shot = runs["village_cadre"]["out"] / f"tablet_{SHOT}.png"
    assert shot.exists() and shot.stat().st_size > 10_000
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOTS / shot.name)


def test_secretary_sets_the_item_through_touches(runs):
    from kivy_client.store import Store

    r = runs["village_secretary"]["report"]
    assert r["errors"] == []
    secretary = r["items"]["secretary_knows"]
    assert secretary["buttons_disabled"] == [False, False, False]
    assert secretary["hint"] == "" and not secretary["hint_shown"]
    assert r["verdict_after_tap"] == "clear"
    assert r["saved_message"] == "已保存 1 项到本机，联网后同步"
    store = Store(runs["village_secretary"]["store"], device_id=DEVICE)
    try:
        items = [c for c in store.outbox(limit=1000) if c.entity == "checklist_item"]
        assert [(c.fields["item_code"], c.fields["verdict"]) for c in items] == [
            ("secretary_knows", "clear")]
    finally:
        store.close()


# --- the child ------------------------------------------------------------------------------------


def _child(store_path: str, out_dir: str, info_json: str) -> None:  # pragma: no cover
    info = json.loads(info_json)
    d = Driver.offline(store_path, out_dir)
    app, store, report, out = d.app, d.store, d.report, d.out
    pump, settle, tap, shot = d.pump, d.settle, d.tap, d.shot
    d.unlock(info["username"], info["password"], "解锁")
    app.show("household", household_id=info["first"])
    household = app.manager.get_screen("household")
    pump()
    tap(household.ids.wuqing_button, "五清")
    wuqing = app.manager.get_screen("wuqing")
    pump()
    report["items"] = {
        code: {"buttons_disabled": [item.ids[b].disabled for b in
                                    ("verdict_clear", "verdict_unclear", "verdict_unchecked")],
               "hint": item.judge_hint,
               "hint_shown": item.ids.judge_hint.height > 0 and item.ids.judge_hint.opacity == 1}
        for code, item in wuqing.items.items()}
    item = wuqing.items["secretary_knows"]
    wuqing.ids.item_box.parent.scroll_to(item, animate=False)
    settle(0.3)
    report["note_disabled"] = item.ids.note.disabled
    report["photo_disabled"] = item.ids.photo_button.disabled
    button = item.ids.verdict_clear
    if button.disabled:
        # a real finger on the disabled button (Driver.tap would call a missed release an error)
        x, y = button.to_window(*button.center)
        touch = d.touch_class(x, y)
        touch.touch_down()
        pump(1)
        touch.touch_up()
        settle(0.6)  # the screen counts unsaved items every 0.5 s
        report["verdict_after_tap"] = item.verdict
        report["dirty_after_tap"] = wuqing.dirty_count
        report["message_after_tap"] = item.message
        shot(SHOT)
    else:
        tap(button, "清")
        report["verdict_after_tap"] = item.verdict
        tap(wuqing.ids.save_all_button, "保存全部")
        report["saved_message"] = wuqing.message
    app.stop()
    store.close()
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - the child process
    time.sleep(0)
    _child(*sys.argv[1:4])
