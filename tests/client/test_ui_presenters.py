"""The screens' presenters (``kivy_client.ui.presenters``), headless: no Kivy, no display."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid

import pytest

from kivy_client.session import Session
from kivy_client.store import Store
from kivy_client.sync import NeedsLogin
from kivy_client.ui.presenters import Presenters, income_summary_lines
from sync_protocol.errors import ErrorCode
from sync_protocol.income import year_share
from sync_protocol.policy import china_today
from sync_protocol.validation import build_id_number

VILLAGE = "411702105201"
TODAY = china_today()


def _pulled(entity: str, fields: dict, record_id: str | None = None) -> dict:
    return {"entity": entity, "record_id": record_id or str(uuid.uuid4()), "version": 2,
            "deleted": False, "fields": fields}


@pytest.fixture
def setup(tmp_path):
    store = Store(tmp_path / "tablet.sqlite3", device_id="tab-ctl")
    store.set_current_user(str(uuid.uuid4()), "王村干", [VILLAGE])
    hid, mid = str(uuid.uuid4()), str(uuid.uuid4())
    head_id = build_id_number("411702", dt.date(1965, 3, 4), 1)
    store.apply_pull_page({
        "changes": [
            _pulled("household", {"village_code": VILLAGE, "head_name": "张德明",
                                  "head_id_number": head_id,
                                  "household_number": "4117021052010001", "phone": "13800000001",
                                  "poverty_status": "exited", "monitoring_category": "unstable",
                                  "causes": ["illness"]}, hid),
            _pulled("member", {"household_id": hid, "name": "张德明", "relation": "head"}, mid),
            _pulled("income_item", {"household_id": hid, "year": TODAY.year, "category": "wage",
                                    "amount": 9000}),
            _pulled("income_item", {"household_id": hid, "year": TODAY.year,
                                    "category": "business_cost", "amount": 1500}),
        ],
        "conflicts": [{
            "id": str(uuid.uuid4()), "kind": "field", "entity": "household", "record_id": hid,
            "household_id": hid, "village_code": VILLAGE, "field": "phone",
            "base_value": "13800000001",
            "server": {"value": "13912345678", "user_name": "李书记"},
            "client": {"value": "13700001111", "user_name": "王村干"},
            "status": "open", "detected_at": "2026-11-20T08:00:00+00:00"}],
        "reference": {
            "regions": [{"code": VILLAGE, "name": "张庄村"}],
            "income_lines": [{"province": "41", "year": TODAY.year, "amount": 6000,
                              "monitoring_amount": 8000}],
            "county_policies": [{"county_code": "411702", "visit_interval_days": 30,
                                 "monitored_visit_interval_days": 15}]},
        "next_cursor": "c1", "has_more": False})
    presenters = Presenters(store, "http://127.0.0.1:9")
    yield presenters, store, hid, mid
    store.close()


def test_presenters_never_import_kivy():
    code = ("import sys, kivy_client.ui.presenters; "
            "sys.exit(any(m == 'kivy' or m.startswith('kivy.') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_roster_rows_are_ready_for_the_recycleview(setup):
    presenters, _store, hid, _mid = setup
    rows = presenters.roster.rows()
    assert len(rows) == 1
    row = rows[0]
    assert row["household_id"] == hid and row["title"] == "张德明户"
    assert "4117021052010001" in row["subtitle"] and "未走访" in row["subtitle"]
    assert row["status_text"] == "脱贫户  风险未消除  脱贫不稳定户"  # 2021+: no 已脱贫 as now
    assert (row["state_code"], row["state_text"]) == ("conflict", "有冲突")
    assert presenters.roster.rows(query="zdm")[0]["household_id"] == hid
    assert presenters.roster.rows(has_conflict=True) and not presenters.roster.rows(query="李")
    assert presenters.roster.rows(monitoring_category="marginal") == []


def test_bad_input_is_a_chinese_message_per_field_and_nothing_is_written(setup):
    presenters, store, hid, _mid = setup
    before = store.pending_count()
    result = presenters.household.save(hid, {"phone": "12345"})
    assert not result.ok and "联系电话" in result.errors["phone"]
    result = presenters.records.save("member", hid, None, {"name": "张小红",
                                                          "id_number": "411702201001010010"})
    assert "身份证号校验位错误" in result.errors["id_number"]
    assert store.pending_count() == before


def test_warnings_do_not_block_saving(setup):
    presenters, store, hid, _mid = setup
    # 411702 (驿城区) exists only since 2000: a 1980 birth there is a warning, not an error
    number = build_id_number("411702", dt.date(1980, 1, 1), 994)
    result = presenters.records.save("member", hid, None, {"name": "郑国富", "id_number": number})
    assert result.ok and result.warnings and store.get("member", result.record_id) is not None


def test_empty_inputs_on_empty_fields_are_not_edits(setup):
    presenters, store, hid, _mid = setup
    result = presenters.household.save(hid, {"phone": "13800000001", "group_name": None,
                                             "address": "", "bank_account": None})
    assert result.ok and store.pending_count() == 0
    presenters.household.save(hid, {"causes": ["illness", "no_capital"]})
    assert [c.fields for c in store.outbox()] == [{"causes": ["illness", "no_capital"]}]


def test_visit_without_gps_is_marked_not_captured(setup, tmp_path):
    presenters, store, hid, _mid = setup
    photo = tmp_path / "p.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    result = presenters.visits.record(
        hid, visited_at=dt.datetime.now(dt.UTC), lat=None, lng=None, purpose="日常走访",
        notes=" 家中情况稳定 ", co_visitor="刘强", photos=[str(photo)], household_confirmed=True)
    assert result.ok
    fields = store.outbox()[-1].fields
    assert fields["location_captured"] is False and "lat" not in fields
    assert fields["notes"] == "家中情况稳定" and len(fields["attachment_ids"]) == 1
    missing = presenters.visits.record(
        hid, visited_at=dt.datetime.now(dt.UTC), lat=None, lng=None, purpose="", notes="",
        co_visitor="", photos=[str(tmp_path / "gone.jpg")], household_confirmed=False)
    assert "照片无法读取" in missing.errors["attachment_ids"]


def test_wuqing_items_show_hints_beside_the_manual_verdict(setup):
    presenters, store, hid, _mid = setup
    items = {i["item_code"]: i for i in presenters.wuqing.view(hid)}
    assert list(items) == ["base_file", "measures", "secretary_knows", "helper_duty",
                           "trajectory"]
    assert items["measures"]["hint_state"] == "bad" and "因病" in items["measures"]["hint_text"]
    assert items["secretary_knows"]["hint_state"] == "manual"
    assert presenters.wuqing.set_verdict(hid, "measures", "unclear", "缺健康帮扶措施", []).ok
    items = {i["item_code"]: i for i in presenters.wuqing.view(hid)}
    assert (items["measures"]["verdict"], items["measures"]["note"]) == ("unclear",
                                                                          "缺健康帮扶措施")
    assert items["measures"]["hint_state"] == "bad"  # hints never overwrite the verdict
    bad = presenters.wuqing.set_verdict(hid, "no_such_item", "clear", "", [])
    assert not bad.ok


def test_conflicts_are_explained_in_plain_words(setup):
    presenters, _store, hid, _mid = setup
    [issue] = presenters.conflicts.issues(hid)
    assert issue["title"].startswith("冲突：待乡镇乡村振兴（防返贫）专干处理")
    assert "李书记" in issue["message"] and "13912345678" in issue["message"]
    assert "乡镇乡村振兴（防返贫）专干" in issue["message"]


def test_income_summary_policy_and_names(setup):
    presenters, _store, hid, _mid = setup
    view = presenters.household.view(hid)
    lines = income_summary_lines(view["incomes"], len(view["members"]),
                                 presenters.household.income_lines(VILLAGE))
    # the current year is partial: compared with the line pro-rated to the share gone by
    prorated = 8000 * year_share(TODAY.year, TODAY)
    below = f"，低于按进度折算的监测线 {prorated:,.0f} 元（当年未满）" if 7500 < prorated else ""
    assert lines == [f"{TODAY.year}年 家庭纯收入 7,500 元，人均 7,500 元（1人）{below}"]
    # a past year is compared with the whole line
    last = [{"year": TODAY.year - 1, "category": "wage", "amount": 7500}]
    assert income_summary_lines(last, 1, {TODAY.year - 1: 8000.0}) == [
        f"{TODAY.year - 1}年 家庭纯收入 7,500 元，人均 7,500 元（1人），"
        f"低于{TODAY.year - 1}年监测线 8,000 元"]
    assert presenters.household.visit_interval_days(view["household"]) == 15  # monitored household
    assert presenters.household.visit_interval_days({"village_code": VILLAGE}) == 30
    assert presenters.household.village_name(VILLAGE) == "张庄村"
    assert presenters.household.village_name("411702105299") == "411702105299"


def test_pin_and_expired_login_messages(setup):
    presenters, store, _hid, _mid = setup
    assert presenters.login.set_pin("1234", "1235") == "两次输入的PIN码不一致"
    assert presenters.login.set_pin("1234", "1234") == "请先登录"  # nobody unlocked yet
    assert presenters.login.unlock("nobody", "x") == "该账号尚未在本机登录过，首次登录需要联网"
    assert presenters.login.login("http://127.0.0.1:9", "", "") == "请输入用户名和密码"
    message = presenters.sync.sync_failed(NeedsLogin(ErrorCode.auth_token_expired))
    assert "重新登录" in message and "不会丢失" in message
    assert isinstance(presenters.session, Session)


def test_a_new_helper_closes_the_current_assignment(setup):
    presenters, store, hid, _mid = setup
    first = presenters.records.save("helper_assignment", hid, None, {
        "helper_name": "马卫东", "helper_unit": "驿城区农业农村局", "helper_phone": "13939600001",
        "start_date": "2021-05-01"})
    second = presenters.records.save("helper_assignment", hid, None, {
        "helper_name": "周建平", "helper_unit": "驿城区财政局", "helper_phone": "13939600002",
        "start_date": "2026-03-01"})
    assert first.ok and second.ok
    assert store.get("helper_assignment", first.record_id).fields["end_date"] == "2026-02-28"
    assert "end_date" not in store.get("helper_assignment", second.record_id).fields


def test_a_photo_reused_for_another_visit_is_flagged(setup, tmp_path):
    presenters, _store, hid, _mid = setup
    photo = tmp_path / "same.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + b"1" * 64)
    kwargs = {"visited_at": dt.datetime.now(dt.UTC), "lat": None, "lng": None,
              "purpose": "日常走访", "notes": "家中情况稳定", "co_visitor": "",
              "household_confirmed": True}
    assert presenters.visits.record(hid, photos=[str(photo)], **kwargs).warnings == []
    again = presenters.visits.record(hid, photos=[str(photo)], **kwargs)
    assert again.ok and again.warnings == ["照片“same.jpg”已用于张德明户的另一次走访记录"]


def test_evidence_photos_accumulate_on_a_checklist_item(setup, tmp_path):
    presenters, store, hid, _mid = setup
    one, two = tmp_path / "1.png", tmp_path / "2.png"
    one.write_bytes(b"\x89PNG\r\n\x1a\n" + b"1" * 32)
    two.write_bytes(b"\x89PNG\r\n\x1a\n" + b"2" * 32)
    assert presenters.wuqing.set_verdict(hid, "base_file", "clear", "", [str(one)]).ok
    assert presenters.wuqing.set_verdict(hid, "base_file", "clear", "明白卡已核对", [str(two)]).ok
    item = next(i for i in presenters.wuqing.view(hid) if i["item_code"] == "base_file")
    assert len(item["attachment_ids"]) == 2 and item["note"] == "明白卡已核对"
    assert len(store.pending_attachments()) == 2


def test_badges_and_status_say_what_is_happening(setup):
    """A change sent by a sync that failed is 待上传 unless a sync runs; a save tells the status
    bar at once; signing in without the server says 离线模式."""
    presenters, store, hid, _mid = setup
    saved: list[bool] = []
    presenters.ctx.changed = lambda: saved.append(True)
    assert presenters.household.save(hid, {"phone": "13611112222"}).ok
    assert saved == [True]
    store.mark_sent(c.change_id for c in store.outbox())  # the push went out, no answer came
    [row] = [r for r in presenters.roster.rows() if r["household_id"] == hid]
    assert (row["state_code"], row["state_text"]) == ("pending", "待上传")
    presenters.ctx.syncing = True
    [row] = [r for r in presenters.roster.rows() if r["household_id"] == hid]
    assert (row["state_code"], row["state_text"]) == ("uploading", "上传中")
    assert presenters.login.offline_notice == ""  # nobody signed in yet


def test_villages_are_picked_from_the_scope_and_the_national_number_is_locked(setup, tmp_path):
    presenters, store, hid, _mid = setup
    assert presenters.household.village_choices() == {VILLAGE: f"张庄村（{VILLAGE}）"}
    assert presenters.household.default_village() == VILLAGE
    assert presenters.household.view(hid)["number_locked"] is True  # pulled with a 户编号
    new = presenters.household.save(None, {"head_name": "郑国富", "village_code": VILLAGE,
                                           "household_number": "4117021052019999"})
    assert new.ok and presenters.household.view(new.record_id)["number_locked"] is False
    # a township-wide scope offers the villages of the reference regions under it
    other = Store(tmp_path / "township.sqlite3", device_id="tab-town")
    other.set_current_user(str(uuid.uuid4()), "乡干部", [VILLAGE[:9]])
    other.apply_pull_page({"changes": [], "next_cursor": "c", "has_more": False, "reference": {
        "regions": [{"code": VILLAGE, "name": "张庄村", "level": "village"},
                    {"code": VILLAGE[:9] + "202", "name": "李庄村", "level": "village"},
                    {"code": "411702106201", "name": "外乡村", "level": "village"}]}})
    assert list(Presenters(other).household.village_choices()) == [VILLAGE, VILLAGE[:9] + "202"]
    other.close()


def test_wuqing_saves_every_changed_item_at_once_or_none(setup):
    presenters, store, hid, _mid = setup
    before = store.pending_count()
    results = presenters.wuqing.save_all(hid, [
        {"item_code": "base_file", "verdict": "clear", "note": "明白卡已核对", "photos": []},
        {"item_code": "no_such_item", "verdict": "clear", "note": "", "photos": []}])
    assert results["base_file"].ok and results["base_file"].record_id is None
    assert not results["no_such_item"].ok
    assert store.pending_count() == before  # all or nothing
    results = presenters.wuqing.save_all(hid, [
        {"item_code": "base_file", "verdict": "clear", "note": "明白卡已核对", "photos": []},
        {"item_code": "measures", "verdict": "unclear", "note": "缺健康帮扶措施",
         "photos": [], "extra": {"rectify_by": "2026-12-31"}}])
    assert all(r.ok and r.record_id for r in results.values())
    items = {i["item_code"]: i for i in presenters.wuqing.view(hid)}
    assert items["base_file"]["verdict"] == "clear"
    assert (items["measures"]["verdict"], items["measures"]["rectify_by"]) == ("unclear",
                                                                            "2026-12-31")


def test_an_empty_tablet_says_to_sync(tmp_path):
    store = Store(tmp_path / "empty.sqlite3", device_id="tab-empty")
    presenters = Presenters(store)
    assert presenters.roster.is_empty()
    assert "立即同步" in presenters.roster.empty_hint(filtered=False)
    presenters.ctx.syncing = True
    assert "正在从服务器下载" in presenters.roster.empty_hint(filtered=False)
    assert presenters.roster.empty_hint(filtered=True) == "没有符合条件的农户"
    store.close()
