"""Exports open in openpyxl with the expected columns, are audited, stay in scope, and the 公示
list has no ID number, phone or bank account in clear."""

from __future__ import annotations

import io

import sqlalchemy as sa
from openpyxl import load_workbook

from tests.console.conftest import console_login


def _book(resp):
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/vnd.openxmlformats")
    return load_workbook(io.BytesIO(resp.content))


def _cells(wb) -> str:
    return "\n".join(str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                     for c in row if c is not None)


def test_roster_and_coverage_columns_and_scope(client, world, db):
    console_login(client, "clerk_a")
    wb = _book(client.get("/console/exports/roster.xlsx"))
    ws = wb["农户花名册"]
    header = [c.value for c in ws[1]]
    for col in ("户编号", "户主姓名", "户主身份证号", "户类型", "监测状态",
                "历史贫困状态（2020年前）", "家庭人口数", "主要致贫原因", "房屋安全鉴定等级"):
        assert col in header
    heads = {row[header.index("户主姓名")] for row in ws.iter_rows(min_row=2, values_only=True)}
    assert heads == {"赵大山", "钱二河"}
    assert "家庭成员" in wb.sheetnames
    cov = _book(client.get("/console/exports/coverage.xlsx"))["五清及走访情况"]
    cov_header = [c.value for c in cov[1]]
    for col in ("“一户一档”底子清", "脱贫措施清", "最近走访日期", "是否按期走访"):
        assert col in cov_header
    assert "孙乙峰" not in _cells(cov.parent)
    # a village of another township exports nothing
    other = _book(client.get("/console/exports/roster.xlsx", params={"village": "411702106201"}))
    assert "孙乙峰" not in _cells(other)
    with db.connect() as conn:
        kinds = conn.execute(sa.text(
            "select detail->>'kind' from audit_log where action = 'export'")).scalars().all()
    assert sorted(kinds) == ["coverage", "roster", "roster"]


def test_public_notice_is_masked(client, world):
    console_login(client, "clerk_b")
    wb = _book(client.get("/console/exports/notice.xlsx", params={"scope": "all"}))
    ws = wb.active
    header = [c.value for c in ws[2]]
    assert header[:5] == ["序号", "行政村", "村民小组", "户主姓名", "户主身份证号"]
    text = _cells(wb)
    b1 = world["b1"]
    assert "孙*峰" in text and "孙乙峰" not in text
    assert b1.head_id_number not in text and b1.head_id_number[-4:] in text
    assert b1.phone not in text
    assert b1.bank_account not in text
    assert "赵大山" not in text and "赵*山" not in text  # township A is not clerk B's
