"""Logging out with un-uploaded work never loses it: the export is verified before anything is
deleted, and the file is applied on the server exactly as the tablet's own push (issue 16)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from sqlmodel import Session as DbSession

from kivy_client.session import Session
from kivy_client.store import Store
from kivy_client.sync import SyncClient
from server.scope import Principal
from server.sync.outbox_import import import_outbox
from sync_protocol import outbox_export
from sync_protocol.errors import ErrorCode, RuhuError
from tests.conftest import COUNTY, PASSWORD, VILLAGE_A1

from .conftest import snapshot
from .util import household

LIMIT = 10 * 1024 * 1024
PHOTO = b"\xff\xd8\xff" + b"photo" * 50


def _work(dev) -> str:
    hid = dev.store.create_household(household())
    dev.store.add_member(hid, {"name": "李四", "relation": "spouse"})
    dev.store.record_visit(hid, {"visited_at": "2026-11-30T09:00:00+08:00",
                                 "notes": "了解务工情况", "household_confirmed": True},
                           photos=[(PHOTO, "image/jpeg")])
    dev.store.set_checklist_verdict(hid, "measures", "unclear", "帮扶措施未落实", None)
    return hid


def _clone(dev, tmp_path, client):
    """A byte-for-byte copy of the tablet before logout: what a normal sync would have sent."""
    path = tmp_path / "clone.db"
    target = sqlite3.connect(path)
    with dev.store._lock:
        dev.store.conn.backup(target)
    target.close()
    store = Store(path, device_id=dev.store.device_id)
    session = Session(store, client=dev.session.http)
    session.unlock(dev.username, password=PASSWORD)
    return store, session, SyncClient(store, client=dev.session.http, token=lambda: session.token,
                             sleep=lambda s: None)


def _admin(db, make_user) -> Principal:
    make_user("county", "county_admin", [COUNTY])
    with DbSession(db) as s:
        row = s.connection().exec_driver_sql(
            "SELECT id, name FROM app_user WHERE username = 'county'").one()
    return Principal(user_id=row[0], username="county", name=row[1], role="county_admin",
                     scopes=(COUNTY,), device_id="console", scope_version=1)


def _import(db, admin, data: bytes):
    with DbSession(db) as s:
        report = import_outbox(s, admin, data, attachment_limit=LIMIT, via="test")
        s.commit()
    return report


@pytest.mark.parametrize("reachable", [True, False])
def test_logout_export_is_verified_and_imports_like_a_push(make_user, make_device, db, client,
                                                            tmp_path, reachable):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    admin = _admin(db, make_user)
    dev = make_device("cadre", "tab-a")
    hid = _work(dev)
    pending = dev.store.pending_count()
    clone, clone_session, clone_sync = _clone(dev, tmp_path, client)
    if not reachable:
        dev.wire.fail(lambda r: True, "network")

    refused = dev.session.logout()
    assert not refused.logged_out and "导出后清除" in (refused.warning or "")
    result = dev.session.logout(mode="export", export_dir=tmp_path / "out")
    assert result.logged_out and result.exported_to is not None
    assert dev.store.pending_count() == 0 and dev.store.get("household", hid) is None
    data = result.exported_to.read_bytes()
    export = outbox_export.parse(data)
    assert len(export.changes) == pending and export.device_id == "tab-a"
    assert export.user_id == clone.get_meta("data_owner")
    assert [a["data"] for a in export.attachments] == [PHOTO]

    report = _import(db, admin, data)
    assert report.counts["applied"] == pending and report.counts["rejected"] == 0
    assert report.attachments_new == 1
    # attributed to the cadre's device, not to the admin
    with DbSession(db) as s:
        who = s.connection().exec_driver_sql(
            "SELECT DISTINCT u.username, c.device_id FROM change_log c "
            "JOIN app_user u ON u.id = c.user_id").all()
    assert [tuple(w) for w in who] == [("cadre", "tab-a")]

    # a second import: every change is a duplicate, nothing written twice
    again = _import(db, admin, data)
    assert again.counts["duplicate"] == pending and again.counts["applied"] == 0

    # the same tablet's normal sync of the same outbox finds every change already there, and
    # then holds exactly what the server has: the import was the push
    clone_session.login("cadre", PASSWORD)  # the logout revoked the old token
    sync = clone_sync.sync()
    assert sync.pushed == {"duplicate": pending}
    other = make_device("cadre", "tab-b")
    other.sync()
    assert snapshot(other.store) == snapshot(clone)
    clone.close()


def test_failed_verification_keeps_everything(make_user, make_device, tmp_path, monkeypatch):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    dev = make_device("cadre", "tab-a")
    hid = _work(dev)
    monkeypatch.setattr(Store, "verify_export", lambda self, path: False)
    result = dev.session.logout(mode="export", export_dir=tmp_path)
    assert not result.logged_out and "没有删除" in (result.warning or "")
    assert dev.store.get("household", hid) is not None and dev.session.account is not None
    # an export folder that cannot be written: the same
    monkeypatch.undo()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = dev.session.logout(mode="export", export_dir=blocker / "sub")
    assert not result.logged_out and dev.store.pending_count() > 0


def test_keep_logs_out_without_deleting(make_user, make_device):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    dev = make_device("cadre", "tab-a")
    hid = _work(dev)
    result = dev.session.logout(mode="keep")
    assert result.logged_out and result.kept and dev.session.account is None
    assert dev.store.get("household", hid) is not None
    dev.login()
    assert dev.sync().pushed["applied"] == 4


def test_import_refuses_forged_or_foreign_files(make_user, make_device, db, tmp_path):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    admin = _admin(db, make_user)
    other_county = Principal(user_id=admin.user_id, username="x", name="x", role="county_admin",
                             scopes=("411703",), device_id="console", scope_version=1)
    dev = make_device("cadre", "tab-a")
    _work(dev)
    path = dev.store.export_outbox(tmp_path / "x.json", user_id=dev.session.account.user_id)
    data = path.read_bytes()

    def code(payload: bytes, who=admin) -> str:
        with pytest.raises(RuhuError) as err:
            _import(db, who, payload)
        return err.value.code

    assert code(data, other_county) == ErrorCode.outbox_export_out_of_scope
    doc = json.loads(data)
    doc["changes"][0]["fields"]["head_name"] = "王五"  # edited after export
    assert code(json.dumps(doc).encode()) == ErrorCode.outbox_export_checksum
    doc = json.loads(data)
    doc["device_id"] = "tab-z"
    assert code(json.dumps(doc).encode()) == ErrorCode.outbox_export_device_unknown
    doc["user_id"] = "00000000-0000-0000-0000-000000000000"
    assert code(json.dumps(doc).encode()) == ErrorCode.outbox_export_user_unknown
    assert code(b"not json") == ErrorCode.outbox_export_invalid
    # a change scope-checked against the ORIGINAL user's villages, not the admin's county
    export = outbox_export.parse(data)
    export.changes[0]["fields"]["village_code"] = "411702106201"
    report = _import(db, admin, export.dumps())
    assert report.results[0]["status"] == "rejected"


def test_cli_import_outbox(make_user, make_device, db, db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from server.cli import app
    from server.settings import get_settings

    make_user("cadre", "village_cadre", [VILLAGE_A1])
    dev = make_device("cadre", "tab-a")
    _work(dev)
    result = dev.session.logout(mode="export", export_dir=tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(app, ["import-outbox", str(result.exported_to)])
        assert out.exit_code == 0, out.output
        assert "已写入 4" in out.output
        out = runner.invoke(app, ["import-outbox", str(result.exported_to)])
        assert "重复（此前已上传） 4" in out.output
        bad = tmp_path / "bad.json"
        bad.write_text("{}")
        out = runner.invoke(app, ["import-outbox", str(bad)])
        assert out.exit_code == 2 and "未导入" in out.output
    finally:
        get_settings.cache_clear()


def test_console_upload_county_admin_only(make_user, make_device, db, client, tmp_path):
    from tests.console.conftest import console_login, csrf_of

    make_user("cadre", "village_cadre", [VILLAGE_A1])
    make_user("county", "county_admin", [COUNTY])
    make_user("clerk", "township_clerk", [VILLAGE_A1[:9]])
    dev = make_device("cadre", "tab-a")
    _work(dev)
    data = dev.session.logout(mode="export", export_dir=tmp_path).exported_to.read_bytes()
    client.cookies.clear()

    console_login(client, "clerk")
    assert client.get("/console/imports/outbox").status_code == 403
    client.cookies.clear()

    console_login(client, "county")
    page = client.get("/console/imports/outbox")
    assert page.status_code == 200 and "导入平板未上传数据" in page.text
    token = csrf_of(page.text)
    files = {"file": ("ruhu-unsynced.json", data, "application/json")}
    resp = client.post("/console/imports/outbox", data={"csrf_token": token}, files=files)
    assert resp.status_code == 200 and "已写入" in resp.text
    assert '<div class="n">4</div><div class="t">已写入</div>' in resp.text
    resp = client.post("/console/imports/outbox", data={"csrf_token": token}, files=files)
    assert '<div class="n">4</div><div class="t">重复（此前已上传）</div>' in resp.text
    resp = client.post("/console/imports/outbox", data={"csrf_token": token},
                       files={"file": ("x.json", b"{}", "application/json")})
    assert resp.status_code == 422 and "不是有效的" in resp.text
