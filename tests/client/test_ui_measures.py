"""计划实施 vs 已落实 on the tablet, under Xvfb through touches on the real widgets: a cadre adds
帮扶措施 in the pop-up form (one carried out a month late with less money, one carried out as
planned, one not yet carried out), and the 帮扶措施 tab lists 计划实施与已落实对比 below the
measures in the console's words (``sync_protocol.crosscheck.plan_vs_done_line``), the ones that
differ from the plan in red. Screenshot: docs/screenshots/tablet_household_measures_plan.png.

Runs the real widgets in a child process like tests/client/test_ui.py (whose demo store, Xvfb
display and server fixtures it reuses)."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from sync_protocol.crosscheck import PLAN_VS_DONE_TITLE, plan_vs_done, plan_vs_done_line
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
RED = [0.8, 0.15, 0.15, 1.0]

# what the cadre types: (category, item, planned_on, planned_amount, status, done_on, amount)
TYPED = [
    ("industry", "养殖黄牛（到户产业）", "2026-03-01", "3000", "done", "2026-04-01", "2000"),
    ("other_education", "雨露计划", "2026-03-10", "1500", "done", "2026-03-10", "1500"),
    ("public_job", "公益性岗位", "2026-05-01", "", "planned", "", ""),
]


@pytest.fixture(scope="module")
def measures_run(display, tmp_path_factory, request):  # noqa: F811
    return drive_screens(request, display, tmp_path_factory, "measures", __file__)


def test_the_measures_tab_shows_plan_vs_done_in_the_consoles_words(measures_run):
    report = measures_run["report"]
    assert report["errors"] == []
    assert report["saved"] == [None, None, None]  # each pop-up closed: saved
    lines = report["lines"]
    assert lines[0] == {"text": PLAN_VS_DONE_TITLE, "color": None}
    # the same text the console's 计划实施与已落实对比 shows, from the one rule
    from kivy_client.store import Store

    store = Store(measures_run["store"], device_id=DEVICE)
    try:
        typed = {m[1] for m in TYPED}
        measures = [r.fields for r in store.children(measures_run["info"]["first"], "measure")
                    if r.fields.get("item") in typed]
    finally:
        store.close()
    assert len(measures) == 3
    expected = {}
    for m in measures:
        gap = plan_vs_done(m)
        assert gap is not None
        expected[plan_vs_done_line(m, gap)] = gap["differs"]
    shown = {line["text"]: line["color"] == RED for line in lines[1:]}
    assert shown == expected
    late = next(t for t in shown if t.startswith("养殖黄牛"))
    assert late == ("养殖黄牛（到户产业）（已落实）：计划实施2026-03-01，已落实2026-04-01，晚31天；"
                    "计划金额3,000元，落实金额2,000元（少1,000元）  【与计划不同】")
    assert shown[late] is True
    on_plan = next(t for t in shown if t.startswith("雨露计划"))
    assert "按计划" in on_plan and "与计划不同" not in on_plan and shown[on_plan] is False
    open_one = next(t for t in shown if t.startswith("公益性岗位"))
    assert open_one == "公益性岗位（计划实施）：计划实施2026-05-01，尚未落实"
    shot = measures_run["out"] / "tablet_household_measures_plan.png"
    assert shot.exists() and shot.stat().st_size > 10_000
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOTS / shot.name)


# --- the child ------------------------------------------------------------------------------------


def _child(store_path: str, out_dir: str, info_json: str) -> None:  # pragma: no cover
    info = json.loads(info_json)
    # sets the window size: before any other Kivy import
    d = Driver.offline(store_path, out_dir, report={"errors": [], "saved": []})
    app, store, report, out = d.app, d.store, d.report, d.out
    pump, settle, tap, shot, type_into = d.pump, d.settle, d.tap, d.shot, d.type_into
    from kivy_client.ui.widgets import SectionTitle, WrapLabel

    d.unlock(info["username"], info["password"], "离线解锁")
    app.show("household", household_id=info["first"])
    household = app.manager.get_screen("household")
    household.select_tab("measures")
    pump()
    measure_list = household.lists["measure"]
    for category, item, planned_on, planned_amount, status, done_on, amount in TYPED:
        tap(measure_list.add_button, "添加帮扶措施")
        settle()
        popup = measure_list.popup
        popup.form.set_values({"category": category, "status": status, "year": 2026})
        for name, text in (("item", item), ("planned_on", planned_on),
                           ("planned_amount", planned_amount), ("done_on", done_on),
                           ("amount", amount)):
            type_into(popup.form.inputs[name], text)
        tap(popup.save_button, "保存")
        settle()
        errors = {k: e.text for k, e in popup.form.errors.items() if e.text}
        report["saved"].append(errors or None)
        if errors:
            popup.dismiss()
            settle()
    household.select_tab("measures")
    pump()
    lines = []
    started = False
    for w in reversed(list(measure_list.children)):  # Kivy lists children last-added first
        if isinstance(w, SectionTitle) and w.text.startswith("计划实施与已落实"):
            started = True
        if started and isinstance(w, (SectionTitle, WrapLabel)):
            lines.append({"text": w.text,
                          "color": None if isinstance(w, SectionTitle) else list(w.color)})
    report["lines"] = lines
    scroll = household.ids.tabs.current_tab.content.children[-1]
    scroll.scroll_to(measure_list.children[0], animate=False)
    settle()
    shot("household_measures_plan")
    app.stop()
    store.close()
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - the child process
    _child(*sys.argv[1:4])
