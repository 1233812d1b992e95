"""Household file v2 in the demo county: every new field has demo values, and the console's
household page and roster export show them (members v2, 增减员, income per year with that year's
members and the breakdown, measures plan vs done, visit findings, cross-check hints)."""

from __future__ import annotations

import io

import sqlalchemy as sa
from openpyxl import load_workbook

from tests.console.conftest import console_login

V2_COLUMNS = {
    "member": ["disease", "disability_category", "disability_grade", "family_doctor_signed",
               "school_stage", "school_grade", "joined_on", "joined_reason", "left_on",
               "left_reason"],
    "income_item": ["item_kind"],
    "measure": ["year", "fund_source", "planned_on", "planned_amount", "done_on"],
    "visit": ["helper_assignment_id", "finding_note", "proposes_entry"],
}


def _one(engine: sa.Engine, sql: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.text(sql)).scalar_one())


def test_demo_has_a_value_for_every_new_field(demo_engine):
    with demo_engine.connect() as conn:
        for table, columns in V2_COLUMNS.items():
            for column in columns:
                filled = conn.execute(sa.text(
                    f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL")).scalar_one()
                assert filled > 0, f"{table}.{column}"
        for table, column in (("member", "health"), ("member", "employment"),
                              ("visit", "findings")):
            assert conn.execute(sa.text(
                f"SELECT count(*) FROM {table} WHERE jsonb_array_length({column}) > 0"
            )).scalar_one() > 0
        assert conn.execute(sa.text(
            "SELECT count(*) FROM income_item WHERE category = 'rigid_expense'")).scalar_one()
        assert conn.execute(sa.text(  # some done measures differ from their plan
            "SELECT count(*) FROM measure WHERE status = 'done' AND planned_amount <> amount"
        )).scalar_one()


def test_console_household_page_shows_the_v2_file(demo_client, demo_engine):
    hid = _one(demo_engine, """
        SELECT m.household_id FROM member m JOIN household h ON h.id = m.household_id
        WHERE m.left_on IS NOT NULL AND h.village_code LIKE '411702105%'
          AND EXISTS (SELECT 1 FROM member d WHERE d.household_id = h.id
                      AND d.disability_category IS NOT NULL)
        ORDER BY m.household_id LIMIT 1""")
    console_login(demo_client, "demo_clerk")
    page = demo_client.get(f"/console/households/{hid}")
    assert page.status_code == 200, page.text
    text = page.text
    for expected in ("健康、就学、就业与增减员", "残疾类别", "减员原因", "人已减员", "家庭人口",
                     "转移性收入：", "刚性支出", "资金来源", "计划实施日期", "落实日期"):
        assert expected in text, expected


def test_console_shows_cross_checks_and_findings(demo_client, demo_engine):
    hid = _one(demo_engine, """
        SELECT v.household_id FROM visit v JOIN household h ON h.id = v.household_id
        WHERE v.proposes_entry AND h.village_code LIKE '411702105%'
        ORDER BY v.household_id LIMIT 1""")
    console_login(demo_client, "demo_clerk")
    text = demo_client.get(f"/console/households/{hid}").text
    assert "发现：" in text and "建议启动纳入监测" in text and "风险线索" in text
    # some demo household has a contradiction to show (e.g. a plan not carried out)
    hid2 = _one(demo_engine, """
        SELECT m.household_id FROM measure m JOIN household h ON h.id = m.household_id
        WHERE m.status = 'done' AND m.planned_amount <> m.amount
          AND h.village_code LIKE '411702105%' ORDER BY m.household_id LIMIT 1""")
    text = demo_client.get(f"/console/households/{hid2}").text
    assert "信息核对提示" in text and "与计划" in text


def test_roster_export_has_the_v2_member_columns(demo_client):
    console_login(demo_client, "demo_clerk")
    resp = demo_client.get("/console/exports/roster.xlsx")
    assert resp.status_code == 200, resp.text[:300]
    wb = load_workbook(io.BytesIO(resp.content), read_only=True)
    header = [c for c in next(wb["家庭成员"].iter_rows(values_only=True))]
    for title in ("病种", "残疾类别", "残疾等级", "家庭医生签约", "在校生状况", "务工状况",
                  "增员日期", "减员日期", "减员原因"):
        assert title in header, title
    rows = list(wb["家庭成员"].iter_rows(values_only=True))[1:]
    column = header.index("减员原因")
    assert {"死亡", "婚出"} & {r[column] for r in rows}
