"""The pure rules the tablet's presenters take from ``sync_protocol`` (no store, no Kivy)."""

from __future__ import annotations

import datetime as dt

from sync_protocol.assignments import assignments_to_close
from sync_protocol.display import parse_names
from sync_protocol.explain import explain, loss_notice, value_lost
from sync_protocol.policy import household_number_locked, rules_for_village, unlock_delay_s
from sync_protocol.wuqing import Hint, hint_summary


def test_unlock_delay_grows_and_is_capped():
    assert [unlock_delay_s(n) for n in range(7)] == [0, 0, 0, 30, 60, 120, 240]
    assert unlock_delay_s(20) == 300


def test_a_new_helper_closes_the_open_assignments_that_began_before():
    rows = [{"id": "a", "start_date": "2021-05-01"},
            {"id": "b", "start_date": "2020-01-01", "end_date": "2020-12-31"},
            {"id": "c", "start_date": "2026-04-01"},
            {"id": "new", "start_date": "2026-03-01"}]
    assert assignments_to_close(rows, "new", "2026-03-01", dt.date(2026, 6, 1)) == \
        {"a": "2026-02-28"}
    assert assignments_to_close(rows, "new", None, dt.date(2026, 6, 1)) == \
        {"a": "2026-05-31", "c": "2026-05-31"}


def test_typed_names_are_split_once_each():
    assert parse_names("张卫东、李桂英，王建国;张卫东  刘强") == [
        "张卫东", "李桂英", "王建国", "刘强"]
    assert parse_names("  ") == []


def test_hint_summary():
    assert hint_summary(None) == ("此项需人工核查确认", "manual")
    assert hint_summary(Hint("x", True, [], ["无法核对纸质档案"])) == (
        "系统核对的内容未发现问题（无法核对纸质档案）", "ok")
    assert hint_summary(Hint("x", False, ["缺少帮扶措施", "未走访"])) == (
        "系统提示：缺少帮扶措施；未走访", "bad")


def test_monitoring_lines_are_the_county_rules_ones():
    """The tablet reads the monitoring lines from the county's rules as the server sends them
    (province lines overridden by the county's own, server.reference.monitoring_lines)."""
    policies = [{"county_code": "411702", "monitoring_lines": {"2025": 7000, "2026": "7200"}}]
    rules = rules_for_village("411702105201", policies)
    assert dict(rules.procedures.monitoring_lines) == {2025: 7000.0, 2026: 7200.0}
    assert dict(rules_for_village("421702105201", policies).procedures.monitoring_lines) == {}


def test_household_number_is_locked_once_the_server_holds_one():
    assert household_number_locked({"household_number": "4117021052010001"})
    assert not household_number_locked({"household_number": ""})
    assert not household_number_locked(None)  # created on the tablet, not synced yet


CONFLICT = {"id": "c1", "kind": "field", "entity": "household", "field": "phone",
            "record_id": "h1", "base_value": "13800000001",
            "server": {"value": "13922223333", "user_id": "u-sec", "user_name": "李书记"},
            "client": {"value": "13711112222", "user_id": "u-cad", "user_name": "王村干",
                       "device_id": "tab-a"},
            "status": "resolved", "resolution": "keep_server", "resolved_by_name": "赵专干",
            "note": "已电话核实"}


def test_who_lost_a_resolved_conflict():
    assert value_lost(CONFLICT, "u-cad", None)
    assert value_lost(CONFLICT, None, "tab-a")
    assert not value_lost(CONFLICT, "u-sec", "tab-b")  # the winner
    assert not value_lost({**CONFLICT, "resolution": "take_client"}, "u-cad", None)
    assert not value_lost({**CONFLICT, "status": "open"}, "u-cad", None)
    assert value_lost({**CONFLICT, "resolution": "custom", "resolved_value": "13500000000"},
                      "u-cad", None)
    assert not value_lost({**CONFLICT, "resolution": "custom",
                           "resolved_value": "13711112222"}, "u-cad", None)


def test_the_loss_notice_says_field_values_clerk_and_note():
    text = loss_notice(CONFLICT, "张德明户")
    assert text == ("张德明户的「联系电话」：您填写的「13711112222」未被采用，"
                    "乡镇乡村振兴（防返贫）专干赵专干决定采用「13922223333」，备注：已电话核实。")
    resolved = explain("conflict", "household", "resolved", {"conflict": CONFLICT})
    assert resolved.startswith(
        "乡镇乡村振兴（防返贫）专干赵专干已处理：采用「13922223333」。备注：已电话核实。")
