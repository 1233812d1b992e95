"""Roster import: each bad row reported; nothing or only the good households imported, as the
admin chose; never a half-written household."""

from __future__ import annotations

import datetime as dt
import io

import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from server.console.imports import OPTIONAL_COLUMNS, TITLES
from sync_protocol.entities import FIELD_LABELS
from sync_protocol.validation import build_id_number
from tests.conftest import VILLAGE_A1, VILLAGE_B1
from tests.console.conftest import console_login, csrf_of

HISTORY = FIELD_LABELS["poverty_status"]  # 历史贫困状态（2020年前）
GOOD_ID = build_id_number("411702", dt.date(1980, 2, 3), 11)
GOOD_ID2 = build_id_number("411702", dt.date(1982, 4, 5), 12)
BAD_ID = GOOD_ID2[:-1] + ("0" if GOOD_ID2[-1] != "0" else "1")


def _row(number: str, village: str, head: str, member: str, id_number: str = "",
         relation: str = "户主", **extra: str) -> list:
    values = {"户编号": number, "行政村代码": village, "户主姓名": head, "成员姓名": member,
              "成员身份证号": id_number, "与户主关系": relation, "性别": "男",
              HISTORY: "已脱贫" if head else "", **extra}
    return [values.get(t, "") for t in TITLES]


def roster_bytes(rows: list[list]) -> bytes:
    """An import workbook (the 花名册 sheet: the title row, then ``rows``)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "花名册"
    ws.append(TITLES)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _upload(client, token: str, rows: list[list], mode: str):
    return client.post("/console/imports", data={"csrf_token": token, "mode": mode},
                       files={"file": ("花名册.xlsx", roster_bytes(rows),
                                       "application/octet-stream")})


ROWS = [
    _row("HH1", VILLAGE_A1, "周一", "周一", GOOD_ID, 致贫原因="因病、缺资金"),
    _row("HH1", VILLAGE_A1, "", "吴二", "", "配偶", 出生日期="1983-01-02"),
    _row("HH2", VILLAGE_B1, "郑三", "郑三", GOOD_ID2),
    _row("HH2", VILLAGE_B1, "", "郑小四", BAD_ID, "之子"),  # row 5: bad checksum
    _row("HH3", VILLAGE_A1, "冯五", "冯五", "", **{HISTORY: "不知道"}),  # row 6: bad option
]


def _count(db, table: str) -> int:
    with db.connect() as conn:
        return conn.execute(sa.text(f"select count(*) from {table}")).scalar_one()


def test_template_download(client, world):
    console_login(client, "admin")
    resp = client.get("/console/imports/template.xlsx")
    assert resp.status_code == 200
    header = [c.value for c in load_workbook(io.BytesIO(resp.content))["花名册"][1]]
    assert header == TITLES + [c[0] for c in OPTIONAL_COLUMNS]
    assert "残疾类别" in header and "减员原因" in header


def test_bad_rows_reported_and_nothing_imported(client, world, db):
    token = console_login(client, "admin")
    before = (_count(db, "household"), _count(db, "member"))
    resp = _upload(client, token, ROWS, "all_or_nothing")
    assert resp.status_code == 422
    assert "未导入任何数据" in resp.text
    assert "第 5 行" in resp.text and "身份证号校验位错误" in resp.text
    assert "第 6 行" in resp.text and HISTORY in resp.text
    assert (_count(db, "household"), _count(db, "member")) == before


def test_only_good_households_imported(client, world, db):
    token = console_login(client, "admin")
    before = (_count(db, "household"), _count(db, "member"))
    resp = _upload(client, token, ROWS, "good_only")
    assert "已导入 1 户、2 名家庭成员" in resp.text, resp.text
    assert (_count(db, "household"), _count(db, "member")) == (before[0] + 1, before[1] + 2)
    with db.connect() as conn:
        names = set(conn.execute(sa.text("select name from member")).scalars())
        logged = conn.execute(sa.text(
            "select count(*) from change_log where source = 'import'")).scalar_one()
        audit = conn.execute(sa.text(
            "select detail->>'imported_households' from audit_log where action = 'import'"
        )).scalar_one()
    assert {"周一", "吴二"} <= names and not names & {"郑三", "郑小四", "冯五"}
    assert logged == 3 and audit == "1"


def test_a_file_in_the_old_wording_still_imports(client, world, db):
    """The national system's older exports say 脱贫属性 and 非贫困户 / 一般贫困户: read as today's
    历史贫困状态（2020年前） and 一般农户 / 一般脱贫户 (retired words are read, never shown)."""
    token = console_login(client, "admin")
    old_titles = ["脱贫属性" if t == HISTORY else t for t in TITLES]
    wb = Workbook()
    ws = wb.active
    ws.title = "花名册"
    ws.append(old_titles)
    row = _row("HH9", VILLAGE_A1, "卫九", "卫九", GOOD_ID)
    row[TITLES.index(HISTORY)] = "非贫困户"
    ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    resp = client.post("/console/imports", data={"csrf_token": token, "mode": "all_or_nothing"},
                       files={"file": ("花名册.xlsx", buf.getvalue(), "application/octet-stream")})
    assert "已导入 1 户" in resp.text, resp.text
    with db.connect() as conn:
        status = conn.execute(sa.text("select poverty_status from household "
                                      "where household_number = 'HH9'")).scalar_one()
    assert status == "none"


def test_clerk_cannot_import(client, world):
    console_login(client, "clerk_a")
    page = client.get("/console/imports")
    assert page.status_code == 403
    resp = client.post("/console/imports", data={"csrf_token": csrf_of(page.text)})
    assert resp.status_code == 403


def test_household_file_v2_columns_import_when_present(client, world, db):
    """The v2 member columns (病种 … 减员原因) are optional: read when the file has them, with the
    same checks as everywhere (a grade 五级 is refused; 健康状况 may list several)."""
    token = console_login(client, "admin")
    extra = ["病种", "残疾类别", "残疾等级", "务工状况", "减员日期", "减员原因"]
    wb = Workbook()
    ws = wb.active
    ws.title = "花名册"
    ws.append(TITLES + extra)
    head = _row("HH7", VILLAGE_A1, "韩七", "韩七", GOOD_ID, 健康状况="长期慢性病、残疾")
    ws.append(head + ["高血压", "肢体残疾", "二级", "县内务工、公益岗位", "", ""])
    ws.append(_row("HH7", VILLAGE_A1, "", "韩老汉", "", "之父母", 性别="男")
              + ["", "", "", "", "2025-03-01", "死亡"])
    buf = io.BytesIO()
    wb.save(buf)
    resp = client.post("/console/imports", data={"csrf_token": token, "mode": "all_or_nothing"},
                       files={"file": ("花名册.xlsx", buf.getvalue(), "application/octet-stream")})
    assert "已导入 1 户、2 名家庭成员" in resp.text, resp.text
    with db.connect() as conn:
        rows = {r.name: r for r in conn.execute(sa.text(
            "select name, health, disease, disability_category, disability_grade, employment, "
            "left_on, left_reason from member where name in ('韩七', '韩老汉')"))}
    assert rows["韩七"].health == ["chronic", "disabled"]
    assert (rows["韩七"].disability_category, rows["韩七"].disability_grade) == ("physical", "2")
    assert rows["韩七"].employment == ["in_county", "public_welfare_job"]
    assert rows["韩老汉"].left_on == dt.date(2025, 3, 1) and rows["韩老汉"].left_reason == "death"


def test_reimport_updates_existing_households(client, world, db):
    """The same roster again, with an address, a corrected member and a new member: the
    household is updated (matched by 户编号, or by 户主身份证号 under another 户编号), never
    created twice or sent to the duplicate list; a household matching nothing is created and
    listed."""
    token = console_login(client, "admin")
    first = _upload(client, token, ROWS[:2], "all_or_nothing")
    assert "已导入 1 户、2 名家庭成员" in first.text
    counts = (_count(db, "household"), _count(db, "member"), _count(db, "conflict"))
    again = [
        _row("HH1", VILLAGE_A1, "周一", "周一", GOOD_ID, 住址="黄庄村东组8号",
             户主身份证号=GOOD_ID),
        _row("HH1", VILLAGE_A1, "", "吴二", "", "配偶", 出生日期="1983-01-03"),
        _row("HH1", VILLAGE_A1, "", "周小", "", "之子"),
        _row("HH9", VILLAGE_A1, "新户主", "新户主"),
    ]
    resp = _upload(client, token, again, "all_or_nothing")
    assert resp.status_code == 200, resp.text
    assert "已导入 1 户、1 名家庭成员" in resp.text and "已按文件更新其中 1 户" in resp.text
    assert "新增 1 名家庭成员" in resp.text and "未匹配到已有农户，已新建" in resp.text
    assert (_count(db, "household"), _count(db, "member"), _count(db, "conflict")) == \
        (counts[0] + 1, counts[1] + 2, counts[2])
    with db.connect() as conn:
        address, version = conn.execute(sa.text(
            "select address, version from household where household_number = 'HH1'")).one()
        birth = conn.execute(sa.text(
            "select birth_date from member where name = '吴二'")).scalar_one()
    assert address == "黄庄村东组8号" and version == 2 and birth == dt.date(1983, 1, 3)

    # the same head's ID under another 户编号: the same household (户编号 taken over)
    moved = _upload(client, token, [_row("HH1-N", VILLAGE_A1, "周一", "周一", GOOD_ID,
                                         户主身份证号=GOOD_ID)], "all_or_nothing")
    assert "已按文件更新其中 1 户" in moved.text
    assert _count(db, "household") == counts[0] + 1
    # unchanged: nothing written
    logged = _count(db, "change_log")
    same = _upload(client, token, [_row("HH1-N", VILLAGE_A1, "周一", "周一", GOOD_ID,
                                        户主身份证号=GOOD_ID)], "all_or_nothing")
    assert "与系统一致，未作修改" in same.text and _count(db, "change_log") == logged
