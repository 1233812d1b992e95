"""The Kivy screens under Xvfb: every screen opens with demo data, a visit is recorded and a 五清
item marked through simulated touches, and each screen is saved (to
``docs/screenshots/`` with ``RUHU_SCREENSHOTS=1``, see tests/live.py).

Kivy keeps global state (one window, one app per process), so the screens run in a child process
(``python tests/client/test_ui.py STORE OUT``): the test builds a demo store with the real store
API (logged in once against the in-process server), the child drives the real widgets with touch
events and writes what it saw to a JSON file, and the test checks that file and the store's outbox.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from sync_protocol.policy import china_today
from tests.live import SCREENSHOTS

ROOT = Path(__file__).resolve().parents[2]
VILLAGE = "411702105201"
DEVICE = "tab-ui-test"

pytestmark = pytest.mark.gui


# --- the demo store (parent process, no Kivy) ----------------------------------------------------


def _id_number(serial: int, birth: str = "19800101") -> str:
    from sync_protocol.validation import build_id_number

    return build_id_number("411702", dt.date.fromisoformat(
        f"{birth[:4]}-{birth[4:6]}-{birth[6:]}"), serial)


NAMES = ["张德明", "李桂英", "王建国", "刘秀兰", "陈国强", "杨玉梅", "赵志刚", "黄淑芬",
         "周长林", "吴丽娟", "徐永福", "孙晓燕"]


def build_demo_store(path: Path, client: Any, username: str, password: str) -> dict[str, Any]:
    """A tablet store as after a first sync: 12 households pulled, then some offline work.

    One household (the first) gets a field conflict that a clerk must decide; one member edit is
    rejected by the server. Returns ids the child and the assertions need.
    """
    from kivy_client.session import Session
    from kivy_client.store import Store

    store = Store(path, device_id=DEVICE)
    session = Session(store, client=client)
    session.login_online(username, password)
    year = china_today().year
    changes: list[dict[str, Any]] = []
    household_ids = []
    for i, name in enumerate(NAMES):
        hid = str(uuid.uuid4())
        household_ids.append(hid)
        monitored = ["unstable", "marginal", "sudden_hardship", "none"][i % 4]
        changes.append({"entity": "household", "record_id": hid, "version": 3, "deleted": False,
                        "fields": {
                            "village_code": VILLAGE, "group_name": f"第{i % 3 + 1}村民小组",
                            "household_number": f"4117021052010{i + 1:03d}", "head_name": name,
                            "head_id_number": _id_number(i + 1), "address": f"张庄{i + 1}号",
                            "phone": f"1380000{i + 1:04d}",
                            "poverty_status": ["exited", "not_exited", "exited", "none"][i % 4],
                            "monitoring_category": monitored,
                            "causes": [["illness", "no_capital"], ["schooling"], ["disability"],
                                       []][i % 4],
                            "identified_year": 2016, "exit_year": 2019 if i % 4 != 1 else None,
                            "food_secure": True, "clothing_secure": True,
                            "education_secure": True, "medical_secure": True,
                            "housing_secure": i % 5 != 0, "water_secure": True,
                            "housing_grade": "B", "drinking_water_safe": True}})
        for j, (mname, rel, birth) in enumerate([(name, "head", "19650304"),
                                                 (NAMES[(i + 5) % 12][0] + "秀云", "spouse",
                                                  "19680712"),
                                                 (name[0] + "小军", "son", "20100915")]):
            changes.append({"entity": "member", "record_id": str(uuid.uuid4()), "version": 1,
                            "deleted": False, "fields": {
                                "household_id": hid, "name": mname, "relation": rel,
                                "gender": "female" if rel == "spouse" else "male",
                                "id_number": _id_number(i * 10 + j + 1, birth)
                                if j else _id_number(i + 1),
                                "birth_date": f"{birth[:4]}-{birth[4:6]}-{birth[6:]}",
                                "health": "chronic" if j == 0 and i % 4 == 0 else "healthy",
                                "labor_ability": "normal", "schooling": "junior" if j == 2
                                else "not_in_school"}})
        for y, amount in ((year - 1, 9800 + i * 500), (year, 10400 + i * 450)):
            changes.append({"entity": "income_item", "record_id": str(uuid.uuid4()),
                            "version": 1, "deleted": False, "fields": {
                                "household_id": hid, "year": y, "category": "wage",
                                "item": "外出务工", "amount": amount}})
        health = i % 4 == 0
        changes.append({"entity": "measure", "record_id": str(uuid.uuid4()), "version": 1,
                        "deleted": False, "fields": {
                            "household_id": hid, "category": "health" if health else "industry",
                            "item": "家庭医生签约服务" if health else "小麦种植补贴",
                            "start_date": f"{year}-03-01", "amount": 1200,
                            "provider": "驿城区卫健委" if health else "水屯镇农业服务中心",
                            "status": "in_progress"}})
        changes.append({"entity": "helper_assignment", "record_id": str(uuid.uuid4()),
                        "version": 1, "deleted": False, "fields": {
                            "household_id": hid, "helper_name": "马卫东",
                            "helper_unit": "驿城区农业农村局", "helper_position": "科员",
                            "helper_phone": "13939600001", "start_date": "2021-05-01"}})
        for kind, day in (("identified", "2016-04-10"), ("pre_exit", "2019-09-01"),
                          ("exited", "2019-12-20")):
            changes.append({"entity": "status_event", "record_id": str(uuid.uuid4()),
                            "version": 1, "deleted": False, "fields": {
                                "household_id": hid, "kind": kind, "date": day}})
        if i % 3 == 0:
            changes.append({"entity": "visit", "record_id": str(uuid.uuid4()), "version": 1,
                            "deleted": False, "fields": {
                                "household_id": hid,
                                "visited_at": f"{china_today():%Y-%m}-01T09:30:00+08:00",
                                "purpose": "日常走访", "notes": "家中种植小麦，长子在郑州务工",
                                "co_visitor": "村委 刘强", "location_captured": True,
                                "lat": 32.97, "lng": 114.02, "household_confirmed": True}})
    first = household_ids[0]
    conflict = {
        "id": str(uuid.uuid4()), "kind": "field", "entity": "household", "record_id": first,
        "household_id": first, "village_code": VILLAGE, "field": "phone",
        "base_value": "13800000001",
        "server": {"value": "13912345678", "user_name": "李书记", "device_id": "tab-2",
                   "hlc": "1763884800123-0000-tab-2", "version": 4},
        "client": {"value": "13700001111", "user_name": "王村干", "device_id": DEVICE,
                   "hlc": "1763884800456-0000-" + DEVICE, "version": 4},
        "status": "open", "detected_at": "2026-11-20T08:00:00+00:00"}
    store.apply_pull_page({"changes": changes, "conflicts": [conflict], "next_cursor": "c1",
                           "has_more": False,
                           "reference": {
                               "regions": [{"code": VILLAGE, "name": "张庄村", "level": "village",
                                            "parent": VILLAGE[:9] + "000"}],
                               "income_lines": [{"province": "41", "year": china_today().year,
                                                 "amount": 7000, "monitoring_amount": 7000}],
                               "county_policies": [{"county_code": "411702",
                                                    "visit_interval_days": 30,
                                                    "monitored_visit_interval_days": 30}]}})
    store.set_meta("last_sync_at", "2026-11-22T10:15:00+00:00")
    # offline work: a phone edit on the second household, a member edit the server refuses
    second = household_ids[1]
    store.update("household", second, {"phone": "13611112222"})
    member = store.children(second, "member")[0]
    store.update("member", member.id, {"migrant_place": "郑州市"})
    rejected = store.outbox()[-1]
    store.mark_sent([rejected.change_id])
    store.apply_push_results([{"change_id": rejected.change_id, "status": "rejected",
                               "record_id": member.id, "error": {
                                   "code": "scope.out_of_scope",
                                   "message": "记录不存在或不在您的管辖范围内",
                                   "field": None}}])
    pending_before = store.pending_count()
    store.close()
    return {"first": first, "second": second, "pending_before": pending_before,
            "photo": str(_photo(path.parent))}


def _photo(folder: Path) -> Path:
    """A small real JPEG (the evidence photo chosen with the file chooser)."""
    path = folder / "visit-photo.jpg"
    # a 1x1 baseline JPEG
    path.write_bytes(bytes.fromhex(
        "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b"
        "0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e3334"
        "32ffc0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708"
        "090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114"
        "328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748"
        "494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999a"
        "a2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7"
        "e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"))
    return path


# --- the child process: real widgets, touches, screenshots ----------------------------------------


def _xvfb_binary() -> str | None:
    return shutil.which("Xvfb")


@pytest.fixture(scope="module")
def display():
    """An X display: a private Xvfb (CI and this machine have it), else skip."""
    binary = _xvfb_binary()
    if binary is None:
        pytest.skip("Xvfb is not installed (Debian package xvfb): the Kivy screens need a display")
    for number in range(90, 110):
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        proc = subprocess.Popen([binary, f":{number}", "-screen", "0", "1280x800x24", "-nolisten",
                                 "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                break
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        if proc.poll() is None:
            yield f":{number}"
            proc.terminate()
            proc.wait(5)
            return
    pytest.skip("no free X display number for Xvfb")


def run_child(display: str, script: Path, store_path: Path, out: Path,
              info: dict[str, Any]) -> dict[str, Any]:
    """Run ``script STORE OUT INFO`` under ``display``; returns the JSON report it wrote."""
    kivy_home = tempfile.mkdtemp(prefix="ruhu-kivy-")
    env = {**os.environ, "DISPLAY": display, "KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1",
           "KIVY_HOME": kivy_home, "KIVY_LOG_MODE": "PYTHON", "KIVY_METRICS_DENSITY": "1",
           "KIVY_NO_FILELOG": "1", "SDL_AUDIODRIVER": "dummy", "PYTHONPATH": str(ROOT)}
    report = out / "report.json"
    cmd = [sys.executable, str(script), str(store_path), str(out),
           json.dumps(info)]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    shutil.rmtree(kivy_home, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]
    return json.loads(report.read_text(encoding="utf-8"))


def drive_screens(request: Any, display: str, tmp_path_factory: Any, name: str,
                  script: str) -> dict[str, Any]:
    """Build the demo store for a cadre (needs the server fixtures), run ``script``'s child
    part on it under ``display``; the store's path, the ids, and what the child saw."""
    client = request.getfixturevalue("ui_client")
    make_user = request.getfixturevalue("ui_make_user")
    from tests.conftest import PASSWORD

    make_user("wang_cadre", "village_cadre", [VILLAGE], name="王村干")
    folder = tmp_path_factory.mktemp(name)
    store_path = folder / "tablet.sqlite3"
    info = build_demo_store(store_path, client, "wang_cadre", PASSWORD)
    info.update(username="wang_cadre", password=PASSWORD)
    out = folder / "out"
    out.mkdir()
    report = run_child(display, Path(script).resolve(), store_path, out, info)
    return {"info": info, "report": report, "store": store_path, "out": out}


@pytest.fixture(scope="module")
def ui_run(display, tmp_path_factory, request):
    """Build the demo store and drive every screen once."""
    return drive_screens(request, display, tmp_path_factory, "ui", __file__)


# conftest's server fixtures are function-scoped; the module-scoped ui_run needs them once.
@pytest.fixture(scope="module")
def ui_client(request):
    from fastapi.testclient import TestClient

    from server.app import create_app
    from tests.conftest import empty_tables, make_settings

    engine = empty_tables(request.getfixturevalue("engine"))
    with TestClient(create_app(settings=make_settings(), engine=engine)) as c:
        yield c


@pytest.fixture(scope="module")
def ui_make_user(request, ui_client):
    from sqlmodel import Session

    from server.db.tables import User
    from server.security import hash_password
    from tests.conftest import PASSWORD

    engine = request.getfixturevalue("engine")

    def make(username: str, role: str, scopes: list[str], *, name: str | None = None) -> User:
        user = User(username=username, name=name or username, role=role, scopes=scopes,
                    password_hash=hash_password(PASSWORD))
        with Session(engine, expire_on_commit=False) as session:
            session.add(user)
            session.commit()
        return user

    return make


# --- the tests ---------------------------------------------------------------------------------


SCREENS = ["login", "roster", "household", "household_income", "household_security",
           "household_causes", "household_measures", "household_helpers", "household_history",
           "members", "member_edit", "visit", "wuqing",
           "conflicts", "new_household", "logout_warning", "sync_offline", "pin",
           "household_procedures", "procedure_verify"]


def test_every_screen_opens_with_demo_data(ui_run):
    report = ui_run["report"]
    assert report["errors"] == []
    assert report["after_unlock"] == "roster"
    assert report["roster_rows"] == len(NAMES)
    assert report["search_zdm"] == 1  # pinyin initials of 张德明
    assert report["search_id_tail"] == 1
    assert report["filter_conflict"] == 1
    assert report["household_title"] == "张德明户"
    assert report["issue_count"] == 1
    assert "乡镇乡村振兴（防返贫）专干" in report["conflict_text"]
    assert "13912345678" in report["conflict_text"] and "李书记" in report["conflict_text"]
    assert "没有接受" in report["rejection_text"]
    assert report["status_bar"]["conflicts"] == 1
    for name in SCREENS:
        shot = ui_run["out"] / f"tablet_{name}.png"
        assert shot.exists() and shot.stat().st_size > 10_000, name
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOTS / shot.name)


def test_procedure_started_from_the_household_screen(ui_run):
    report = ui_run["report"]
    assert report["procedures"] == ["纳入监测：已提出"] or report["procedures"][0].startswith(
        "纳入监测：已提出"), report["procedures"]
    assert "至少两名核实人员" in report["verify_error"]
    assert report["from_visit"]["source"] == "screening"
    assert "走访" in report["from_visit"]["title"], report["from_visit"]


def test_member_id_validation_shows_chinese_message(ui_run):
    report = ui_run["report"]
    assert "身份证号校验位错误" in report["member_error"]


def test_visit_recorded_through_touches_lands_in_outbox(ui_run):
    from kivy_client.store import Store

    report = ui_run["report"]
    assert report["visit_location_text"].startswith("本设备不支持定位")
    store = Store(ui_run["store"], device_id=DEVICE)
    try:
        visits = [c for c in store.outbox(limit=1000) if c.entity == "visit"]
        assert len(visits) == 1
        fields = visits[0].fields
        assert fields["household_id"] == ui_run["info"]["first"]
        assert fields["purpose"] == "监测核查"
        assert fields["notes"] == "核实务工收入，已更新明白卡"
        assert fields["co_visitor"] == "刘强"
        assert report["proposal_disabled_before"] is True
        assert fields["findings"] == ["risk_clue"]
        assert fields["finding_note"] == "家中老人住院，自付医疗费用较高"
        assert fields["proposes_entry"] is True
        assert fields["household_confirmed"] is True
        assert fields["location_captured"] is False and "lat" not in fields
        assert len(fields["attachment_ids"]) == 1
        assert store.attachment_bytes(fields["attachment_ids"][0]) is not None
    finally:
        store.close()


def test_checklist_item_marked_through_touches_lands_in_outbox(ui_run):
    from kivy_client.store import Store

    store = Store(ui_run["store"], device_id=DEVICE)
    try:
        items = [c for c in store.outbox(limit=1000) if c.entity == "checklist_item"]
        assert len(items) == 1
        fields = items[0].fields
        assert fields["item_code"] == "base_file"
        assert fields["verdict"] == "clear"
        assert fields["note"] == "明白卡已核对"
        assert ui_run["report"]["wuqing_verdict_after"] == "clear"
        report = ui_run["report"]
        assert "整改期限" in report["wuqing_refused"], report["wuqing_refused"]
        # 保存全部: two changed items, one refused -> nothing saved, both kept on screen
        assert report["wuqing_dirty_count"] == 2
        assert report["wuqing_refused_kept"] == ["clear", "明白卡已核对"]
        assert report["wuqing_saved_message"] == "已保存 1 项到本机，联网后同步"
        created = [c for c in store.outbox(limit=1000) if c.entity == "household"
                   and c.base_version is None]
        assert [c.fields["head_name"] for c in created] == ["郑国富"]
    finally:
        store.close()


def test_sync_without_signal_reports_and_keeps_the_outbox(ui_run):
    report = ui_run["report"]
    assert report["sync_started"] is True
    assert report["sync_message"].startswith("同步未完成")
    assert report["outbox_kept"] is True


def test_member_deleted_after_confirmation_and_back_button(ui_run):
    from kivy_client.store import Store

    report = ui_run["report"]
    assert report["delete_asks"] == "确认删除？"
    assert report["members_after_delete"] == 2
    assert report["back_from_wuqing"] == "household"
    store = Store(ui_run["store"], device_id=DEVICE)
    try:
        deletes = [c for c in store.outbox(limit=1000) if c.op == "delete"]
        assert [(c.entity, c.record_id) for c in deletes] == [("member",
                                                               report["deleted_member"])]
    finally:
        store.close()


def test_device_pin_can_be_set(ui_run):
    from kivy_client.session import Session
    from kivy_client.store import Store

    report = ui_run["report"]
    assert report["pin_mismatch"] == "两次输入的PIN码不一致"
    assert report["pin_set"] is True
    store = Store(ui_run["store"], device_id=DEVICE)
    try:  # the PIN unlocks this tablet offline
        account = Session(store, "http://127.0.0.1:9").unlock("wang_cadre", pin="2468")
        assert account.username == "wang_cadre"
    finally:
        store.close()


def test_logout_with_unsynced_work_warns(ui_run):
    report = ui_run["report"]
    assert "未上传" in report["logout_warning"]
    assert report["still_signed_in"] is True


# --- the child ------------------------------------------------------------------------------------


class Driver:  # pragma: no cover - runs in the child process
    """Drives a ``RuhuApp`` without ``App.run()``: frames are pumped by hand, touches are real
    touch events dispatched through Kivy's event loop, screenshots come from the window."""

    def __init__(self, presenters: Any, out: Path, report: dict[str, Any]) -> None:
        from kivy.config import Config

        Config.set("graphics", "width", "1280")
        Config.set("graphics", "height", "800")
        Config.set("input", "mouse", "mouse,disable_multitouch")
        Config.set("kivy", "exit_on_escape", "0")
        from kivy.base import EventLoop
        from kivy.core.window import Window
        from kivy.tests.common import UnitTestTouch

        from kivy_client.ui.app import RuhuApp

        self.loop, self.window, self.touch_class = EventLoop, Window, UnitTestTouch
        self.out, self.report, self.presenters = out, report, presenters
        self.store: Any = None
        self.app = RuhuApp(presenters)
        self.app._run_prepare()  # what App.run() does before its loop; we pump frames ourselves
        self.pump(8)

    @classmethod
    def offline(cls, store_path: str, out_dir: str, *, report: dict[str, Any] | None = None,
                sync_options: dict[str, Any] | None = None) -> Driver:
        """A driver of the tablet app on the store at ``store_path``, offline: nothing listens
        on port 9, and one quick retry keeps a test short unless ``sync_options`` say more.
        ``report`` (default ``{"errors": []}``) collects what the child reports."""
        from kivy_client.store import Store
        from kivy_client.ui.presenters import Presenters

        store = Store(store_path, device_id=DEVICE)
        presenters = Presenters(store, "http://127.0.0.1:9",
                                sync_options=sync_options or {"max_retries": 1, "backoff": 0.01})
        driver = cls(presenters, Path(out_dir), report or {"errors": []})
        driver.store = store
        return driver

    def unlock(self, username: str, password: str, label: str | None = None) -> Any:
        """Type the name and password on the login screen and tap 解锁; the login screen."""
        login = self.app.manager.get_screen("login")
        self.type_into(login.ids.username, username)
        self.type_into(login.ids.password, password)
        self.tap(login.ids.unlock_button, label)
        return login

    def pump(self, frames: int = 4) -> None:
        for _ in range(frames):
            self.loop.idle()

    def settle(self, seconds: float = 0.4) -> None:
        """Let time-based animations (popup open/dismiss) finish."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.loop.idle()

    def wait(self, condition: Any, timeout: float = 20.0) -> bool:
        """Pump frames until ``condition()`` (work on other threads reports back via Clock)."""
        end = time.monotonic() + timeout
        while not condition() and time.monotonic() < end:
            self.settle(0.05)
        return bool(condition())

    def tap(self, widget: Any, name: str = "") -> None:
        """A finger down and up on the centre of ``widget`` (after layout has settled)."""
        fired: list[bool] = []
        handler = lambda *_a: fired.append(True)  # noqa: E731
        widget.fbind("on_release", handler)
        x = y = 0.0
        for attempt in range(3):
            self.settle(0.15 * (attempt + 1))
            x, y = widget.to_window(*widget.center)
            touch = self.touch_class(x, y)
            touch.touch_down()
            self.pump(1)
            touch.touch_up()
            self.pump(3)
            if fired:
                break
        widget.funbind("on_release", handler)
        if not fired:
            self.report["errors"].append(f"tap on {name or widget} missed it at {x:.0f},{y:.0f}")

    def shot(self, name: str) -> None:
        self.pump(6)
        produced = self.window.screenshot(str(self.out / f"tablet_{name}.png"))
        Path(produced).rename(self.out / f"tablet_{name}.png")

    def type_into(self, widget: Any, text: str) -> None:
        widget.text = text
        self.pump(1)


def _child(store_path: str, out_dir: str, info_json: str) -> None:  # pragma: no cover - subprocess
    info = json.loads(info_json)
    d = Driver.offline(store_path, out_dir)
    app, store, report, out, presenters = d.app, d.store, d.report, d.out, d.presenters
    pump, settle, tap, shot, type_into = d.pump, d.settle, d.tap, d.shot, d.type_into

    # login / unlock: offline (the server address does not answer)
    login = app.manager.get_screen("login")
    assert app.manager.current == "login"
    type_into(login.ids.username, info["username"])
    type_into(login.ids.password, "wrong-password")
    tap(login.ids.unlock_button)
    report["wrong_password_message"] = login.message
    type_into(login.ids.password, "")
    shot("login")
    type_into(login.ids.password, info["password"])
    tap(login.ids.unlock_button)
    report["after_unlock"] = app.manager.current

    # roster: search and filters
    roster = app.manager.get_screen("roster")
    roster.refresh()
    pump()
    report["roster_rows"] = len(roster.ids.rv.data)
    shot("roster")
    type_into(roster.ids.search, "zdm")
    roster.refresh()
    report["search_zdm"] = len(roster.ids.rv.data)
    type_into(roster.ids.search, "")
    roster.refresh()
    tail = roster.presenters.store.get("household", info["first"]).fields["head_id_number"][-8:]
    type_into(roster.ids.search, tail)
    roster.refresh()
    report["search_id_tail"] = len(roster.ids.rv.data)
    type_into(roster.ids.search, "")
    tap(roster.ids.filter_conflict)
    report["filter_conflict"] = len(roster.ids.rv.data)
    tap(roster.ids.filter_conflict)
    pump()

    # a device PIN for offline unlock (mismatch first: a Chinese message, nothing saved)
    d.tap(roster.ids.pin_button, "设置PIN码")
    pin_popup = roster.pin_popup
    settle()
    type_into(pin_popup.ids.pin, "2468")
    type_into(pin_popup.ids.pin_again, "2469")
    tap(pin_popup.ids.save_button, "保存PIN")
    report["pin_mismatch"] = pin_popup.message
    shot("pin")
    type_into(pin_popup.ids.pin_again, "2468")
    tap(pin_popup.ids.save_button, "保存PIN")
    settle()
    report["pin_set"] = presenters.login.has_pin
    # household file: open the first row by touching it
    rows = [w for w in roster.ids.rv.children[0].children]
    target = next(w for w in rows if w.household_id == info["first"])
    tap(target)
    household = app.manager.get_screen("household")
    report["household_screen"] = app.manager.current
    report["household_title"] = household.title
    report["issue_count"] = household.issue_count
    shot("household")
    for tab in ("income", "security", "causes", "measures", "helpers", "history"):
        household.select_tab(tab)
        shot(f"household_{tab}")
    household.select_tab("members")
    pump()
    shot("members")
    member_list = household.lists["member"]
    tap(member_list.add_button)
    popup = member_list.popup
    settle()
    type_into(popup.form.inputs["name"], "张小红")
    type_into(popup.form.inputs["id_number"], "411702201001010010")
    tap(popup.save_button)
    report["member_error"] = popup.form.errors["id_number"].text
    shot("member_edit")
    popup.dismiss()
    settle()
    # delete a wrongly entered member: the first tap asks, the second deletes
    son = next(r for r in household.view["members"] if r["relation"] == "son")
    popup = member_list.open(son)
    settle()
    tap(popup.delete_button, "删除")
    report["delete_asks"] = popup.delete_button.text
    tap(popup.delete_button, "确认删除")
    settle()
    report["deleted_member"] = son["id"]
    report["members_after_delete"] = len(household.view["members"])

    # 监测程序: 发起纳入监测 through the tab's button, then a refused 入户核实 (one verifier)
    household.select_tab("procedures")
    pump()
    panel = household.procedure_panel
    tap(panel.buttons["entry"], "发起纳入监测")
    popup = panel.popup
    settle()
    popup.form.set_values({"source": "screening", "category": "sudden_hardship",
                           "risk_types": ["illness", "large_expense"]})
    tap(popup.save_button)
    settle()
    procs = household.presenters.procedures.rows(household.household_id)
    report["procedures"] = [p["describe"]["title"] for p in procs]
    shot("household_procedures")  # the 监测程序 tab with the procedure just proposed
    verify = next(k for k in panel.buttons if k.startswith("verify:"))
    tap(panel.buttons[verify], "入户核实")
    popup = panel.popup
    settle()
    type_into(popup.form.inputs["verifiers"], "张卫东")
    tap(popup.save_button)
    report["verify_error"] = " ".join(e.text for e in popup.form.errors.values()) + \
        popup.general.text
    shot("procedure_verify")
    popup.dismiss()
    settle()
    # 发起纳入监测 from one of the household's visits: source 干部排查 pre-filled, visit named
    from_visit = panel.buttons[next(k for k in panel.buttons if k.startswith("entry_visit:"))]
    scroller = from_visit.parent
    while scroller is not None and not hasattr(scroller, "scroll_to"):
        scroller = scroller.parent
    if scroller is not None:  # the visits are listed below the procedures
        scroller.scroll_to(from_visit, animate=False)
        settle()
    tap(from_visit, "依据此次走访发起纳入监测")
    popup = panel.popup
    settle()
    report["from_visit"] = {"title": popup.title, "source": popup.form.values().get("source")}
    popup.dismiss()
    settle()

    # a visit through touches
    tap(household.ids.visit_button)
    visit = app.manager.get_screen("visit")
    pump()
    report["visit_location_text"] = visit.location_text
    visit.ids.purpose.text = "监测核查"
    type_into(visit.ids.notes, "核实务工收入，已更新明白卡")
    type_into(visit.ids.co_visitor, "刘强")
    # 走访发现: a risk clue, its note, the proposal to start 纳入监测 (enabled once there is one)
    report["proposal_disabled_before"] = visit.ids.proposes_entry.disabled
    visit.ids.scroll.scroll_to(visit.ids.finding_risk_clue)
    pump()
    tap(visit.ids.finding_risk_clue)
    pump()
    visit.ids.scroll.scroll_to(visit.ids.proposes_entry)
    pump()
    type_into(visit.ids.finding_note, "家中老人住院，自付医疗费用较高")
    tap(visit.ids.proposes_entry)
    visit.ids.scroll.scroll_to(visit.ids.photo_button)
    pump()
    tap(visit.ids.photo_button)
    visit.chooser.choose(info["photo"])  # the file chooser (no camera on this machine)
    settle()
    visit.ids.scroll.scroll_to(visit.ids.confirmed)
    pump()
    tap(visit.ids.confirmed)
    shot("visit")
    tap(visit.ids.save_button)
    report["after_visit"] = app.manager.current

    # 五清: 措施清 as 不清 with a 整改期限 that is no date (refused before saving) ...
    tap(household.ids.wuqing_button)
    wuqing = app.manager.get_screen("wuqing")
    pump()
    item = wuqing.items["measures"]
    wuqing.ids.item_box.parent.scroll_to(item)
    pump()
    tap(item.ids.verdict_unclear)
    pump()
    type_into(item.ids.rectify_by, "明年春天")
    # ... and 底子清 as 清 with a note; 保存全部 saves all or nothing: the refusal keeps both
    base = wuqing.items["base_file"]
    wuqing.ids.item_box.parent.scroll_to(base)
    pump()
    tap(base.ids.verdict_clear)
    type_into(base.ids.note, "明白卡已核对")
    pump()
    report["wuqing_dirty_count"] = wuqing.dirty_count
    tap(wuqing.ids.save_all_button, "保存全部")
    report["wuqing_refused"] = item.message
    report["wuqing_refused_kept"] = [wuqing.items["base_file"].verdict,
                                     wuqing.items["base_file"].ids.note.text]
    # the refused verdict stays a draft (leaving would ask 保存/放弃/继续编辑): the cadre undoes it
    wuqing.ids.item_box.parent.scroll_to(item)
    pump()
    tap(item.ids.verdict_unchecked)
    tap(wuqing.ids.save_all_button, "保存全部")
    report["wuqing_saved_message"] = wuqing.message
    report["wuqing_verdict_after"] = wuqing.items["base_file"].verdict
    wuqing.ids.item_box.parent.scroll_y = 1
    shot("wuqing")
    # Android's back button (Escape) goes back one screen instead of quitting
    d.window.dispatch("on_keyboard", 27, 0, None, [])
    pump()
    report["back_from_wuqing"] = app.manager.current

    # conflicts and rejections (the second household has the rejection)
    app.show("conflicts", household_id=info["first"])
    conflicts = app.manager.get_screen("conflicts")
    pump()
    report["conflict_text"] = " ".join(c.message for c in conflicts.ids.cards.children)
    app.show("conflicts", household_id=info["second"])
    pump()
    report["rejection_text"] = " ".join(c.message for c in conflicts.ids.cards.children)
    app.show("conflicts", household_id=info["first"])
    shot("conflicts")

    # a new household, created offline
    app.show("roster")
    pump()
    tap(roster.ids.new_button, "新建农户")
    household = app.manager.get_screen("household")
    form = household.basic_form
    type_into(form.inputs["head_name"], "郑国富")
    type_into(form.inputs["head_id_number"], _id_number(99))
    type_into(form.inputs["address"], "张庄99号")
    shot("new_household")
    tap(household.save_basic_button)
    report["new_household_message"] = household.message

    bar = app.status_bar
    app.update_status()
    report["status_bar"] = {"pending": bar.pending, "conflicts": bar.conflicts,
                            "rejected": bar.rejected}
    # logging out with unsynced work warns and keeps the user signed in
    tap(bar.ids.logout_button)
    settle()
    report["logout_warning"] = app.logout_popup.content.children[-1].text \
        if app.logout_popup else ""
    report["still_signed_in"] = presenters.signed_in
    shot("logout_warning")
    if app.logout_popup:
        app.logout_popup.dismiss()
    settle()
    # a sync without a signal: runs off the UI thread, says so in the bar, loses nothing
    outbox_before = store.pending_count()
    seen: list[bool] = []
    bar.fbind("syncing", lambda _bar, value: seen.append(value))
    tap(bar.ids.sync_button, "sync")
    report["sync_started"] = seen[:1] == [True]
    deadline = time.monotonic() + 20
    while bar.syncing and time.monotonic() < deadline:
        settle(0.1)
    report["sync_message"] = bar.online_text
    report["outbox_kept"] = store.pending_count() == outbox_before
    shot("sync_offline")
    app.stop()
    store.close()
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - the child process
    _child(*sys.argv[1:4])
