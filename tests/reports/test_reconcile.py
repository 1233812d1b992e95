"""Reconciliation with the national system's export (console, real Postgres): recognised
columns, per-village differences, only-here / only-there, the xlsx, nothing changed by the
comparison itself, and taking selected national values over through the change path."""

from __future__ import annotations

import html
import io
import json
import re
import uuid

import sqlalchemy as sa
from openpyxl import Workbook, load_workbook
from sqlmodel import Session

from server.db.tables import Household
from sync_protocol import national
from tests.conftest import VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from tests.console.conftest import console_login, csrf_of

HEADER = ["户编号", "户主姓名", "户主身份证号", "家庭人口数", "户类型", "监测对象类别",
          "风险是否已消除", "人均纯收入", "行政村代码", "备注"]


def _xlsx(rows: list[list], header: list[str] = HEADER, title: bool = True) -> bytes:
    wb = Workbook()
    ws = wb.active
    if title:
        ws.append(["全国防返贫监测信息系统 农户信息表（导出）"])
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _file(county) -> bytes:
    h = county["h"]
    return _xlsx([
        # by 户编号: another name, 3 people (ruhu: 1), the same category and status
        ["HH00001", "赵大三", h["h1"].head_id_number, 3, "脱贫户", "脱贫不稳定户", "否", "",
         VILLAGE_A1, "x"],
        # by ID number (another 户编号); 2,500 per head as in ruhu
        ["N-0004", "李四海", h["h4"].head_id_number.lower(), 1, "脱贫户", "", "", "2500.4",
         VILLAGE_A2, ""],
        # 一般农户 in the national file, 脱贫户 here
        ["HH00005", "周五林", h["h5"].head_id_number, 1, "一般农户", "", "", "", VILLAGE_A1, ""],
        ["NEW-1", "王新户", "", 4, "一般农户", "", "", "", VILLAGE_A1, ""],
        # another county: left out, never shown
        ["X-1", "外县户", "", 2, "脱贫户", "", "", "", "419999001001", ""],
    ])


def _post(client, token, data: bytes, output: str = "page"):
    return client.post("/console/reconcile", data={"csrf_token": token, "output": output},
                       files={"file": ("国家系统导出.xlsx", data, "application/octet-stream")})


def _state(db):
    with db.connect() as conn:
        return (conn.execute(sa.text("select count(*) from change_log")).scalar_one(),
                conn.execute(sa.text("select string_agg(head_name || version, ',' order by "
                                     "head_name) from household")).scalar_one())


def test_differences_page_and_nothing_changed(client, county, db):
    token = console_login(client, "admin")
    before = _state(db)
    resp = _post(client, token, _file(county))
    assert resp.status_code == 200, resp.text
    text = resp.text
    for title in ("户编号", "家庭人口数", "风险是否已消除", "人均纯收入", "行政村代码"):
        assert f'<span class="badge">{title}</span>' in text
    assert "未使用的列：备注" in text and "1 户不在您的管辖范围内" in text
    assert "外县户" not in text and "419999001001" not in text
    assert "王新户" in text  # only in the national file
    # A1/A2 only (the file's villages): 钱二河, 吴六田 (A1) and 孙三水 (A2) only in ruhu
    for name in ("钱二河", "吴六田", "孙三水"):
        assert name in text
    assert "郑乙峰" not in text and "冯乙河" not in text  # B1: not in the file
    assert "赵大三" in text and "脱贫户" in text and "一般农户" in text
    assert _state(db) == before  # the comparison changed nothing
    with db.connect() as conn:
        detail = conn.execute(sa.text(
            "select detail from audit_log where action = 'reconcile'")).scalar_one()
    assert (detail["matched"], detail["differing"], detail["only_national"],
            detail["outside_scope"]) == (3, 3, 1, 1)


def test_compare_rules():
    rows = [{"id": "1", "village_code": VILLAGE_A1, "household_number": "A", "head_name": "甲",
             "head_id_number": "41170219800203001X", "members": 2, "per_capita": 7000.2,
             "household_type": "exited", "monitoring_category": None,
             "monitoring_status": None}]
    hh = national.NationalHousehold(row=2, household_number="B",
                                    head_id_number="41170219800203001x".upper(), members=2,
                                    per_capita=7000.9, monitoring_category="none")
    result = national.compare(rows, [hh])
    (m,) = result.matched
    assert m.by == "head_id_number"
    assert [d.field for d in m.differences] == ["household_number"]
    assert national.update_fields(m, "county_admin") == {"household_number": "B"}
    assert not national.same("per_capita", 7000.0, 7001.5) and national.same("members", 2, None)


def test_xlsx_of_the_differences(client, county, db):
    token = console_login(client, "admin")
    resp = _post(client, token, _file(county), output="xlsx")
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.content))
    assert wb.sheetnames == ["汇总", "存在差异", "仅入户通有", "仅国家系统有", "识别的列"]
    diffs = [[c.value for c in r] for r in wb["存在差异"].iter_rows(min_row=2)]
    assert ["黄庄村", "HH00001", "赵大山", "户编号", "户主姓名", "赵大山", "赵大三"] in diffs
    assert any(r[4] == "人口数" and r[5] == "1" and r[6] == "3" for r in diffs)
    assert any(r[1] == "HH00004" and r[3] == "户主身份证号" and r[6] == "N-0004" for r in diffs)
    assert [c.value for c in wb["仅国家系统有"][2]][3] == "王新户"
    with db.connect() as conn:
        kinds = set(conn.execute(sa.text(
            "select detail->>'kind' from audit_log where action = 'export'")).scalars())
    assert "reconcile" in kinds


def test_selected_rows_update_ruhu_through_the_change_path(client, county, db):
    token = console_login(client, "admin")
    page = _post(client, token, _file(county)).text
    values = [json.loads(html.unescape(v))
              for v in re.findall(r'name="apply" value="([^"]+)"', page)]
    h1 = county["h"]["h1"]
    mine = next(v for v in values if v["id"] == str(h1.id))
    assert mine["fields"] == {"head_name": "赵大三"}  # 人口数 is not taken over
    tampered = {"id": str(uuid.uuid4()), "fields": {"head_name": "不存在"}}
    sneaky = {"id": str(county["h"]["h5"].id), "fields": {"bank_account": "1", "members": 9,
                                                        "household_type": "ordinary"}}
    resp = client.post("/console/reconcile/apply", data={
        "csrf_token": csrf_of(page),
        "apply": [json.dumps(mine), json.dumps(tampered), json.dumps(sneaky)]})
    assert resp.status_code == 200 and "已按国家系统更新 2 户" in resp.text
    with Session(db) as s:
        updated = s.get(Household, h1.id)
        h5 = s.get(Household, county["h"]["h5"].id)
        assert updated.head_name == "赵大三" and updated.version == h1.version + 1
        assert h5.household_type == "ordinary" and h5.bank_account != "1"
    with db.connect() as conn:
        sources = conn.execute(sa.text(
            "select source from change_log where record_id = :id"), {"id": h1.id}).scalars()
        assert "import" in set(sources)


def test_per_person_file_and_roles(client, county, db):
    h4 = county["h"]["h4"]
    data = _xlsx([["", "李四海", h4.head_id_number, "户主"],
                  ["", "李小", "", "之子"], ["", "外人", "", "户主"]],
                 header=["户编号", "姓名", "证件号码", "与户主关系"], title=False)
    token = console_login(client, "admin")
    resp = _post(client, token, data)
    assert resp.status_code == 200
    # 2 persons here, 1 member in ruhu; matched by the head's ID number
    assert "<td>人口数</td><td>1</td><td>2 " in resp.text and "外人" in resp.text
    bad = _post(client, token, _xlsx([["1"]], header=["备注"]))
    assert bad.status_code == 422 and "没有找到可识别的表头" in bad.text
    junk = client.post("/console/reconcile", data={"csrf_token": token},
                       files={"file": ("x.xlsx", b"not a workbook", "application/octet-stream")})
    assert junk.status_code == 422 and "无法读取国家系统导出文件" in junk.text
    client.cookies.clear()
    console_login(client, "clerk_a")  # a township clerk compares too (in their scope, below)
    assert client.get("/console/reconcile").status_code == 200


def test_a_township_clerk_reconciles_in_scope_without_the_monitoring_fields(client, county, db):
    """A township clerk compares and takes over 户编号/户主姓名/户主身份证号/户类型 in their own
    township; 监测对象类别 and 风险消除 are shown but only a county admin takes them over (an
    approved procedure, confirmed by the county, sets them otherwise)."""
    h = county["h"]
    data = _xlsx([
        ["HH00002", "钱二河", h["h2"].head_id_number, 1, "一般农户", "突发严重困难户", "否", "",
         VILLAGE_A1, ""],
        ["HH00001", "赵大三", h["h1"].head_id_number, 1, "脱贫户", "脱贫不稳定户", "是", "",
         VILLAGE_A1, ""],
        ["HH00007", "郑乙峰", h["b1"].head_id_number, 1, "脱贫户", "", "", "", VILLAGE_B1, ""],
    ])
    client.cookies.clear()
    token = console_login(client, "clerk_b")
    other = _post(client, token, data)
    assert other.status_code == 200
    for secret in ("钱二河", "赵大三", "赵大山", h["h1"].head_id_number, h["h2"].phone):
        assert secret not in other.text
    client.cookies.clear()
    token = console_login(client, "clerk_a")
    resp = _post(client, token, data)
    assert resp.status_code == 200 and "1 户不在您的管辖范围内" in resp.text
    assert "郑乙峰" not in resp.text and "突发严重困难户" in resp.text
    assert resp.text.count("（由县级管理员更新）") == 2  # h2's category, h1's 风险消除
    values = {v["id"]: v["fields"] for v in (json.loads(html.unescape(x)) for x in re.findall(
        r'name="apply" value="([^"]+)"', resp.text))}
    assert values == {str(h["h1"].id): {"head_name": "赵大三"}}
    forged = {"id": str(h["h2"].id), "fields": {"monitoring_category": "sudden_hardship",
                                                "monitoring_status": "eliminated"}}
    before = _state(db)
    applied = client.post("/console/reconcile/apply", data={
        "csrf_token": csrf_of(resp.text), "apply": [json.dumps(forged)]})
    assert applied.status_code == 200 and "已按国家系统更新 0 户" in applied.text
    assert _state(db) == before
    client.post("/console/reconcile/apply", data={
        "csrf_token": csrf_of(resp.text),
        "apply": [json.dumps({"id": str(h["h1"].id), "fields": {
            "head_name": "赵大三", "monitoring_status": "eliminated"}})]})
    with Session(db) as s:
        h1 = s.get(Household, h["h1"].id)
        assert (h1.head_name, h1.monitoring_status) == ("赵大三", "monitored")
        assert s.get(Household, h["h2"].id).monitoring_category == "marginal"

