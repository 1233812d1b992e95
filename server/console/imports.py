"""County admin import of an existing household roster from Excel.

One row per family member; rows with the same 行政村代码 and 户编号 form one household, whose
household columns come from its first row. Every row is validated with the same rules as a push
(``validate_fields``). A household with any bad row is never written (no half-written household);
the admin chooses whether one bad row stops the whole import or only its household. The writes go
through ``operations.apply`` (origin ``import``) in one savepoint, so they are audited and reach
the devices.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import uuid6
from fastapi import APIRouter, Request
from fastapi.responses import Response
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import or_
from sqlmodel import Session, col, select

from server.api.deps import SessionDep
from server.audit import audit
from server.console.exports import XLSX
from server.console.web import AdminDep, ConsoleRoute, CsrfChecked, render
from server.db.tables import Household, Member
from server.limits import IMPORT_FILE_MAX_BYTES
from server.queries.bundles import as_dict
from server.scope import Principal
from server.sync import operations
from server.sync.operations import Origin, ServerChange
from sync_protocol.display import field_kind, parse_text
from sync_protocol.entities import FIELD_LABELS, validate_fields
from sync_protocol.enums import LABELS, RETIRED_LABELS
from sync_protocol.errors import ErrorCode, RuhuError, message
from sync_protocol.national import text as _text

router = APIRouter(route_class=ConsoleRoute)
MAX_BYTES = IMPORT_FILE_MAX_BYTES  # the request as a whole is capped before parsing (limits)
MAX_ROWS = 5000

# (column title, entity, field); household columns first, then member columns.
COLUMNS: list[tuple[str, str, str]] = [
    ("户编号", "household", "household_number"),
    ("行政村代码", "household", "village_code"),
    ("村民小组", "household", "group_name"),
    ("户主姓名", "household", "head_name"),
    ("户主身份证号", "household", "head_id_number"),
    ("住址", "household", "address"),
    ("联系电话", "household", "phone"),
    (FIELD_LABELS["poverty_status"], "household", "poverty_status"),
    ("监测对象类别", "household", "monitoring_category"),
    ("致贫原因", "household", "causes"),
    ("识别年度", "household", "identified_year"),
    ("脱贫年度", "household", "exit_year"),
    ("成员姓名", "member", "name"),
    ("成员身份证号", "member", "id_number"),
    ("与户主关系", "member", "relation"),
    ("性别", "member", "gender"),
    ("出生日期", "member", "birth_date"),
    ("健康状况", "member", "health"),
    ("劳动技能", "member", "labor_ability"),
    ("在校生情况", "member", "schooling"),
]
# titles of older files (and of the national system's exports) read as today's
OLD_TITLES = {"脱贫属性": FIELD_LABELS["poverty_status"]}
REQUIRED = {"户编号", "行政村代码", "户主姓名", "成员姓名"}
TITLES = [c[0] for c in COLUMNS]
# household file v2 member columns: read when present (older files without them still import)
OPTIONAL_COLUMNS: list[tuple[str, str, str]] = [
    (FIELD_LABELS[f], "member", f) for f in (
        "disease", "disability_category", "disability_grade", "family_doctor_signed",
        "school_stage", "school_grade", "employment", "joined_on", "joined_reason", "left_on",
        "left_reason")]


@dataclass
class RowError:
    row: int
    column: str
    value: str
    reason: str


@dataclass
class HouseholdRows:
    key: tuple[str, str]
    first_row: int
    household: dict[str, Any]
    members: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    bad: bool = False


@dataclass
class ImportReport:
    filename: str
    mode: str
    rows: int = 0
    households: list[HouseholdRows] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    imported_households: int = 0
    imported_members: int = 0
    duplicates: int = 0
    fatal: str | None = None
    # (first row, 户编号, 户主姓名): households new to ruhu, created
    created: list[tuple[int, str, str]] = field(default_factory=list)
    # (first row, 户编号, 户主姓名, changed): households that existed, updated where they differ
    updated: list[tuple[int, str, str, bool]] = field(default_factory=list)
    added_members: int = 0

    @property
    def good(self) -> list[HouseholdRows]:
        return [h for h in self.households if not h.bad]

    @property
    def bad_households(self) -> int:
        return sum(1 for h in self.households if h.bad)


def template_workbook() -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = "花名册"
    ws.append(TITLES + [c[0] for c in OPTIONAL_COLUMNS])
    for i, title in enumerate(TITLES + [c[0] for c in OPTIONAL_COLUMNS], 1):
        cell = ws.cell(1, i)
        cell.font = Font(bold=True, color="C00000" if title in REQUIRED else "000000")
        cell.fill = PatternFill("solid", fgColor="F2DCDB")
        ws.column_dimensions[get_column_letter(i)].width = 16
        ws.column_dimensions[get_column_letter(i)].number_format = "@"
    ws.append(["HH0001", "411702105201", "东组", "张三", "", "张庄村东组12号", "13800000000",
               "已脱贫", "非监测对象", "因病、缺资金", 2016, 2019, "张三", "", "户主", "男",
               "1968-03-02", "长期慢性病", "普通劳动力", "非在校生"])
    ws.append(["HH0001", "411702105201", "", "", "", "", "", "", "", "", "", "", "李四", "",
               "配偶", "女", "1970-05-11", "健康", "普通劳动力", "非在校生"])
    notes = wb.create_sheet("填写说明")
    notes.append(["说明"])
    for line in (
        "每位家庭成员填一行；行政村代码和户编号相同的行属于同一户，户的信息填在该户第一行。",
        "红色列为必填。行政村代码为12位统计用区划代码，须在您的管辖范围内。",
        "身份证号、电话请以文本格式填写，避免Excel把长数字改成科学计数法。",
        "历史贫困状态（2020年前）、监测对象类别、与户主关系、性别、健康状况等填写中文选项（与平板上的选项相同）。",
        "致贫原因可填多个，用顿号（、）分隔，第一个为主要致贫原因。日期格式为 2020-01-31。",
        "病种至减员原因各列可不填；健康状况、务工状况可填多个，用顿号（、）分隔。",
        "某一户只要有一行有错误，该户整户都不会导入。",
    ):
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    return wb


_REVERSE: dict[type, dict[str, str]] = {
    enum: {**RETIRED_LABELS.get(enum, {}), **{text: code for code, text in labels.items()}}
    for enum, labels in LABELS.items()
}


def parse_cell(entity: str, name: str, value: Any) -> Any:
    """An Excel cell → the field's JSON value; Chinese option labels become codes."""
    text = _text(value)
    if text == "":
        return None
    kind, enum = field_kind(entity, name)
    if kind == "enum_list" and enum is not None:
        parts = [p.strip() for p in text.replace("，", "、").replace(",", "、").split("、")]
        return [_REVERSE.get(enum, {}).get(p, p) for p in parts if p]
    if enum is not None:
        return _REVERSE.get(enum, {}).get(text, text)
    if kind == "bool":
        return {"是": True, "否": False}.get(text, text)
    return parse_text(kind, text)


def _validate(entity: str, values: dict[str, Any], row: int, raw: dict[str, Any],
              creating: bool) -> list[RowError]:
    checked = validate_fields(entity, values, creating=creating)
    out = []
    for e in checked.errors:
        title = next((t for t, ent, f in COLUMNS + OPTIONAL_COLUMNS
                      if ent == entity and f == e.field), e.field or "")
        reason = e.message.split("：", 1)[1] if "：" in e.message else e.message
        out.append(RowError(row, title, _text(raw.get(title)), reason))
    return out


def read_workbook(data: bytes, filename: str, mode: str, user: Principal) -> ImportReport:
    report = ImportReport(filename, mode)
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        report.fatal = "无法读取文件，请使用下载的导入模板（Excel .xlsx 格式）。"
        return report
    ws = wb["花名册"] if "花名册" in wb.sheetnames else wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = [OLD_TITLES.get(t, t) for t in (_text(c) for c in next(rows, ()))]
    missing = [t for t in TITLES if t not in header]
    if missing:
        report.fatal = f"表头缺少以下列：{'、'.join(missing)}。请使用下载的导入模板。"
        return report
    columns = COLUMNS + [c for c in OPTIONAL_COLUMNS if c[0] in header]
    index = {t: header.index(t) for t, _ent, _f in columns}
    groups: dict[tuple[str, str], HouseholdRows] = {}
    for number, cells in enumerate(rows, start=2):
        raw = {t: cells[i] if i < len(cells) else None for t, i in index.items()}
        if all(_text(v) == "" for v in raw.values()):
            continue
        report.rows += 1
        if report.rows > MAX_ROWS:
            report.fatal = f"一次最多导入 {MAX_ROWS} 行，请分批导入。"
            return report
        errors = [RowError(number, t, "", message(ErrorCode.validation_field_required))
                  for t in ("户编号", "行政村代码", "成员姓名") if _text(raw[t]) == ""]
        key = (_text(raw["行政村代码"]), _text(raw["户编号"]))
        hh_values = {f: parse_cell(ent, f, raw[t]) for t, ent, f in COLUMNS
                     if ent == "household"}
        hh_values = {k: v for k, v in hh_values.items() if v is not None}
        group = groups.get(key)
        if group is None:
            group = HouseholdRows(key, number, hh_values)
            groups[key] = group
            report.households.append(group)
            if not errors:
                errors += _validate("household", hh_values, number, raw, creating=True)
            if key[0] and not errors and not user.covers(key[0]):
                errors.append(RowError(number, "行政村代码", key[0],
                                       "该行政村不在您的管辖范围内"))
        else:
            for name, value in hh_values.items():
                if name in ("village_code", "household_number"):
                    continue
                if group.household.get(name) not in (None, value):
                    title = next(t for t, ent, f in COLUMNS if ent == "household" and f == name)
                    errors.append(RowError(number, title, _text(raw[title]),
                                           f"与本户第 {group.first_row} 行填写的不一致"))
        member = {f: parse_cell(ent, f, raw[t]) for t, ent, f in columns if ent == "member"}
        member = {k: v for k, v in member.items() if v is not None}
        if "name" in member:
            errors += _validate("member", member, number, raw, creating=False)
        group.members.append((number, member))
        if errors:
            group.bad = True
            report.errors += errors
    return report


def _existing(session: Session, user: Principal, groups: list[HouseholdRows]
              ) -> tuple[dict[tuple[str, str], Household], dict[str, Household]]:
    """Households in the admin's scope that rows of the file already describe: by (行政村代码,
    户编号) and by 户主身份证号 (one query)."""
    numbers = {g.key[1] for g in groups if g.key[1]}
    ids = {str(g.household["head_id_number"]).upper() for g in groups
           if g.household.get("head_id_number")}
    if not numbers and not ids:
        return {}, {}
    rows = session.exec(select(Household).where(
        user.scope_clause(Household.village_code), col(Household.deleted).is_(False),
        or_(col(Household.household_number).in_(sorted(numbers)),
            col(Household.head_id_number).in_(sorted(ids))))).all()
    by_key = {(h.village_code, h.household_number or ""): h for h in rows
              if h.household_number}
    by_id = {(h.head_id_number or "").upper(): h for h in rows if h.head_id_number}
    return by_key, by_id


def _changed(entity: str, stored: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The imported values that differ from the stored record (JSON forms compared)."""
    current = as_dict(entity, stored)
    return {k: v for k, v in values.items() if current.get(k) != v}


def _member_changes(session: Session, hh: Household, members: list[tuple[int, dict[str, Any]]]
                    ) -> tuple[list[ServerChange], int]:
    """Changes for the imported members of an existing household: a member matched by ID number
    (else by name) is updated where it differs, any other is added. Nobody is removed: a roster
    that lists fewer people does not say who left (增减员 has its own date and reason)."""
    stored = session.exec(select(Member).where(Member.household_id == hh.id,
                                               col(Member.deleted).is_(False))).all()
    by_id = {(m.id_number or "").upper(): m for m in stored if m.id_number}
    by_name = {m.name: m for m in stored}
    changes: list[ServerChange] = []
    added = 0
    for _, member in members:
        if "name" not in member:
            continue
        match = by_id.get(str(member.get("id_number") or "").upper()) if member.get(
            "id_number") else None
        match = match or by_name.get(member["name"])
        if match is None:
            changes.append(ServerChange("member", uuid6.uuid7(),
                                        {**member, "household_id": str(hh.id)}))
            added += 1
            continue
        diff = _changed("member", match, member)
        if diff:
            changes.append(ServerChange("member", match.id, diff))
    return changes, added


def write(session: Session, user: Principal, report: ImportReport) -> None:
    """Write the good households (all of them or none, in one savepoint). A household that
    already exists in the admin's scope (same 行政村代码 and 户编号, or same 户主身份证号) is
    updated with the file's non-empty values instead of being created again; the others are
    created and listed as new."""
    changes: list[ServerChange] = []
    by_key, by_id = _existing(session, user, report.good)
    for group in report.good:
        head_id = str(group.household.get("head_id_number") or "").upper()
        hh = by_key.get(group.key) or (by_id.get(head_id) if head_id else None)
        if hh is not None:
            diff = _changed("household", hh, group.household)
            if diff:
                changes.append(ServerChange("household", hh.id, diff))
            member_changes, added = _member_changes(session, hh, group.members)
            changes += member_changes
            report.updated.append((group.first_row, group.key[1], str(
                group.household.get("head_name") or hh.head_name), bool(diff or member_changes)))
            report.added_members += added
            continue
        hid = uuid6.uuid7()
        changes.append(ServerChange("household", hid, group.household))
        for _, member in group.members:
            changes.append(ServerChange("member", uuid6.uuid7(),
                                        {**member, "household_id": str(hid)}))
        report.created.append((group.first_row, group.key[1],
                               str(group.household.get("head_name") or "")))
        report.imported_members += len(group.members)
    if not changes:
        return
    with session.begin_nested():
        results = operations.apply(session, user, changes, Origin.IMPORT)
        rejected = [r for r in results if r.error is not None]
        if rejected:
            reason = rejected[0].error.message if rejected[0].error else ""
            report.created, report.updated = [], []
            report.imported_members = report.added_members = 0
            raise RuhuError(ErrorCode.import_invalid, f"导入失败，未导入任何数据：{reason}")
    report.imported_households = len(report.created)
    report.duplicates = sum(1 for c, r in zip(changes, results, strict=True)
                            if c.entity == "household" and r.status == "conflict")


@router.get("/imports")
def import_page(request: Request, user: AdminDep) -> Response:
    return render(request, "import.html", active="imports", report=None)


@router.get("/imports/template.xlsx")
def import_template(user: AdminDep) -> Response:
    buf = io.BytesIO()
    template_workbook().save(buf)
    return Response(buf.getvalue(), media_type=XLSX, headers={
        "Content-Disposition": "attachment; filename=\"ruhu_import_template.xlsx\"; "
                               "filename*=UTF-8''%E5%86%9C%E6%88%B7%E8%8A%B1%E5%90%8D%E5%86%8C"
                               "%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx"})


@router.post("/imports", dependencies=[CsrfChecked])
async def import_upload(request: Request, session: SessionDep, user: AdminDep) -> Response:
    form = await request.form()
    upload = form.get("file")
    mode = str(form.get("mode") or "all_or_nothing")
    if mode not in ("all_or_nothing", "good_only", "check"):
        mode = "all_or_nothing"
    if upload is None or isinstance(upload, str):
        return render(request, "import.html", 400, active="imports", report=None,
                      error="请选择要导入的 Excel 文件。")
    data = await upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return render(request, "import.html", 413, active="imports", report=None,
                      error="文件过大（不能超过 5 MB），请分批导入。")
    report = read_workbook(data, upload.filename or "", mode, user)
    blocked = report.fatal or mode == "check" or (mode == "all_or_nothing" and report.errors)
    if not blocked:
        try:
            write(session, user, report)
        except RuhuError as exc:
            report.fatal = exc.message
    audit(session, user.user_id, "import", {
        "filename": report.filename, "mode": mode, "rows": report.rows,
        "households": len(report.households), "bad_households": report.bad_households,
        "errors": len(report.errors), "imported_households": report.imported_households,
        "imported_members": report.imported_members,
        "updated_households": sum(1 for u in report.updated if u[3]),
        "unchanged_households": sum(1 for u in report.updated if not u[3]),
        "fatal": report.fatal})
    status = 200 if not (report.fatal or report.errors) else 422
    return render(request, "import.html", status, active="imports", report=report)
