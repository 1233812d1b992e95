"""五清 template and hints (pure, no database)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from sync_protocol.policy import HintPolicy
from sync_protocol.templates import WUQING_V1
from sync_protocol.validation import build_id_number
from sync_protocol.wuqing import (
    HouseholdBundle,
    compute_hints,
    is_checked,
    manual_verdicts,
)

TODAY = dt.date(2026, 11, 23)
POLICY = HintPolicy(today=TODAY)
HEAD_ID = build_id_number("411702", dt.date(1970, 3, 5), 123)
WIFE_ID = build_id_number("411702", dt.date(1972, 6, 1), 224)


def _id() -> str:
    return str(uuid.uuid4())


def good_bundle() -> HouseholdBundle:
    hh = _id()
    household = {
        "id": hh, "village_code": "411702105201", "head_name": "张建国",
        "head_id_number": HEAD_ID, "address": "驿城区某某村1组", "phone": "13800000001",
        "poverty_status": "exited", "monitoring_category": "none", "causes": ["illness"],
        "housing_grade": "A", "drinking_water_safe": True, "identified_year": 2024,
        "exit_year": 2025, "food_secure": True, "clothing_secure": True,
        "education_secure": True, "medical_secure": True, "housing_secure": True,
        "water_secure": True,
    }
    members = [
        {"id": _id(), "household_id": hh, "name": "张建国", "id_number": HEAD_ID,
         "relation": "head", "health": "chronic"},
        {"id": _id(), "household_id": hh, "name": "李秀英", "id_number": WIFE_ID,
         "relation": "spouse", "health": "healthy"},
    ]
    incomes = [{"id": _id(), "household_id": hh, "year": y, "category": "wage", "amount": 9000}
               for y in (2024, 2025, 2026)]
    measures = [{"id": _id(), "household_id": hh, "category": "health", "item": "家庭医生签约",
                 "status": "done"}]
    helper = _id()
    helpers = [{"id": _id(), "household_id": hh, "helper_name": "王帮扶", "helper_unit": "区农业局",
                "helper_phone": "13900000002", "start_date": "2024-01-01", "end_date": None,
                "helper_user_id": helper}]
    visits = [{"id": _id(), "household_id": hh, "visited_at": "2026-11-10T09:30:00+08:00",
               "visitor_id": helper}]
    events = [
        {"id": _id(), "household_id": hh, "kind": "identified", "date": "2024-03-01"},
        {"id": _id(), "household_id": hh, "kind": "pre_exit", "date": "2025-09-01"},
        {"id": _id(), "household_id": hh, "kind": "exited", "date": "2025-12-01"},
    ]
    return HouseholdBundle(household, members, incomes, measures, helpers, visits, events, [])


def test_template_has_five_stable_items():
    assert WUQING_V1.code == "wuqing.v1"
    assert WUQING_V1.item_codes == (
        "base_file", "measures", "secretary_knows", "helper_duty", "trajectory"
    )
    for item in WUQING_V1.items:
        assert item.title and item.description
    assert WUQING_V1.items[0].title == "“一户一档”底子清"
    assert [i["code"] for i in WUQING_V1.to_dict()["items"]] == list(WUQING_V1.item_codes)


def test_good_household_passes_every_hint():
    hints = compute_hints(good_bundle(), POLICY)
    assert set(hints) == set(WUQING_V1.item_codes)
    for code, hint in hints.items():
        if code == "secretary_knows":
            assert hint.ok is None
        else:
            assert hint.ok is True, (code, hint.messages)
            assert hint.messages == []


def test_bad_member_id_is_named():
    b = good_bundle()
    b.members[1]["id_number"] = WIFE_ID[:-1] + ("0" if WIFE_ID[-1] != "0" else "1")
    hint = compute_hints(b, POLICY)["base_file"]
    assert hint.ok is False
    assert "成员李秀英身份证号校验位错误" in hint.messages


def test_duplicate_ids_missing_income_and_flags():
    b = good_bundle()
    b.members[1]["id_number"] = HEAD_ID
    b.incomes = [i for i in b.incomes if i["year"] != 2026]
    b.household["water_secure"] = None
    msgs = compute_hints(b, POLICY)["base_file"].messages
    assert any("身份证号重复" in m for m in msgs)
    assert "未登记2026年收入" in msgs
    assert any("饮水安全有保障" in m for m in msgs)


def test_deleted_records_are_ignored():
    b = good_bundle()
    b.measures[0]["deleted"] = True
    hint = compute_hints(b, POLICY)["measures"]
    assert hint.ok is False
    assert any("因病" in m for m in hint.messages)


@pytest.mark.parametrize(
    ("cause", "category", "ok"),
    [("schooling", "compulsory_education", True), ("schooling", "finance", False),
     ("no_capital", "finance", True), ("no_capital", "industry", True),
     ("no_skills", "employment", True), ("no_skills", "health", False)],
)
def test_cause_needs_matching_measure(cause, category, ok):
    b = good_bundle()
    b.household["causes"] = [cause]
    b.measures = [{"id": _id(), "category": category}]
    assert compute_hints(b, POLICY)["measures"].ok is ok


def test_serious_illness_member_needs_health_measure():
    b = good_bundle()
    b.household["causes"] = ["no_capital"]
    b.measures = [{"id": _id(), "category": "finance"}]
    b.members[1]["health"] = "serious_illness"
    msgs = compute_hints(b, POLICY)["measures"].messages
    assert any("李秀英" in m and "健康" in m for m in msgs)


def test_helper_without_phone_and_stale_visit():
    b = good_bundle()
    b.helpers[0]["helper_phone"] = ""
    b.visits[0]["visited_at"] = "2026-08-01T10:00:00Z"
    hint = compute_hints(b, POLICY)["helper_duty"]
    assert hint.ok is False
    assert any("联系电话" in m for m in hint.messages)
    assert any("30天未走访" in m for m in hint.messages)
    longer = compute_hints(b, HintPolicy(today=TODAY, visit_interval_days=180))["helper_duty"]
    assert not any("未走访" in m for m in longer.messages)


def test_ended_helper_is_not_active():
    b = good_bundle()
    b.helpers[0]["end_date"] = "2026-01-01"
    assert "没有在岗的帮扶责任人" in compute_hints(b, POLICY)["helper_duty"].messages


def test_exit_without_pre_exit_and_income_gap():
    b = good_bundle()
    b.status_events = [e for e in b.status_events if e["kind"] != "pre_exit"]
    b.incomes = [i for i in b.incomes if i["year"] != 2025]
    msgs = compute_hints(b, POLICY)["trajectory"].messages
    assert "2025-12-01脱贫前没有预脱贫记录" in msgs
    assert "缺少2025年收入记录" in msgs


def test_monitored_without_monitoring_event():
    b = good_bundle()
    b.household["monitoring_category"] = "marginal"
    assert "监测对象没有纳入监测记录" in compute_hints(b, POLICY)["trajectory"].messages


def test_hints_never_change_manual_verdicts_and_completeness():
    b = good_bundle()
    hh = b.household["id"]
    assert not is_checked(b)
    for code in WUQING_V1.item_codes:
        b.checklist.append({"id": _id(), "household_id": hh, "template_code": "wuqing.v1",
                            "item_code": code, "verdict": "unclear",
                            "checked_at": "2026-11-01T08:00:00Z"})
    before = [dict(r) for r in b.checklist]
    compute_hints(b, POLICY)
    assert b.checklist == before
    assert is_checked(b)
    # a later "unchecked" response for one item makes the list incomplete again
    b.checklist.append({"id": _id(), "household_id": hh, "template_code": "wuqing.v1",
                        "item_code": "measures", "verdict": "unchecked",
                        "checked_at": "2026-11-02T08:00:00Z"})
    assert manual_verdicts(b, "wuqing.v1")["measures"]["verdict"] == "unchecked"
    assert not is_checked(b)


def test_empty_household_gives_messages_not_errors():
    b = HouseholdBundle(household={"id": _id(), "poverty_status": "not_exited"})
    hints = compute_hints(b, POLICY)
    assert all(h.ok is False for c, h in hints.items() if c != "secretary_knows")
    assert "未登记家庭成员" in hints["base_file"].messages
