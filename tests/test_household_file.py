"""Household file v2 (issue 14): the pure rules — member fields and their checks, the ID number's
gender and birth date, 增减员 in member counts and per-capita income by year, the partial
current year, the income breakdown, measures' plan vs done, visits' helper link, cross-checks."""

from __future__ import annotations

import datetime as dt

import pytest

from sync_protocol import crosscheck, income, members, visits
from sync_protocol.display import field_kind, value_label
from sync_protocol.entities import validate_fields
from sync_protocol.enums import (
    DisabilityCategory,
    Employment,
    Finding,
    FundSource,
    Health,
    JoinReason,
)
from sync_protocol.errors import ErrorCode
from sync_protocol.policy import HintPolicy
from sync_protocol.validation import build_id_number
from sync_protocol.wuqing import HouseholdBundle, compute_hints

TODAY = dt.date(2026, 6, 30)
HID = "5f0c6f36-7b1f-4d55-9b54-0d3b1f3c2a10"
MAN = build_id_number("411702", dt.date(1970, 3, 5), 123)  # 17th digit odd: male
WOMAN = build_id_number("411702", dt.date(2012, 9, 1), 32)  # even: female


def codes(result) -> list[str]:
    return [str(e.code) for e in result.errors]


# --- the ID number -----------------------------------------------------------------------------


def test_gender_and_birth_date_come_from_the_id_number():
    assert members.id_gender(MAN) == "male" and members.id_gender(WOMAN) == "female"
    assert members.id_birth_date(MAN) == dt.date(1970, 3, 5)
    assert members.derived_from_id(WOMAN) == {"gender": "female", "birth_date": "2012-09-01"}
    assert members.derived_from_id("4117") == {} and members.id_gender(None) is None


@pytest.mark.parametrize("fields,code", [
    ({"id_number": MAN, "gender": "female"}, "validation.id_number_gender_mismatch"),
    ({"id_number": MAN, "birth_date": "1970-03-06"}, "validation.id_number_birth_mismatch"),
])
def test_a_gender_or_birth_date_against_the_id_number_is_refused(fields, code):
    result = validate_fields("member", {"household_id": HID, "name": "张三", **fields},
                             creating=True)
    assert codes(result) == [code]
    assert "与身份证号" in result.errors[0].message and result.errors[0].message.startswith(
        "性别：" if "gender" in code else "出生日期：")


def test_matching_id_number_gender_and_birth_date_pass():
    result = validate_fields("member", {"household_id": HID, "name": "张三", "id_number": MAN,
                                        "gender": "male", "birth_date": "1970-03-05"},
                             creating=True)
    assert result.ok


# --- member v2 fields --------------------------------------------------------------------------


def test_member_v2_fields_validate_and_have_labels():
    fields = {"household_id": HID, "name": "张三", "health": ["chronic", "disabled"],
              "disease": "高血压", "disability_category": "physical", "disability_grade": "2",
              "family_doctor_signed": True, "school_stage": "junior", "school_grade": 2,
              "employment": ["out_of_province", "public_welfare_job"],
              "joined_on": "2020-01-01", "joined_reason": "moved_in",
              "left_on": "2026-03-01", "left_reason": "moved_out"}
    result = validate_fields("member", fields, creating=True)
    assert result.ok, result.errors
    assert result.fields["health"] == ["chronic", "disabled"]
    assert field_kind("member", "health") == ("enum_list", Health)
    assert field_kind("member", "employment") == ("enum_list", Employment)
    assert value_label("member", "health", ["chronic", "disabled"]) == "长期慢性病、残疾"
    assert value_label("member", "disability_category", "physical") == "肢体残疾"
    assert value_label("member", "disability_grade", "2") == "二级"
    assert value_label("member", "joined_reason", "birth") == "出生"
    assert value_label("member", "left_reason", "marriage_out") == "婚出"
    assert value_label("measure", "status", "planned") == "计划实施"
    assert value_label("visit", "findings", ["risk_clue"]) == "风险线索"
    assert {m.value for m in JoinReason} == {"birth", "marriage_in", "moved_in", "other"}
    assert value_label("member", "disability_category", DisabilityCategory.mental) == "精神残疾"
    assert value_label("measure", "fund_source", FundSource.central) == "中央衔接资金"
    assert value_label("visit", "findings", [Finding.income_change]) == "收入变化"


def test_a_v1_tablet_sending_one_health_code_is_read_as_a_list():
    result = validate_fields("member", {"health": "chronic"}, creating=False)
    assert result.ok and result.fields["health"] == ["chronic"]


@pytest.mark.parametrize("fields,code,field", [
    ({"health": ["healthy", "chronic"]}, "validation.health_conflict", "health"),
    ({"health": ["cancer"]}, "validation.enum_invalid", "health"),
    ({"disability_grade": "5"}, "validation.enum_invalid", "disability_grade"),
    ({"school_grade": 9}, "validation.out_of_range", "school_grade"),
    ({"employment": ["astronaut"]}, "validation.enum_invalid", "employment"),
    ({"joined_on": "2020-01-01", "left_on": "2019-01-01"}, "validation.member_dates", "left_on"),
    ({"left_reason": "death", "left_on": None}, "validation.reason_without_date", "left_on"),
    ({"joined_reason": "weird"}, "validation.enum_invalid", "joined_reason"),
    ({"disease": "x" * 101}, "validation.too_long", "disease"),
])
def test_member_v2_errors_are_coded_and_chinese(fields, code, field):
    result = validate_fields("member", fields, creating=False)
    assert codes(result) == [code]
    assert result.errors[0].field == field
    assert result.errors[0].message and not result.errors[0].message.isascii()


def test_a_reason_alone_on_create_needs_its_date():
    result = validate_fields("member", {"household_id": HID, "name": "新生儿",
                                        "joined_reason": "birth"}, creating=True)
    assert codes(result) == ["validation.reason_without_date"]
    # an edit of the reason alone keeps the stored date
    assert validate_fields("member", {"joined_reason": "birth"}, creating=False).ok


# --- 增减员 and income ---------------------------------------------------------------------------


ROWS = [
    {"id": "m1", "name": "张三", "relation": "head"},
    {"id": "m2", "name": "李四", "relation": "spouse"},
    {"id": "m3", "name": "张小宝", "relation": "son", "joined_on": "2025-05-01",
     "joined_reason": "birth"},
    {"id": "m4", "name": "张老汉", "relation": "parent", "left_on": "2025-03-01",
     "left_reason": "death"},
    {"id": "m5", "name": "删掉的", "deleted": True},
]


def test_members_count_from_joining_until_leaving():
    assert members.members_in_year(ROWS, 2024, TODAY) == 3  # 张老汉 still there
    assert members.members_in_year(ROWS, 2025, TODAY) == 3  # baby in, grandfather out
    assert [m["id"] for m in members.current_members(ROWS, TODAY)] == ["m1", "m2", "m3"]
    assert not members.counts_on(ROWS[2], dt.date(2025, 4, 30))
    assert members.counts_on(ROWS[3], dt.date(2025, 2, 28))
    assert not members.counts_on(ROWS[3], dt.date(2025, 3, 1))  # stops counting from that date


def test_per_capita_income_divides_by_that_years_members():
    incomes = [{"year": 2024, "category": "wage", "amount": 12000},
               {"year": 2023, "category": "wage", "amount": 12000},
               {"year": 2023, "category": "business_cost", "amount": 3000}]
    rows = ROWS + [{"id": "m6", "name": "媳妇", "joined_on": "2024-01-10",
                    "joined_reason": "marriage_in"}]
    assert income.per_capita_by_year(incomes, rows, TODAY) == {2024: 3000.0, 2023: 3000.0}


def test_the_current_year_is_partial_and_compared_with_a_pro_rated_line():
    incomes = [{"year": 2026, "category": "wage", "amount": 9000},
               {"year": 2025, "category": "wage", "amount": 9000}]
    lines = {2026: 7000.0, 2025: 7000.0}
    table = income.income_table(incomes, [{"id": "a"}, {"id": "b"}], TODAY, lines)
    now, last = table
    assert now["year"] == 2026 and now["partial"] and now["line_prorated"]
    assert now["line"] == pytest.approx(7000 * 181 / 365)  # 30 June: 181 days of 365
    assert now["per_capita"] == 4500 and not now["below_line"]  # not red in June
    assert not last["partial"] and last["line"] == 7000 and last["below_line"]
    assert income.year_share(2027, TODAY) == 0 and income.year_share(2020, TODAY) == 1


def test_transfer_breakdown_and_rigid_expenses():
    incomes = [{"year": 2025, "category": "transfer", "item_kind": "dibao", "amount": 4000},
               {"year": 2025, "category": "transfer", "item_kind": "pension", "amount": 1500},
               {"year": 2025, "category": "transfer", "amount": 300},
               {"year": 2025, "category": "rigid_expense", "item_kind": "medical_out_of_pocket",
                "amount": 6000},
               {"year": 2025, "category": "wage", "amount": 10000}]
    [row] = income.income_table(incomes, 2, TODAY)
    assert row["net"] == 15800  # 刚性支出 are not income and not subtracted from 纯收入
    assert row["net_after_rigid"] == 9800
    assert row["breakdown"]["dibao"] == 4000 and row["breakdown"]["other_transfer"] == 300
    assert row["breakdown"]["medical_out_of_pocket"] == 6000
    assert row["rigid_expense"] == 6000


@pytest.mark.parametrize("category,kind,ok", [
    ("transfer", "dibao", True), ("rigid_expense", "education_expense", True),
    ("wage", "dibao", False), ("transfer", "medical_out_of_pocket", False)])
def test_income_item_kind_belongs_to_its_category(category, kind, ok):
    result = validate_fields("income_item", {"category": category, "item_kind": kind},
                             creating=False)
    assert result.ok is ok
    if not ok:
        assert codes(result) == ["validation.income_item_kind"]


# --- visits and the helper ---------------------------------------------------------------------


def test_a_visit_links_to_the_assignment_current_on_its_day():
    helpers = [{"id": "old", "start_date": "2020-03-01", "end_date": "2024-02-29"},
               {"id": "new", "start_date": "2024-03-01", "end_date": None},
               {"id": "gone", "start_date": "2025-01-01", "deleted": True}]
    assert visits.assignment_on(helpers, dt.date(2023, 5, 1)) == "old"
    assert visits.assignment_on(helpers, dt.date(2026, 5, 1)) == "new"
    assert visits.assignment_on(helpers, dt.date(2019, 5, 1)) is None
    result = validate_fields("visit", {"findings": ["risk_clue", "income_change"],
                                       "proposes_entry": True,
                                       "helper_assignment_id": HID}, creating=False)
    assert result.ok and result.fields["findings"] == ["risk_clue", "income_change"]


# --- cross-checks ------------------------------------------------------------------------------


def test_cross_checks_are_hints_for_contradictions():
    household = {"id": "h", "housing_grade": "C", "housing_secure": True,
                 "drinking_water_safe": True, "water_secure": False, "education_secure": True,
                 "medical_secure": True, "monitoring_status": "none"}
    rows = [
        {"id": "m1", "name": "张三", "relation": "head", "id_number": MAN, "gender": "female"},
        {"id": "m2", "name": "张小花", "relation": "daughter", "id_number": WOMAN,
         "gender": "female", "medical_insurance": False},  # 13 years old, not in school
        {"id": "m3", "name": "张二", "relation": "son", "disability_grade": "2",
         "health": ["chronic"], "family_doctor_signed": False},
        {"id": "m4", "name": "张老汉", "relation": "parent", "left_on": "2025-03-01",
         "left_reason": "death", "dibao": True},
    ]
    incomes = [{"year": 2025, "category": "wage", "amount": 9000}]
    measures = [{"id": "x1", "item": "小额信贷", "status": "planned", "year": 2025},
                {"id": "x2", "item": "危房改造", "status": "done", "planned_amount": 30000,
                 "amount": 20000, "year": 2025},
                {"id": "x3", "item": "临时救助", "status": "in_progress", "member_id": "m4",
                 "year": 2026}]
    bundle = HouseholdBundle(household=household, members=rows, incomes=incomes,
                             measures=measures)
    found = {c.code: c for c in crosscheck.cross_checks(bundle, TODAY, {2025: 7000.0})}
    assert set(found) == {
        "housing_grade_vs_secure", "water_fields_disagree", "id_gender_mismatch",
        "school_age_not_in_school", "uninsured_but_secure",
        "disability_grade_without_category", "disability_without_health",
        "family_doctor_unsigned", "left_still_counted", "income_below_line_not_monitored",
        "measure_plan_not_done", "measure_amount_differs", "measure_for_left_member"}
    assert found["id_gender_mismatch"].record_id == "m1"
    assert "性别与身份证号不一致" in found["id_gender_mismatch"].message
    assert "非监测对象" in found["income_below_line_not_monitored"].message
    assert "3,000" in found["income_below_line_not_monitored"].message  # 9000 / 3 members
    assert found["measure_amount_differs"].to_dict()["entity"] == "measure"


def test_a_clean_file_has_no_cross_checks_and_hints_read_health_lists():
    household = {"id": "h", "housing_grade": "A", "housing_secure": True,
                 "education_secure": True, "monitoring_status": "none"}
    rows = [{"id": "m1", "name": "张三", "relation": "head", "id_number": MAN, "gender": "male",
             "health": ["serious_illness", "chronic"], "family_doctor_signed": True},
            {"id": "m2", "name": "张小花", "id_number": WOMAN, "gender": "female",
             "school_stage": "junior", "school_grade": 1}]
    bundle = HouseholdBundle(household=household, members=rows)
    assert crosscheck.cross_checks(bundle, TODAY, {}) == []
    # the 措施清 hint reads the health list: a seriously ill member needs health support
    hint = compute_hints(bundle, HintPolicy(today=TODAY))["measures"]
    assert any("张三（大病）" in m for m in hint.messages)
    assert ErrorCode.validation_health_conflict.value == "validation.health_conflict"


def test_measures_hint_knows_the_new_categories_and_skips_members_who_left():
    household = {"id": "h", "causes": ["no_skills", "disaster"]}
    rows = [{"id": "m1", "name": "张老汉", "health": ["serious_illness"],
             "left_on": "2025-03-01", "left_reason": "death"}]
    measures = [{"id": "x1", "category": "skills_training", "item": "电工培训"},
                {"id": "x2", "category": "temporary_aid", "item": "临时救助"}]
    hint = compute_hints(HouseholdBundle(household=household, members=rows, measures=measures),
                         HintPolicy(today=TODAY))["measures"]
    assert hint.ok, hint.messages


@pytest.mark.parametrize("measure,expected", [
    ({"planned_on": "2026-03-01", "planned_amount": 3000, "status": "done",
      "done_on": "2026-04-01", "amount": 2000},
     (31, -1000.0, "计划实施2026-03-01，已落实2026-04-01，晚31天；"
                   "计划金额3,000元，落实金额2,000元（少1,000元）")),
    ({"planned_on": "2026-05-10", "status": "done", "done_on": "2026-05-01"},
     (-9, None, "计划实施2026-05-10，已落实2026-05-01，提前9天")),
    ({"planned_on": "2026-03-01", "planned_amount": 500, "status": "planned"},
     (None, None, "计划实施2026-03-01，尚未落实；计划金额500元")),
    ({"planned_on": "2026-03-01", "planned_amount": 800, "status": "done",
      "done_on": "2026-03-01", "amount": 800},
     (0, 0.0, "计划实施2026-03-01，已落实2026-03-01，按计划；计划金额800元，落实金额800元")),
])
def test_plan_vs_done_shows_the_difference(measure, expected):
    gap = crosscheck.plan_vs_done(measure)
    assert gap is not None
    assert (gap["days_late"], gap["amount_difference"], gap["text"]) == expected


def test_plan_vs_done_says_when_it_differs_from_the_plan():
    """与计划不同 (console badge, tablet line in red): later than planned, or another amount;
    earlier than planned or not yet done is not a difference."""
    def differs(**m):
        return crosscheck.plan_vs_done({"planned_on": "2026-03-01", **m})["differs"]

    assert differs(status="done", done_on="2026-03-02")
    assert differs(status="done", done_on="2026-03-01", planned_amount=100, amount=90)
    assert not differs(status="done", done_on="2026-02-20")
    assert not differs(status="planned", planned_amount=100)
    assert not differs(status="done", done_on="2026-03-01", planned_amount=100, amount=100)


def test_plan_vs_done_needs_a_plan():
    assert crosscheck.plan_vs_done({"status": "done", "done_on": "2026-04-01",
                                    "amount": 100}) is None
