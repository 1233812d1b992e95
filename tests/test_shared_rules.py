"""The shared rules of ``sync_protocol`` (policy, display, income, HLC wall time), pure: where the
copies of a rule used to disagree, these pin the behaviour that won."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from server.console.quality import household_problems
from sync_protocol import display, income, policy
from sync_protocol.hlc import wall_time
from sync_protocol.policy import CountyRules, ProcedurePolicy
from sync_protocol.templates import DEFAULT_TEMPLATE_CODE, WUQING_V1
from sync_protocol.validation import build_id_number
from sync_protocol.wuqing import HouseholdBundle, compute_hints

# --- today ------------------------------------------------------------------------------------


def test_today_is_chinas_date_whatever_the_clock_zone():
    # 20:00 UTC on 30 November is already 1 December in Beijing: the console (which used the
    # server's local date) and the read API (China time) disagreed here; China time wins.
    late = dt.datetime(2026, 11, 30, 20, 0, tzinfo=dt.UTC)
    assert policy.china_today(late) == dt.date(2026, 12, 1)
    assert policy.china_today(late.replace(tzinfo=None)) == dt.date(2026, 12, 1)  # naive = UTC
    assert policy.china_today(dt.datetime(2026, 11, 30, 15, 59, tzinfo=dt.UTC)) == \
        dt.date(2026, 11, 30)
    start = policy.month_start(dt.date(2026, 12, 17))
    assert start.isoformat() == "2026-12-01T00:00:00+08:00"


# --- county rules and is-monitored -----------------------------------------------------------


def test_county_rules_from_reference_data_or_a_row():
    rules = CountyRules.of({"county_code": "411702", "visit_interval_days": 60,
                            "monitored_visit_interval_days": "15",
                            "checklist_template": "wuqing.v1"})
    assert (rules.visit_interval_days, rules.monitored_visit_interval_days) == (60, 15)
    row = SimpleNamespace(county_code="411702", visit_interval_days=90,
                          monitored_visit_interval_days=30, stale_after_days=120,
                          checklist_template="wuqing.v1")
    assert CountyRules.of(row).to_dict() == {
        "county_code": "411702", "visit_interval_days": 90, "monitored_visit_interval_days": 30,
        "stale_after_days": 120, "checklist_template": "wuqing.v1",
        "procedures": {"notice_days": 5, "entry_deadline_days": 15, "min_monitored_days": 180,
                       "monitoring_lines": {}, "income_drop_share": 0.3}}
    # missing, empty or malformed values take the defaults (the tablet's copy once fell back to
    # the ordinary interval for a monitored household, the store's to 30: 30 won)
    odd = CountyRules.of({"visit_interval_days": 45, "monitored_visit_interval_days": "x"})
    assert (odd.visit_interval_days, odd.monitored_visit_interval_days) == (45, 30)
    assert CountyRules.of(None, "411702") == CountyRules(county_code="411702")


def test_county_rules_carry_the_procedure_policy():
    """The tablet and the server judge procedures under ``CountyRules.procedures``, parsed once
    from the county policy as ``GET /api/v1/policy`` and the reference data carry it."""
    data = {"county_code": "411702", "notice_days": 7, "entry_deadline_days": 20,
            "min_monitored_days": 365, "monitoring_lines": {"2025": 7600, "x": 1, "2024": "7300"}}
    rules = policy.rules_for_village("411702105201", [data])
    assert rules.procedures == ProcedurePolicy(7, 20, 365, {2024: 7300.0, 2025: 7600.0})
    assert rules.procedures.monitoring_line(2025) == 7600.0
    assert rules.procedures.monitoring_line(2023) is None
    assert CountyRules.of(data).procedures == rules.procedures
    # zero notice days is a county's choice; negative, text or missing values take the defaults
    odd = CountyRules.of({"notice_days": 0, "entry_deadline_days": -3, "min_monitored_days": "x"})
    assert odd.procedures == ProcedurePolicy(notice_days=0)
    assert CountyRules().procedures == ProcedurePolicy()
    # a server row (attributes) reads the same way
    row = SimpleNamespace(county_code="411702", notice_days=6, entry_deadline_days=15,
                          min_monitored_days=180, monitoring_lines={"2025": 7000})
    assert CountyRules.of(row).procedures.notice_days == 6


def test_rules_for_village_finds_the_county_among_reference_policies():
    policies = [{"county_code": "411701", "visit_interval_days": 10},
                {"county_code": "411702", "visit_interval_days": 60}]
    assert policy.rules_for_village("411702105201", policies).visit_interval_days == 60
    assert policy.rules_for_village("419999105201", policies) == CountyRules(county_code="419999")
    assert policy.rules_for_village(None, None) == CountyRules()


def test_is_monitored_and_the_visit_interval():
    rules = CountyRules(visit_interval_days=60, monitored_visit_interval_days=15)
    for category, monitored in (("unstable", True), ("marginal", True),
                                ("sudden_hardship", True), ("none", False), ("", False),
                                (None, False)):
        household = {"monitoring_category": category}
        assert policy.is_monitored(household) is monitored
        assert policy.visit_interval_days(rules, household) == (15 if monitored else 60)
    assert policy.is_monitored({}) is False


def test_template_choice_falls_back_to_the_default():
    assert policy.template_code(CountyRules(checklist_template="county.v9")) == \
        DEFAULT_TEMPLATE_CODE
    assert policy.template(CountyRules()) is WUQING_V1
    hp = policy.hint_policy(CountyRules(monitored_visit_interval_days=7),
                            {"monitoring_category": "unstable"}, dt.date(2026, 1, 2))
    assert (hp.today, hp.visit_interval_days, hp.template_code) == \
        (dt.date(2026, 1, 2), 7, "wuqing.v1")


# --- required fields: the 底子清 list wins ------------------------------------------------


def test_required_fields_are_one_list_for_the_hint_and_the_quality_dashboard():
    head_id = build_id_number("411702", dt.date(1970, 3, 5), 123)
    household = {"id": "h1", "head_name": "张三", "head_id_number": head_id, "address": "一组",
                 "phone": "13800000000", "poverty_status": "exited", "village_code": None}
    member = {"id": "m1", "name": "张三", "id_number": head_id, "relation": "head",
              "gender": "male"}
    bundle = HouseholdBundle(household=household, members=[member])
    assert policy.missing_fields("household", household) == ["village_code"]
    hint = compute_hints(bundle, policy.HintPolicy(today=dt.date(2026, 11, 23)))["base_file"]
    assert "未填写：所属行政村" in hint.messages
    # the dashboard's own list lacked 所属行政村; it now reports what the hint reports
    assert "所属行政村未填写" in household_problems(bundle)
    assert policy.missing_fields("member", {"name": "李四"}) == ["id_number", "relation",
                                                                "gender"]


# --- display -------------------------------------------------------------------------------


def test_times_show_in_china_time_on_every_face():
    assert display.fmt_time("2026-11-30T20:05:00+00:00") == "2026-12-01 04:05"
    assert display.fmt_time("2026-11-30T20:05:00Z") == "2026-12-01 04:05"
    assert display.fmt_time(dt.datetime(2026, 11, 30, 20, 5)) == "2026-12-01 04:05"  # naive=UTC
    assert display.fmt_time("2026-11-30") == "2026-11-30"  # a date stays a date
    assert display.fmt_time(None) == "" and display.fmt_time("soon") == "soon"
    hlc = "1764532800000-0003-tab-1"  # 2025-11-30 20:00 UTC
    assert wall_time(hlc) == dt.datetime(2025, 11, 30, 20, 0, tzinfo=dt.UTC)
    assert display.hlc_time(hlc) == "2025-12-01 04:00"
    assert wall_time("not-an-hlc") is None and display.hlc_time(None) == ""


def test_value_labels():
    assert display.value_label("household", "poverty_status", "exited") == "已脱贫"
    assert display.value_label("household", "causes", ["illness", "schooling"]) == "因病、因学"
    assert display.value_label("household", "food_secure", False) == "否"
    assert display.value_label("household", "phone", None) == display.EMPTY
    assert display.value_label("household", "causes", []) == display.EMPTY
    assert display.value_label("visit", "visited_at", "2026-11-30T20:05:00+00:00") == \
        "2026-12-01 04:05"
    assert display.field_kind("household", "causes")[0] == "enum_list"
    assert display.field_kind("member", "birth_date") == ("date", None)


# --- income --------------------------------------------------------------------------------


def test_net_income_per_year_and_per_head():
    rows = [
        {"year": 2025, "category": "wage", "amount": 20000},
        {"year": 2025, "category": "business", "amount": 5000},
        {"year": 2025, "category": "business_cost", "amount": 3000},
        {"year": "2026", "category": "transfer", "amount": 1200.5},
        {"year": 2026, "category": None, "amount": 100},  # no category: 转移性收入
        {"year": 2026, "category": "wage", "amount": 999, "deleted": True},
        {"year": None, "category": "wage", "amount": 5},
        {"year": 2026, "category": "wage", "amount": "n/a"},
    ]
    assert income.net_income_by_year(rows) == {2026: 1300.5, 2025: 22000.0}
    assert list(income.net_income_by_year(rows)) == [2026, 2025]  # newest first
    assert income.per_head(22000.0, 4) == 5500.0
    # a household without members has no per-head income (the console once divided by one)
    assert income.per_head(22000.0, 0) is None
    table = income.income_table(rows, 0)
    assert table[1]["year"] == 2025 and table[1]["business_cost"] == 3000.0
    assert table[1]["net"] == 22000.0 and table[1]["per_capita"] is None


def test_typed_text_parses_the_same_in_a_tablet_form_and_a_spreadsheet_cell():
    assert display.parse_text("int", "2026") == 2026
    assert display.parse_text("int", "3.0") == 3  # a spreadsheet's whole number
    # not silently truncated (the import once took 3 for 3.5): validation rejects the text
    assert display.parse_text("int", "3.5") == "3.5"
    assert display.parse_text("float", "1200.5") == 1200.5
    assert display.parse_text("float", "一千") == "一千"
    assert display.parse_text("date", "2026-03-01") == "2026-03-01"
    assert display.parse_text("date", "2026/03/01") == "2026/03/01"
    assert display.parse_text("text", " 一组 ") == " 一组 "
    assert display.parse_text("int", "") is None


def test_a_visits_date_is_its_date_in_china():
    assert policy.china_date("2026-11-30T20:00:00+00:00") == dt.date(2026, 12, 1)
    assert policy.china_date("2026-11-30T20:00:00Z") == dt.date(2026, 12, 1)
    assert policy.china_date("2026-12-01T07:59:00+08:00") == dt.date(2026, 12, 1)
    assert policy.china_date(dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)) == \
        dt.date(2026, 12, 1)
    assert policy.china_date("2026-11-30") == dt.date(2026, 11, 30)
    assert policy.china_date("") is None and policy.china_date("soon") is None
    # the 帮扶责任清 hint counts days between China dates: a visit at 04:00 Beijing time on
    # 1 December (20:00 UTC the day before) is 30 days before 31 December, not 31
    helper = {"helper_name": "刘", "helper_phone": "13800000000", "helper_unit": "县局"}
    bundle = HouseholdBundle(household={"id": "h"}, helpers=[helper],
                             visits=[{"visited_at": "2026-11-30T20:00:00+00:00",
                                      "co_visitor": "刘"}])  # with the helper: counts
    hint = compute_hints(bundle, policy.HintPolicy(today=dt.date(2026, 12, 31),
                                                   visit_interval_days=30))["helper_duty"]
    assert hint.ok is True
