"""The tablet app against a live server (uvicorn on the test database, demo county seeded):
online login through the login screen (no sync buttons or counts before it), the first sync
starting by itself on an empty tablet (the roster says it is downloading) on a worker thread,
and a visit recorded through touches reaching the server on the next sync.

Runs the app in a child process, like ``test_ui.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.client.test_ui import SCREENSHOTS, Driver, display, run_child  # noqa: F401
from tests.live import serve

pytestmark = pytest.mark.gui

VILLAGE = "411702105201"
DEVICE = "tab-ui-online"


@pytest.fixture(scope="module")
def live_server(request):
    """The real app on the test database with the demo county, served by uvicorn on a thread."""
    from server.app import create_app
    from server.demo import seed_demo
    from server.reference import ensure_defaults
    from tests.conftest import PASSWORD, empty_tables, make_settings

    engine = empty_tables(request.getfixturevalue("engine"))
    ensure_defaults(engine)
    seed_demo(engine, password=PASSWORD)
    with serve(create_app(settings=make_settings(), engine=engine)) as url:
        yield {"url": url, "engine": engine, "password": PASSWORD}


@pytest.fixture(scope="module")
def online_run(display, live_server, tmp_path_factory):  # noqa: F811
    folder = tmp_path_factory.mktemp("ui-online")
    out = folder / "out"
    out.mkdir()
    info = {"url": live_server["url"], "username": "demo_cadre",
            "password": live_server["password"]}
    report = run_child(display, Path(__file__).resolve(), folder / "tablet.sqlite3", out, info)
    return {"report": report, "out": out, "engine": live_server["engine"]}


def test_online_login_and_first_sync_fill_the_roster(online_run):
    import sqlalchemy as sa

    report = online_run["report"]
    assert report["errors"] == []
    assert report["login_bar"] == {"sync_visible": False, "logout_visible": False,
                                   "counts": ""}
    assert report["after_login"] == "roster"
    assert report["user_text"].startswith("张卫东")
    assert report["auto_sync_started"] is True
    assert "正在从服务器下载" in report["empty_hint"]
    assert report["empty_hint_after_sync"] == ""
    with online_run["engine"].connect() as conn:
        households = conn.execute(sa.text(
            "SELECT count(*) FROM household WHERE village_code = :v AND NOT deleted"),
            {"v": VILLAGE}).scalar_one()
    assert report["roster_rows"] == households > 0
    assert {"push", "pull", "done"} <= set(report["phases"])
    assert report["progress_max"] == 100
    assert report["after_first_sync"]["pending"] == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name in ("roster_synced", "roster_first_login"):
        shot = online_run["out"] / f"tablet_{name}.png"
        assert shot.exists()
        shot.replace(SCREENSHOTS / shot.name)


def test_visit_recorded_offline_reaches_the_server_on_next_sync(online_run):
    import sqlalchemy as sa

    report = online_run["report"]
    assert report["pending_before_second_sync"] >= 1
    assert report["after_second_sync"]["pending"] == 0
    with online_run["engine"].connect() as conn:
        row = conn.execute(sa.text(
            "SELECT purpose, household_confirmed, location_captured FROM visit"
            " WHERE notes = :n"), {"n": "平板走访测试：家中情况稳定"}).one()
    assert tuple(row) == ("日常走访", True, False)


def _child(store_path: str, out_dir: str, info_json: str) -> None:  # pragma: no cover - subprocess
    from kivy_client.store import Store
    from kivy_client.ui.presenters import Presenters

    info = json.loads(info_json)
    out = Path(out_dir)
    report: dict[str, Any] = {"errors": [], "phases": []}
    store = Store(store_path, device_id=DEVICE)
    d = Driver(Presenters(store, info["url"]), out, report)
    app = d.app
    bar = app.status_bar

    login = app.manager.get_screen("login")
    d.pump()
    # nobody signed in: no 立即同步 / 退出登录, no counts
    report["login_bar"] = {"sync_visible": bar.ids.sync_button.opacity > 0,
                           "logout_visible": bar.ids.logout_button.opacity > 0,
                           "counts": bar.ids.counts.text}
    d.type_into(login.ids.username, info["username"])
    d.type_into(login.ids.password, info["password"])
    progress: list[float] = []
    bar.fbind("progress", lambda _b, value: progress.append(value))
    bar.fbind("progress_text", lambda _b, text: report["phases"].append(text))
    d.tap(login.ids.login_button, "登录")
    d.wait(lambda: app.manager.current == "roster")  # login runs on its own thread
    report["after_login"] = app.manager.current
    report["user_text"] = bar.user_text
    roster = app.manager.get_screen("roster")
    # the tablet has no household yet: the first sync starts by itself, and the roster says so
    report["auto_sync_started"] = bar.syncing
    report["empty_hint"] = roster.empty_text
    d.shot("roster_first_login")
    d.wait(lambda: not bar.syncing and bool(progress))
    report["progress_max"] = max(progress or [0])
    from kivy_client.sync import PHASE_LABELS

    names = {text: phase for phase, text in PHASE_LABELS.items()}
    report["phases"] = sorted({names.get(t.split("（")[0], t) for t in report["phases"] if t})
    report["after_first_sync"] = {"pending": bar.pending, "message": bar.online_text}
    d.pump()
    report["roster_rows"] = len(roster.ids.rv.data)
    report["empty_hint_after_sync"] = roster.empty_text
    d.shot("roster_synced")

    # a visit through touches, then the next sync uploads it
    first = roster.ids.rv.data[0]["household_id"]
    app.show("household", household_id=first)
    household = app.manager.get_screen("household")
    d.tap(household.ids.visit_button, "走访记录")
    visit = app.manager.get_screen("visit")
    d.type_into(visit.ids.notes, "平板走访测试：家中情况稳定")
    visit.ids.scroll.scroll_to(visit.ids.confirmed)
    d.pump()
    d.tap(visit.ids.confirmed, "农户确认")
    d.tap(visit.ids.save_button, "保存走访记录")
    app.update_status()
    report["pending_before_second_sync"] = bar.pending
    progress.clear()
    d.tap(bar.ids.sync_button, "立即同步")
    d.wait(lambda: not bar.syncing and bool(progress))
    report["after_second_sync"] = {"pending": bar.pending, "message": bar.online_text}
    app.stop()
    store.close()
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - the child process
    _child(*sys.argv[1:4])
