"""Unit tests of the tablet store (SQLite only, no server)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid

import pytest

from kivy_client import local_schema
from kivy_client.store import RosterFilter, Store, StoreValidationError, SyncState
from sync_protocol.errors import RuhuError

from .util import VILLAGE, household, id_number


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "tablet.db", device_id="tab-unit")
    s.set_current_user(str(uuid.uuid4()), "王村干", [VILLAGE])
    yield s
    s.close()


def test_edit_writes_record_and_outbox_together(store):
    hid = store.create_household(household())
    mid = store.add_member(hid, {"name": "李四", "relation": "spouse"})
    changes = store.outbox()
    assert [(c.seq, c.entity, c.op, c.base_version) for c in changes] == [
        (1, "household", "upsert", None), (2, "member", "upsert", None)]
    assert uuid.UUID(changes[0].change_id).version == 7
    assert changes[1].fields["household_id"] == hid
    assert store.get("member", mid).sync_state == SyncState.pending
    assert store.household_state(hid) == SyncState.pending
    # an edit before the change was sent joins it (one change per record in a push)
    store.update("household", hid, {"phone": "13800000000"})
    changes = store.outbox()
    assert len(changes) == 2 and changes[0].fields["phone"] == "13800000000"
    # HLCs come from the persisted device clock
    assert all(c.hlc.endswith("-tab-unit") for c in changes)


def test_invalid_edit_raises_chinese_error_and_writes_nothing(store):
    hid = store.create_household(household())
    with pytest.raises(StoreValidationError) as err:
        store.update("household", hid, {"phone": "12345"})
    assert err.value.code == "validation.phone_invalid"
    assert "联系电话" in err.value.message
    with pytest.raises(StoreValidationError) as err:
        store.add_member(hid, {"name": "李四", "id_number": "411702200501010010"})
    assert err.value.code == "validation.id_number_checksum"
    with pytest.raises(StoreValidationError) as err:
        store.create_household({"head_name": "无村"})
    assert err.value.code == "validation.field_required"
    mid = store.add_member(hid, {"name": "李四"})
    with pytest.raises(StoreValidationError) as err:
        store.update("member", mid, {"household_id": str(uuid.uuid4())})
    assert err.value.code == "validation.field_readonly"
    assert store.pending_count() == 2


def test_failed_transaction_leaves_nothing(store):
    hid = store.create_household(household())
    before = store.pending_count()
    with pytest.raises(StoreValidationError):
        # the photo is queued inside the same transaction as the invalid visit
        store.record_visit(hid, {"lat": 999, "notes": "了解家庭情况"},
                           photos=[(b"\xff\xd8\xff photo", "image/jpeg")])
    assert store.pending_count() == before
    assert store.pending_attachments() == []


def test_visit_with_photo_and_location_flag(store):
    hid = store.create_household(household())
    vid = store.record_visit(hid, {"purpose": "走访", "lat": 32.9, "lng": 114.0,
                                   "notes": "了解家庭情况"},
                             photos=[(b"\xff\xd8\xff photo", "image/jpeg")])
    visit = store.get("visit", vid)
    assert visit.fields["location_captured"] is True
    assert visit.fields["visitor_id"] == store.current_user_id
    [att] = store.pending_attachments()
    assert visit.fields["attachment_ids"] == [att.sha256]
    assert store.attachment_bytes(att.sha256) == b"\xff\xd8\xff photo"
    vid2 = store.record_visit(hid, {"purpose": "回访", "notes": "了解家庭情况"})
    assert store.get("visit", vid2).fields["location_captured"] is False


def test_push_results_update_states_and_issues(store):
    hid = store.create_household(household())
    mid = store.add_member(hid, {"name": "李四"})
    iid = store.add_income(hid, {"year": 2026, "category": "wage", "amount": 1000})
    h_change, m_change, i_change = store.outbox()
    store.mark_sent([h_change.change_id, m_change.change_id, i_change.change_id])
    assert store.get("member", mid).sync_state == SyncState.uploading
    # an edit while the first change is in flight is a new change, never merged into the sent one
    store.update("household", hid, {"address": "一组"})
    assert store.pending_count() == 4
    counts = store.apply_push_results([
        {"change_id": h_change.change_id, "status": "applied", "record_id": hid, "version": 1},
        {"change_id": m_change.change_id, "status": "conflict", "record_id": mid, "version": 2,
         "conflict_id": "c-1"},
        {"change_id": i_change.change_id, "status": "rejected", "record_id": iid,
         "error": {"code": "scope.out_of_scope", "message": "记录不存在或不在您的管辖范围内"}},
    ])
    assert counts == {"applied": 1, "conflict": 1, "rejected": 1}
    # the queued edit now builds on version 1
    [later] = store.outbox()
    assert later.base_version == 1 and later.fields == {"address": "一组"}
    assert store.get("household", hid).version == 1
    assert store.get("member", mid).sync_state == SyncState.conflict
    assert store.get("income_item", iid).sync_state == SyncState.rejected
    assert store.household_state(hid) == SyncState.rejected
    issues = {i.kind: i for i in store.household_issues(hid)}
    assert "乡镇乡村振兴（防返贫）专干" in issues["conflict"].message
    assert "没有接受" in issues["rejection"].message
    # storing the same response twice is harmless
    assert store.apply_push_results([{"change_id": h_change.change_id, "status": "applied",
                                      "version": 1}]) == {}
    # fixing the refused record supersedes the rejection
    store.update("income_item", iid, {"amount": 1200})
    assert store.get("income_item", iid).sync_state == SyncState.pending
    assert store.rejection_count() == 0


def _page(records, cursor="c1", has_more=False, **extra):
    return {"changes": records, "next_cursor": cursor, "has_more": has_more, **extra}


def _rec(entity, rid, version, fields, deleted=False):
    return {"entity": entity, "record_id": rid, "version": version, "deleted": deleted,
            "fields": fields}


def test_pull_keeps_pending_local_edits_visible(store):
    hid = str(uuid.uuid4())
    store.apply_pull_page(_page([_rec("household", hid, 1, household(phone="13800000001"))]))
    assert store.cursor == "c1"
    assert store.get("household", hid).sync_state == SyncState.synced
    store.update("household", hid, {"phone": "13900000002"})
    # someone else changed other fields on the server meanwhile
    newer = household(phone="13800000001", address="新地址")
    store.apply_pull_page(_page([_rec("household", hid, 2, newer)], cursor="c2"))
    rec = store.get("household", hid)
    assert rec.fields["phone"] == "13900000002"  # local pending value still shown
    assert rec.fields["address"] == "新地址"  # server change applied underneath
    assert rec.version == 2 and rec.sync_state == SyncState.pending
    [change] = store.outbox()
    assert change.base_version == 1  # what the user saw when editing
    # children arriving before (or without) their household get its village later
    mid = str(uuid.uuid4())
    store.apply_pull_page(_page([_rec("member", mid, 1, {"household_id": hid, "name": "赵五"})]))
    assert store.get("member", mid).village_code == VILLAGE


def test_pull_older_version_is_ignored_and_delete_with_pending_keeps_record(store):
    hid = str(uuid.uuid4())
    store.apply_pull_page(_page([_rec("household", hid, 3, household())]))
    store.apply_pull_page(_page([_rec("household", hid, 2, household(head_name="旧名"))]))
    assert store.get("household", hid).fields["head_name"] == "张三"
    store.update("household", hid, {"phone": "13800000003"})
    store.apply_pull_page(_page([_rec("household", hid, 4, household(), deleted=True)]))
    assert not store.get("household", hid).deleted


def test_reset_and_removed_drop_only_what_has_no_pending_work(store):
    h1, h2, h3 = (str(uuid.uuid4()) for _ in range(3))
    store.apply_pull_page(_page([_rec("household", h, 1, household(serial=i))
                                 for i, h in enumerate((h1, h2, h3), start=1)]))
    store.add_member(h2, {"name": "待传"})
    store.apply_pull_page(_page([], cursor="c2", removed=[{"entity": "household",
                                                           "record_id": h3}]))
    assert store.get("household", h3) is None
    store.apply_pull_page(_page([], cursor="", has_more=True, reset=True))
    assert store.get("household", h1) is None
    assert store.get("household", h2) is not None  # its member is still pending
    assert store.pending_count() == 1
    assert store.cursor == ""


def test_conflicts_from_pull_explain_and_resolve(store):
    hid = str(uuid.uuid4())
    store.apply_pull_page(_page([_rec("household", hid, 1, household())]))
    conflict = {
        "id": "cf-1", "kind": "field", "entity": "household", "record_id": hid,
        "household_id": hid, "village_code": VILLAGE, "field": "phone",
        "base_value": "13800000000",
        "server": {"value": "13800000001", "user_name": "李书记", "device_id": "tab-b"},
        "client": {"value": "13800000002", "user_name": "王村干", "device_id": "tab-unit"},
        "status": "open", "detected_at": "2026-11-23T09:00:00Z"}
    store.apply_pull_page(_page([], conflicts=[conflict]))
    [issue] = store.household_issues(hid)
    assert "联系电话" in issue.message and "李书记" in issue.message
    assert "乡镇乡村振兴（防返贫）专干" in issue.message
    assert store.household_state(hid) == SyncState.conflict
    assert store.roster(RosterFilter(has_conflict=True))[0].open_conflicts == 1
    resolved = {**conflict, "status": "resolved", "resolution": "keep_server"}
    store.apply_pull_page(_page([_rec("household", hid, 2, household(phone="13800000001"))],
                                conflicts=[resolved]))
    [issue] = store.household_issues(hid)
    assert issue.status == "resolved" and "已处理" in issue.message
    assert store.household_state(hid) == SyncState.synced
    assert store.roster(RosterFilter(has_conflict=True)) == []


def test_roster_orders_groups_by_number(store):
    """村民小组 in number order (一组, 二组, …, 十组, 十一组), not as text (一组, 三组, 二组)."""
    groups = ["三组", "十一组", "东组", "一组", "十组", "二组", "2组"]
    rows = [_rec("household", str(uuid.uuid4()), 1, household("张三", serial=i, group_name=g))
            for i, g in enumerate(groups, start=1)]
    store.apply_pull_page(_page(rows))
    assert [r.group_name for r in store.roster()] == [
        "一组", "2组", "二组", "三组", "十组", "十一组", "东组"]


def test_group_order_reads_chinese_and_arabic_numbers():
    from kivy_client.search import group_order

    order = ["第一组", "1组", "二组", "九组", "十组", "十二组", "二十组", "二十三组",
             "东组", "西组", ""]
    assert sorted(reversed(order), key=group_order)[:8] == [
        "1组", "第一组", "二组", "九组", "十组", "十二组", "二十组", "二十三组"]
    assert group_order("东组") > group_order("九十九组")


def test_roster_filters_search_and_badges(store):
    today = dt.date(2026, 11, 23)
    rows = []
    for i, name in enumerate(["张三", "李四", "王五", "赵六"], start=1):
        rows.append(_rec("household", str(uuid.uuid4()), 1,
                         household(name, serial=i,
                                   monitoring_category="unstable" if i % 2 else "none")))
    store.apply_pull_page(_page(rows))
    zhang, li, wang, zhao = (r["record_id"] for r in rows)
    store.apply_pull_page(_page([
        _rec("visit", str(uuid.uuid4()), 1, {"household_id": zhang,
                                             "visited_at": "2026-11-02T08:00:00Z"}),
        _rec("visit", str(uuid.uuid4()), 1, {"household_id": li,
                                             "visited_at": "2026-10-20T08:00:00Z"}),
        _rec("member", str(uuid.uuid4()), 1, {"household_id": wang, "name": "钱七",
                                              "id_number": id_number(77)}),
    ], cursor="c2"))
    store.set_current_user(store.current_user_id, "李书记", [VILLAGE], "village_secretary")
    for code in ("base_file", "measures", "secretary_knows", "helper_duty", "trajectory"):
        store.set_checklist_verdict(zhao, code, "clear" if code != "measures" else "unclear")
    roster = store.roster()
    zhao_row = next(r for r in roster if r.head_name == "赵六")
    assert zhao_row.wuqing_checked and not zhao_row.wuqing_all_clear  # 已核查, one item 不清
    assert [r.head_name for r in roster] == ["李四", "王五", "张三", "赵六"]  # 拼音 order
    badge = {r.head_name: r.sync_state for r in roster}
    assert badge["赵六"] == SyncState.pending and badge["张三"] == SyncState.synced
    names = lambda f: sorted(r.head_name for r in store.roster(f))  # noqa: E731
    assert names(RosterFilter(not_visited_this_month=True, today=today)) == ["李四", "王五", "赵六"]
    assert names(RosterFilter(wuqing_incomplete=True)) == ["张三", "李四", "王五"]
    assert names(RosterFilter(monitoring_category="unstable")) == ["张三", "王五"]
    assert names(RosterFilter(query="zs")) == ["张三"]
    assert names(RosterFilter(query="zhaoliu")) == ["赵六"]
    assert names(RosterFilter(query="李")) == ["李四"]
    assert names(RosterFilter(query="qq")) == ["王五"]  # a member's initials find the household
    assert names(RosterFilter(query=id_number(2)[-4:])) == ["李四"]  # 户主身份证号 tail
    assert names(RosterFilter(query=id_number(77)[-6:])) == ["王五"]
    assert names(RosterFilter(query="4117021052010003")) == ["王五"]  # 户编号
    assert names(RosterFilter(village_codes=["411702106"])) == []
    assert [r.head_name for r in store.search("ww")] == ["王五"]
    assert [r.member_count for r in roster if r.head_name == "王五"] == [1]


def test_household_bundle_and_device_hints(store):
    hid = store.create_household(household(address="一组", poverty_status="not_exited",
                                           causes=["illness"]))
    store.add_member(hid, {"name": "张三", "relation": "head", "id_number": id_number(1)})
    store.add_measure(hid, {"category": "health", "item": "家庭医生签约"})
    store.add_helper(hid, {"helper_name": "刘干部", "helper_phone": "13800000009",
                           "helper_unit": "县农业局",
                           "start_date": "2026-01-01"})
    store.add_status_event(hid, {"kind": "identified", "date": "2020-03-01"})
    store.set_checklist_verdict(hid, "base_file", "unclear", note="手册未更新")
    store.set_checklist_verdict(hid, "base_file", "clear")
    bundle = store.household_bundle(hid)
    assert len(bundle.members) == 1 and len(bundle.checklist) == 1
    assert bundle.verdicts()["base_file"]["verdict"] == "clear"
    hints = store.household_hints(hid, today=dt.date(2026, 11, 23))
    assert hints["measures"].ok is True
    assert hints["secretary_knows"].ok is None
    assert hints["helper_duty"].ok is False  # no visit yet
    store.record_visit(hid, {"purpose": "走访", "notes": "了解家庭情况"})  # not the helper
    assert store.household_hints(hid).get("helper_duty").ok is False
    store.record_visit(hid, {"purpose": "走访", "notes": "了解家庭情况", "co_visitor": "刘干部"})
    assert store.household_hints(hid).get("helper_duty").ok is True
    with pytest.raises(StoreValidationError) as err:
        store.set_checklist_verdict(hid, "nope", "clear")
    assert err.value.code == "validation.item_unknown"


def test_delete_is_queued_and_hidden(store):
    hid = store.create_household(household())
    mid = store.add_member(hid, {"name": "李四"})
    store.delete("member", mid)
    assert store.household_bundle(hid).members == []
    assert store.outbox()[-1].op == "delete"
    with pytest.raises(RuhuError):
        store.update("member", mid, {"name": "x"})


def test_device_id_and_clock_survive_reopen(tmp_path):
    path = tmp_path / "t.db"
    s = Store(path, device_id="tab-x")
    hid = s.create_household(household())
    last = s.outbox()[-1].hlc
    s.close()
    s = Store(path)
    assert s.device_id == "tab-x"
    s.update("household", hid, {"phone": "13800000000"})
    s.add_member(hid, {"name": "李四"})
    assert s.outbox()[-1].hlc > last and s.outbox()[-1].seq == 2
    with pytest.raises(RuhuError):
        Store(path, device_id="tab-other")
    s.close()


def test_upgrade_from_v1_keeps_pending_outbox(tmp_path):
    """A database written by the first app version (schema v1) with unsent changes upgrades
    without losing any of them, and they are then pushed unchanged."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    local_schema.migrate(conn, target=1)
    hid = str(uuid.uuid4())
    fields = household()
    conn.execute("INSERT INTO meta VALUES ('device_id', 'tab-old'), ('last_seq', '2')")
    conn.execute("INSERT INTO records (entity, id, fields, version, deleted, household_id,"
                 " village_code, sync_state, updated_at) VALUES ('household', ?, ?, NULL, 0,"
                 " ?, ?, 'pending', '2026-01-01')", (hid, json.dumps(fields), hid, VILLAGE))
    for seq, change_id, f in ((1, str(uuid.uuid4()), fields),
                              (2, str(uuid.uuid4()), {"phone": "13800000000"})):
        conn.execute("INSERT INTO outbox (seq, change_id, entity, record_id, op, base_version,"
                     " fields, hlc, status, created_at) VALUES (?, ?, 'household', ?, 'upsert',"
                     " NULL, ?, ?, 'sent', '2026-01-01')",
                     (seq, change_id, hid, json.dumps(f), f"1763884800123-000{seq}-tab-old"))
    before = conn.execute("SELECT change_id, seq, fields, hlc FROM outbox ORDER BY seq").fetchall()
    conn.close()
    s = Store(path)
    assert s.schema_version == local_schema.LATEST
    after = [(c.change_id, c.seq, json.dumps(c.fields), c.hlc) for c in s.outbox()]
    assert [(a, b, json.loads(c), d) for a, b, c, d in before] == \
        [(a, b, json.loads(c), d) for a, b, c, d in after]
    assert s.household_state(hid) == SyncState.pending
    assert [r.head_name for r in s.roster(RosterFilter(query="zs"))] == ["张三"]
    s.add_member(hid, {"name": "李四"})
    assert s.outbox()[-1].seq == 3
    s.close()


def test_export_outbox_for_forced_logout(store, tmp_path):
    from sync_protocol import outbox_export

    hid = store.create_household(household())
    store.record_visit(hid, {"purpose": "走访", "notes": "入户了解情况"},
                       photos=[(b"\xff\xd8\xff photo", "image/jpeg")])
    path = store.export_outbox(tmp_path / "out.json", user_id="u-1", username="cadre")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["changes"][0]["record_id"] == hid
    assert data["user_id"] == "u-1" and data["device_id"] == store.device_id
    assert data["count"] == 2 and data["sha256"] == outbox_export.checksum(data["changes"])
    [att] = outbox_export.parse(path.read_bytes()).attachments
    assert att["data"] == b"\xff\xd8\xff photo" and att["mime"] == "image/jpeg"
    assert store.verify_export(path)
    store.add_member(hid, {"name": "李四"})  # the outbox moved on: the file no longer matches
    assert not store.verify_export(path)


def test_child_needs_a_local_household(store):
    with pytest.raises(RuhuError) as err:
        store.add_member(str(uuid.uuid4()), {"name": "李四"})
    assert err.value.code == "sync.parent_missing"
    assert store.pending_count() == 0


def test_hints_follow_the_county_policy_of_the_reference_data(store):
    policy = {"county_code": "411702", "visit_interval_days": 60,
              "monitored_visit_interval_days": 30, "checklist_template": "wuqing.v1"}
    helper = {"helper_name": "刘干部", "helper_unit": "县农业局", "helper_phone": "13800000009",
              "start_date": "2026-01-01"}
    ids = {}
    for name, category in (("甲户", "none"), ("乙户", "unstable")):
        # monitoring fields come from the server (an approved procedure), never typed
        hid = str(uuid.uuid4())
        store.apply_pull_page(_page([_rec("household", hid, 1, household(
            name, serial=len(ids) + 1, monitoring_category=category))], cursor=f"c{name}"))
        store.add_helper(hid, helper)
        store.record_visit(hid, {"visited_at": "2026-10-15T09:00:00Z", "notes": "了解家庭情况",
                                 "co_visitor": "刘干部"})
        ids[name] = hid
    store.apply_pull_page(_page([], reference={"county_policies": [policy]}))
    today = dt.date(2026, 11, 23)  # 39 days after the visit
    assert store.household_hints(ids["甲户"], today)["helper_duty"].ok is True
    assert store.household_hints(ids["乙户"], today)["helper_duty"].ok is False
    assert store.hint_policy({"village_code": VILLAGE}).visit_interval_days == 60


def test_id_number_warning_is_saved_and_reported(store):
    hid = store.create_household(household())
    store.add_member(hid, {"name": "老人", "id_number": id_number(5, birth="19400101")})
    [warning] = store.last_warnings
    assert warning.code == "validation.id_number_region_year" and warning.warning
    store.add_member(hid, {"name": "小孩", "id_number": id_number(6)})
    assert store.last_warnings == []


def test_explanations_use_official_labels():
    from kivy_client.store import explain

    text = explain("conflict", "household", "open", {"conflict": {
        "kind": "field", "field": "poverty_status", "base_value": "not_exited",
        "server": {"value": "exited", "user_name": "李书记"},
        "client": {"value": "pre_exit", "user_name": "王村干"}}})
    assert "「历史贫困状态（2020年前）」" in text
    assert "预脱贫" in text and "已脱贫" in text and "未脱贫" in text
    assert "exited" not in text


def test_not_visited_this_month_uses_chinas_month(store):
    hid = store.create_household(household())
    # 01:00 on 1 December in Beijing is 17:00 on 30 November in UTC
    store.record_visit(hid, {"visited_at": "2026-11-30T17:00:00+00:00", "notes": "了解家庭情况"})
    [row] = store.roster()
    assert row.last_visit_at == "2026-12-01T01:00:00+08:00"
    december = RosterFilter(not_visited_this_month=True, today=dt.date(2026, 12, 5))
    assert store.roster(december) == []
    january = RosterFilter(not_visited_this_month=True, today=dt.date(2027, 1, 2))
    assert [r.id for r in store.roster(january)] == [hid]


def test_duplicate_elsewhere_is_named_by_its_township_only():
    from sync_protocol.explain import explain

    text = explain("conflict", "household", "open", {"conflict": {
        "kind": "duplicate_record", "field": "head_id_number",
        "server": {"value": {"elsewhere": True, "township_name": "蚁蜂镇",
                             "head_id_number": "4117**********1234"}},
        "client": {"value": {"head_id_number": "411702196103174271"}}}})
    assert "蚁蜂镇的一户" in text and "4117" not in text
    same = explain("conflict", "household", "open", {"conflict": {
        "kind": "duplicate_record", "server": {"value": {"record_id": "x"}}, "client": {}}})
    assert "本县另一户" in same
