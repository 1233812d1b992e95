"""The county switched its 五清 template and changed the monitoring income line: after the sync
that brings it the cadre sees a notice saying so (县级设置已更新), under Xvfb on the real widgets.
Nothing is said at unlock before that sync; the notice not yet seen (the app died with it open)
comes back after the next unlock; 知道了 ends it for good.

Runs the real widgets in child processes like tests/client/test_ui.py (whose demo store, Xvfb
display and server fixtures it reuses): one child up to the notice, a second one after the
"restart" on the same store."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sync_protocol.policy import china_today
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
SHOT = "reference_notice"
YEAR = china_today().year
OWN = {"code": "411702.wuqing.v2", "name": "五清（驿城区入户核查版）",
       "items": [{"code": "jiadi", "title": "家底清", "hint": "base_file"},
                 {"code": "cuoshi", "title": "帮扶措施清", "hint": "measures"},
                 {"code": "shuji", "title": "村书记掌握清", "secretary_only": True}]}
TOLD = ["五清模板已更新为「五清（驿城区入户核查版）」",
        f"县级政策已更新：{YEAR}年监测收入标准由 7,000 元调整为 7,300 元"]


def _reference(before: dict[str, Any], template: str, line: float) -> dict[str, Any]:
    """The demo store's reference data with the county's template and monitoring line."""
    policy = {**before["county_policies"][0], "checklist_template": template,
              "monitoring_lines": {str(YEAR): line}}
    return {**before, "tag": f"{template}-{line}", "county_policies": [policy],
            "checklist_templates": [OWN]}


@pytest.fixture(scope="module")
def runs(display, tmp_path_factory, ui_client, ui_make_user):  # noqa: F811
    """A cadre's tablet whose earlier notice (the monitoring line set) was seen; the child up
    to the new notice, then the child again after the restart."""
    from kivy_client.store import Store
    from tests.conftest import PASSWORD

    ui_make_user("wang_cadre", "village_cadre", [VILLAGE], name="王村干")
    folder = tmp_path_factory.mktemp("reference-notice")
    store_path = folder / "tablet.sqlite3"
    info = build_demo_store(store_path, ui_client, "wang_cadre", PASSWORD)
    with Store(store_path, device_id=DEVICE) as store:
        known = _reference(store.reference(), "wuqing.v1", 7000)
        store.apply_pull_page({"changes": [], "next_cursor": "c-ref", "has_more": False,
                               "reference": known})
        store.reference_notice_seen(store.reference_notice())
        assert store.reference_notice() == []
    info.update(username="wang_cadre", password=PASSWORD,
                reference=_reference(known, OWN["code"], 7300))
    out: dict[str, Any] = {"store": store_path}
    for phase in ("sync", "restart"):
        (folder / phase).mkdir()
        info["phase"] = phase
        out[phase] = run_child(display, Path(__file__).resolve(), store_path, folder / phase,
                               info)
    out["shot"] = folder / "sync" / f"tablet_{SHOT}.png"
    return out


def test_the_notice_after_the_sync_that_brought_the_change(runs):
    r = runs["sync"]
    assert r["errors"] == []
    assert r["popup_after_unlock"] is False  # nothing new before the sync
    assert r["title"] == "县级设置已更新"
    assert r["lines"] == TOLD
    for line in TOLD:
        assert f"·{line}" in r["text"]
    shot = runs["shot"]
    assert shot.exists() and shot.stat().st_size > 10_000
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOTS / shot.name)


def test_not_seen_it_comes_back_after_a_restart_and_is_told_once(runs):
    from kivy_client.store import Store

    r = runs["restart"]
    assert r["errors"] == []
    assert r["popup_after_unlock"] is True
    assert r["lines"] == TOLD  # the app died with the notice open: told again after unlock
    assert r["popup_after_ok"] is False
    assert r["notice_after_ok"] == []
    with Store(runs["store"], device_id=DEVICE) as store:
        assert store.reference_notice() == []  # seen: never again
        assert store.hint_policy({"village_code": VILLAGE}).template_code == OWN["code"]


# --- the child ------------------------------------------------------------------------------------


def _child(store_path: str, out_dir: str, info_json: str) -> None:  # pragma: no cover
    from kivy.uix.button import Button

    from kivy_client.sync import SyncReport

    info = json.loads(info_json)
    d = Driver.offline(store_path, out_dir)
    app, store, report, out = d.app, d.store, d.report, d.out
    d.unlock(info["username"], info["password"], "解锁")
    d.settle()
    report["popup_after_unlock"] = app.reference_popup is not None
    if info["phase"] == "sync":
        # what a sync's pull does, then how the app ends a sync (like the conflict notice's test)
        store.apply_pull_page({"changes": [], "next_cursor": "c-new", "has_more": False,
                               "reference": info["reference"]})
        app._finished(SyncReport(), None)
        d.settle()
    popup = app.reference_popup
    report["title"] = popup.title if popup else ""
    report["text"] = popup.content.children[-1].text if popup else ""
    report["lines"] = [line[1:] for line in report["text"].split("\n") if line.startswith("·")]
    if info["phase"] == "sync":
        d.shot(SHOT)  # and the app dies here, the notice not yet seen
    elif popup is not None:
        ok = next(w for w in popup.walk() if isinstance(w, Button) and w.text == "知道了")
        d.tap(ok, "知道了")
        d.settle()
        report["popup_after_ok"] = app.reference_popup is not None
        report["notice_after_ok"] = store.reference_notice()
    app.stop()
    store.close()
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - the child process
    time.sleep(0)
    _child(*sys.argv[1:4])
