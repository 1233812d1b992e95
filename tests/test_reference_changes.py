"""``sync_protocol.reference_changes``: what a cadre is told when a sync brings other reference
data — the county's 五清 template, its policy — and what is no news."""

from __future__ import annotations

import copy
from typing import Any

from sync_protocol.reference_changes import reference_changes
from sync_protocol.templates import WUQING_DSWZ, WUQING_V1

COUNTY = "411702"
OWN = {"code": f"{COUNTY}.wuqing.v2", "name": "五清（本县家底清版）",
       "items": [{"code": "jiadi", "title": "家底清", "hint": "base_file"},
                 {"code": "shuji", "title": "村书记掌握清", "secretary_only": True}]}


def _reference(**policy: Any) -> dict[str, Any]:
    return {
        "tag": "a" * 32,
        "regions": [{"code": "411702000000", "name": "驿城区", "level": "county",
                     "parent": "411700000000"}],
        "checklist_templates": [{**WUQING_V1.to_dict(), "active": True},
                                {**WUQING_DSWZ.to_dict(), "active": True},
                                {**OWN, "active": True}],
        "county_policies": [{"county_code": COUNTY, "visit_interval_days": 30,
                             "monitored_visit_interval_days": 30, "stale_after_days": 180,
                             "checklist_template": "wuqing.v1", "notice_days": 5,
                             "entry_deadline_days": 15, "min_monitored_days": 180,
                             "monitoring_lines": {"2025": 7000.0, "2026": 7900.0},
                             "income_drop_share": 0.3, **policy}],
        "staff": [{"id": "u1", "name": "王村干", "role": "village_cadre", "unit": None}],
    }


def test_the_first_download_is_no_news():
    assert reference_changes({}, _reference()) == []
    assert reference_changes(None, _reference()) == []


def test_the_same_data_or_other_staff_regions_and_tags_are_no_news():
    before = _reference()
    after = copy.deepcopy(before)
    after["tag"] = "b" * 32
    after["staff"].append({"id": "u2", "name": "新来的第一书记", "role": "first_secretary"})
    after["regions"].append({"code": "411702105202", "name": "李楼村", "level": "village"})
    assert reference_changes(before, before) == []
    assert reference_changes(before, after) == []


def test_a_switched_template_is_named_by_its_title():
    before, after = _reference(), _reference(checklist_template=OWN["code"])
    assert reference_changes(before, after) == ["五清模板已更新为「五清（本县家底清版）」"]
    assert reference_changes(after, _reference(checklist_template="wuqing.dswz")) == [
        f"五清模板已更新为「{WUQING_DSWZ.name}」"]


def test_a_template_the_data_does_not_carry_is_the_default_one_as_the_tablet_uses_it():
    # another county's code (or one the data lacks) falls back to wuqing.v1: nothing changed
    # for the cadre, whose 五清 screen keeps showing wuqing.v1
    assert reference_changes(_reference(), _reference(checklist_template="411703.wuqing.v1")) \
        == []
    before = _reference(checklist_template=OWN["code"])
    after = copy.deepcopy(before)
    after["checklist_templates"] = after["checklist_templates"][:2]  # the county's own left out
    assert reference_changes(before, after) == [f"五清模板已更新为「{WUQING_V1.name}」"]


def test_new_items_under_the_same_code_are_told_too():
    before = _reference()
    after = copy.deepcopy(before)
    after["checklist_templates"][0]["items"][0]["title"] = "底子清（县定）"
    assert reference_changes(before, after) == [f"五清模板「{WUQING_V1.name}」的核查项已更新"]


def test_the_monitoring_income_line_by_year():
    before = _reference()
    after = _reference(monitoring_lines={"2025": 7000, "2026": 9100, "2027": 9350.5})
    assert reference_changes(before, after) == [
        "县级政策已更新：2027年监测收入标准定为 9,350.50 元；"
        "2026年监测收入标准由 7,900 元调整为 9,100 元"]
    assert reference_changes(before, _reference(monitoring_lines={"2026": 7900})) == [
        "县级政策已更新：2025年监测收入标准已取消"]
    # the same amounts written another way (text years, whole numbers) are no news
    assert reference_changes(before, _reference(monitoring_lines={"2026": 7900, "2025": 7000})) \
        == []


def test_the_days_a_cadre_works_by_in_one_line_after_the_line():
    after = _reference(visit_interval_days=45, monitored_visit_interval_days=15, notice_days=7,
                       entry_deadline_days=20, min_monitored_days=90,
                       monitoring_lines={"2025": 7000, "2026": 8000})
    assert reference_changes(_reference(), after) == [
        "县级政策已更新：2026年监测收入标准由 7,900 元调整为 8,000 元；"
        "走访周期由 30 天调整为 45 天；监测对象走访周期由 30 天调整为 15 天；"
        "公示天数由 5 天调整为 7 天；纳入监测办理时限由 15 天调整为 20 天；"
        "风险消除前最短监测天数由 180 天调整为 90 天"]


def test_template_first_then_policy():
    after = _reference(checklist_template=OWN["code"], notice_days=6)
    assert reference_changes(_reference(), after) == [
        "五清模板已更新为「五清（本县家底清版）」", "县级政策已更新：公示天数由 5 天调整为 6 天"]


def test_console_only_values_and_malformed_ones_are_no_news():
    # the quality report's stale days and the alerts' 收入骤减 share are not the cadre's
    assert reference_changes(_reference(), _reference(stale_after_days=365,
                                                      income_drop_share=0.2)) == []
    # a missing or malformed value is the default the tablet uses anyway
    assert reference_changes(_reference(notice_days=5), _reference(notice_days="x")) == []


def test_a_county_only_one_copy_carries_is_a_scope_change_not_news():
    other = _reference()
    other["county_policies"][0]["county_code"] = "411703"
    assert reference_changes(_reference(), other) == []


def test_with_two_counties_each_line_names_its_county():
    before = _reference()
    before["county_policies"].append({"county_code": "411703", "notice_days": 5})
    before["regions"].append({"code": "411703000000", "name": "邻县", "level": "county"})
    after = copy.deepcopy(before)
    after["county_policies"][0]["checklist_template"] = OWN["code"]
    after["county_policies"][1]["notice_days"] = 8
    assert reference_changes(before, after) == [
        "驿城区：五清模板已更新为「五清（本县家底清版）」",
        "邻县：县级政策已更新：公示天数由 5 天调整为 8 天"]
