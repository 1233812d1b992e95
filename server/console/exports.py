"""Excel exports: household roster, 五清/visit coverage, and the masked public notice (公示).

Every export is audited. The 公示 list is meant for a village notice board, so it carries no ID
number, phone or bank account in clear (domain.md, Privacy).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import Session, col, select

from server.api.deps import SessionDep
from server.audit import audit
from server.console.common import scope_villages, village_names
from server.console.quality import last_visit, visit_dates
from server.console.web import ClerkDep, ConsoleRoute, not_found, render
from server.db.tables import AuditLog, Household
from server.queries.bundles import county_rules, load_bundles
from server.reference import rules_checklist, template_codes
from server.scope import Principal
from sync_protocol.display import field_label, value_label
from sync_protocol.entities import FIELD_LABELS
from sync_protocol.enums import HouseholdType
from sync_protocol.input_rules import strip_control_chars
from sync_protocol.members import current_members
from sync_protocol.policy import (
    CountyRules,
    china_today,
    hint_policy,
    household_type,
    is_monitored,
    visit_interval_days,
)
from sync_protocol.templates import WUQING_V1, ChecklistTemplateDef
from sync_protocol.validation import mask_id_number, mask_name
from sync_protocol.wuqing import (
    compute_hints,
    is_all_clear,
    is_checked,
    manual_verdicts,
    overdue_rectifications,
)

router = APIRouter(route_class=ConsoleRoute)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# the current status is 户类型 + 监测状态 (2021+); 历史贫困状态 and the 建档立卡 years are history
MONITORING_FIELDS = ("household_type", "monitoring_status", "monitoring_category", "risk_types",
                     "monitoring_since", "eliminated_on")
HISTORY_FIELDS = ("poverty_status", "household_attribute")
ROSTER_COLUMNS = [
    "序号", "行政村", "村民小组", "户编号", "户主姓名", "户主身份证号", "联系电话", "住址",
    "家庭人口数", *(field_label(f) for f in MONITORING_FIELDS),
    *(field_label(f) for f in HISTORY_FIELDS), "主要致贫原因", "其他致贫原因",
    "识别年度", "脱贫年度", field_label("housing_grade"), "不愁吃", "不愁穿", "义务教育有保障",
    "基本医疗有保障", "住房安全有保障", "饮水安全有保障",
]
# household file v2 member fields, labelled as everywhere (sync_protocol.entities.FIELD_LABELS)
MEMBER_V2_FIELDS = ("disease", "disability_category", "disability_grade", "family_doctor_signed",
                    "school_stage", "school_grade", "employment", "joined_on", "joined_reason",
                    "left_on", "left_reason")
MEMBER_COLUMNS = [
    "序号", "行政村", "户编号", "户主姓名", "姓名", "身份证号", "与户主关系", "性别", "出生日期",
    "健康状况", "劳动技能", "在校生情况", "务工地点", "务工时间（月）",
    *[FIELD_LABELS[f] for f in MEMBER_V2_FIELDS],
]
NOTICE_COLUMNS = [
    "序号", "行政村", "村民小组", "户主姓名", "户主身份证号", "家庭人口数", "户类型", "监测状态",
    "监测对象类别", "主要返贫致贫风险类型",
]
# whom a list covers (2021+: 脱贫户 and 防止返贫监测对象; the 2014–2020 预脱贫/新识别 lists are
# history, and an old link asking for them gets the monitored list)
NOTICE_SCOPES = {
    "monitored": "防止返贫监测对象",
    "exited": "脱贫户",
    "all": "脱贫户及防止返贫监测对象",
}
HEADER_FILL = PatternFill("solid", fgColor="F2DCDB")


def _households(session: Session, user: Principal, village: str) -> list[Household]:
    query = select(Household).where(user.scope_clause(Household.village_code),
                                    Household.deleted.is_(False))  # type: ignore[attr-defined]
    if village:
        query = query.where(Household.village_code == village)
    return list(session.exec(query.order_by(col(Household.village_code),
                                            col(Household.group_name),
                                            col(Household.household_number),
                                            col(Household.head_name))).all())


# what a spreadsheet program reads as the start of a formula (OWASP "CSV injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _append(ws: Worksheet, values: Sequence[Any]) -> int:
    """The one place export cells are written. Text goes in as text, never as a formula: a
    stored ``=HYPERLINK(...)`` stays inert (type ``s``, and Excel's quote prefix when it starts
    like a formula, so editing the cell does not turn it live either). Control characters stored
    before input refused them are dropped, since an xlsx cannot hold them."""
    cleaned = [strip_control_chars(v) if isinstance(v, str) else v for v in values]
    ws.append(cleaned)
    row = ws.max_row
    for column, value in enumerate(cleaned, 1):
        if isinstance(value, str):
            cell = ws.cell(row, column)
            cell.data_type = "s"
            if value.startswith(FORMULA_START):
                cell.quotePrefix = True
    return row


def _sheet(wb: Workbook, title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
           heading: str | None = None, first: bool = False) -> int:
    ws = wb.active if first else wb.create_sheet()
    ws.title = title
    if heading:
        _append(ws, [heading])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(columns))
        ws.cell(1, 1).font = Font(bold=True, size=14)
        ws.cell(1, 1).alignment = Alignment(horizontal="center")
    header_row = _append(ws, columns)
    for i in range(1, len(columns) + 1):
        cell = ws.cell(header_row, i)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        width = max(8, min(24, len(columns[i - 1]) * 2 + 4))
        ws.column_dimensions[get_column_letter(i)].width = width
    count = 0
    for row in rows:
        _append(ws, row)
        count += 1
    ws.freeze_panes = ws.cell(header_row + 1, 1)
    return count


def _yesno(entity: str, field: str, value: Any) -> str:
    return "" if value is None else value_label(entity, field, value)


def _causes(h: Household) -> tuple[str, str]:
    causes = list(h.causes or [])
    primary = value_label("household", "causes", causes[:1]) if causes else ""
    rest = value_label("household", "causes", causes[1:]) if len(causes) > 1 else ""
    return primary, rest


def _xlsx(wb: Workbook, filename: str) -> Response:
    buf = io.BytesIO()
    wb.save(buf)
    stamp = china_today().strftime("%Y%m%d")
    name = f"{filename}_{stamp}.xlsx"
    return Response(buf.getvalue(), media_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename=\"export_{stamp}.xlsx\"; "
                               f"filename*=UTF-8''{quote(name)}"})


def roster_workbook(session: Session, user: Principal, village: str) -> tuple[Workbook, int]:
    today = china_today()
    names = village_names(session, user)
    households = _households(session, user, village)
    bundles = load_bundles(session, households)
    rows: list[list[Any]] = []
    members: list[list[Any]] = []
    for i, h in enumerate(households, 1):
        b = bundles[h.id]
        primary, rest = _causes(h)
        rows.append([
            i, names.get(h.village_code, h.village_code), h.group_name or "",
            h.household_number or "", h.head_name, h.head_id_number or "", h.phone or "",
            h.address or "", len(current_members(b.members, today)),
            *[_yesno("household", f, getattr(h, f)) for f in MONITORING_FIELDS],
            *[_yesno("household", f, getattr(h, f)) for f in HISTORY_FIELDS],
            primary, rest, h.identified_year or "", h.exit_year or "",
            _yesno("household", "housing_grade", h.housing_grade),
            *[_yesno("household", f, getattr(h, f)) for f in (
                "food_secure", "clothing_secure", "education_secure", "medical_secure",
                "housing_secure", "water_secure")],
        ])
        for m in b.members:
            members.append([
                len(members) + 1, names.get(h.village_code, h.village_code),
                h.household_number or "", h.head_name, m.get("name") or "",
                m.get("id_number") or "", *[_yesno("member", f, m.get(f)) for f in (
                    "relation", "gender")], m.get("birth_date") or "",
                *[_yesno("member", f, m.get(f)) for f in ("health", "labor_ability",
                                                          "schooling")],
                m.get("migrant_place") or "", m.get("migrant_months") or "",
                *[_yesno("member", f, m.get(f)) for f in MEMBER_V2_FIELDS],
            ])
    wb = Workbook()
    n = _sheet(wb, "农户花名册", ROSTER_COLUMNS, rows, first=True)
    _sheet(wb, "家庭成员", MEMBER_COLUMNS, members)
    return wb, n


def titles(template: ChecklistTemplateDef) -> dict[str, str]:
    return {item.code: item.title for item in template.items}


def coverage_workbook(session: Session, user: Principal, village: str) -> tuple[Workbook, int]:
    names = village_names(session, user)
    households = _households(session, user, village)
    bundles = load_bundles(session, households)
    today = china_today()
    policies: dict[str, CountyRules] = {}
    templates_by_county: dict[str, ChecklistTemplateDef] = {}
    known = template_codes(session)
    checklist = WUQING_V1
    rows = []
    for i, h in enumerate(households, 1):
        b = bundles[h.id]
        rules = county_rules(session, h.village_code, policies)
        if rules.county_code not in templates_by_county:
            templates_by_county[rules.county_code] = rules_checklist(session, rules)
        checklist = templates_by_county[rules.county_code]
        hints = compute_hints(b, hint_policy(rules, b.household, today, known), checklist)
        verdicts = manual_verdicts(b, checklist.code)
        interval = visit_interval_days(rules, b.household)
        last = last_visit(b)
        this_year = sum(1 for d in visit_dates(b) if d.year == today.year)
        row: list[Any] = [i, names.get(h.village_code, h.village_code), h.group_name or "",
                          h.household_number or "", h.head_name]
        for item in checklist.items:
            row.append(value_label("checklist_item", "verdict",
                                   verdicts.get(item.code, {}).get("verdict") or "unchecked"))
        row += ["是" if is_checked(b, checklist) else "否",
                "是" if is_all_clear(b, checklist) else "否",
                "；".join(f"{titles(checklist).get(str(r.get('item_code')), '')}：期限"
                         f"{r.get('rectify_by')}" for r in overdue_rectifications(b, checklist,
                                                                                   today))]
        row.append("；".join(f"{item.title}：{'；'.join(hints[item.code].messages)}"
                            for item in checklist.items
                            if hints[item.code].ok is False))
        row += [last.isoformat() if last else "从未走访", this_year, interval,
                "是" if last and (today - last).days <= interval else "否"]
        rows.append(row)
    columns = ["序号", "行政村", "村民小组", "户编号", "户主姓名",
               *[item.title for item in checklist.items], "五清已核查", "全部为清", "整改逾期",
               "系统提示",
               "最近走访日期", "本年走访次数", "走访周期要求（天）", "是否按期走访"]
    wb = Workbook()
    n = _sheet(wb, "五清及走访情况", columns, rows, first=True)
    return wb, n


def _notice_match(h: Household, scope: str) -> bool:
    record = h.model_dump()
    monitored = is_monitored(record)
    exited = household_type(record) == HouseholdType.exited
    if scope == "monitored":
        return monitored
    if scope == "exited":
        return exited
    return monitored or exited


def notice_workbook(session: Session, user: Principal, village: str,
                    scope: str) -> tuple[Workbook, int]:
    today = china_today()
    names = village_names(session, user)
    households = [h for h in _households(session, user, village) if _notice_match(h, scope)]
    bundles = load_bundles(session, households)
    rows = []
    for i, h in enumerate(households, 1):
        risks = list(h.risk_types or [])
        rows.append([
            i, names.get(h.village_code, h.village_code), h.group_name or "",
            mask_name(h.head_name), mask_id_number(h.head_id_number),
            len(current_members(bundles[h.id].members, today)),
            *[_yesno("household", f, getattr(h, f)) for f in (
                "household_type", "monitoring_status", "monitoring_category")],
            value_label("household", "risk_types", risks[:1]) if risks else "",
        ])
    where = names.get(village, "") if village else "、".join(
        sorted({names.get(h.village_code, h.village_code) for h in households})) or "本辖区"
    heading = f"{where}{NOTICE_SCOPES[scope]}公示名单"
    wb = Workbook()
    n = _sheet(wb, "公示名单", NOTICE_COLUMNS, rows, heading=heading, first=True)
    ws = wb.active
    _append(ws, [])
    days = county_rules(session, (village if village != "-" else "") or
                        (user.county_codes[0] if user.county_codes else "")).procedures.notice_days
    _append(ws, [f"公示期：{china_today():%Y年%m月%d日}起不少于{days}天。"
                 "如有异议，请向村委会或乡镇反映。"])
    return wb, n


EXPORTS = {
    "roster": ("农户花名册", roster_workbook),
    "coverage": ("五清及走访情况表", coverage_workbook),
}


@router.get("/exports")
def exports_page(request: Request, session: SessionDep, user: ClerkDep) -> Response:
    recent = session.exec(select(AuditLog).where(
        AuditLog.user_id == user.user_id, AuditLog.action == "export")
        .order_by(AuditLog.id.desc()).limit(10)).all()  # type: ignore[union-attr]
    return render(request, "exports.html", active="exports",
                  villages=scope_villages(session, user), notice_scopes=NOTICE_SCOPES,
                  recent=recent)


@router.get("/exports/{kind}.xlsx")
def export(session: SessionDep, user: ClerkDep, kind: str, village: str = "",
           scope: str = "monitored") -> Response:
    if village and not user.covers(village):
        village = "-"  # nothing: an out-of-scope village exports an empty sheet, never data
    if kind == "notice":
        if scope not in NOTICE_SCOPES:
            scope = "monitored"
        title = "公示名单"
        wb, n = notice_workbook(session, user, village, scope)
    elif kind in EXPORTS:
        title, build = EXPORTS[kind]
        wb, n = build(session, user, village)
    else:
        raise not_found()
    audit(session, user.user_id, "export", {"kind": kind, "title": title, "village": village,
                                            "scope": scope if kind == "notice" else None,
                                            "rows": n, "device_id": user.device_id})
    return _xlsx(wb, title)
