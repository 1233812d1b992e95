"""与国家系统比对: a township clerk (乡镇乡村振兴（防返贫）专干) or a county admin uploads the
national system's household export and sees, within their own scope, per village, households
only in ruhu, only in the national file, and fields that differ; the same as xlsx. The
comparison changes nothing. Selected differences can then be taken over into ruhu through the
normal change path (``operations.apply``, origin ``import``: audited, pulled by the devices).
Rows of villages outside the user's scope are left out (only counted). Matching and the rules
are ``sync_protocol.national``."""

from __future__ import annotations

import io
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from openpyxl import Workbook, load_workbook
from sqlmodel import Session

from server.api.deps import SessionDep
from server.audit import audit
from server.console.common import village_names
from server.console.exports import _sheet, _xlsx
from server.console.web import ClerkDep, ConsoleRoute, CsrfChecked, render
from server.db.tables import Household
from server.limits import IMPORT_FILE_MAX_BYTES
from server.queries.reports.reconcile import ruhu_households
from server.scope import Principal
from server.sync import operations
from server.sync.operations import Origin, ServerChange
from sync_protocol import national
from sync_protocol.errors import ErrorCode, RuhuError, message

router = APIRouter(route_class=ConsoleRoute)
MAX_ROWS = 100_000
HEADER_ROWS = 10  # the header may follow a title row or two
SHOWN = 500  # rows per list on the page (the xlsx has all)
NO_VILLAGE = "（未注明行政村）"


@dataclass
class Outcome:
    filename: str
    recognised: list[tuple[str, str]] = field(default_factory=list)  # (column title, meaning)
    unrecognised: list[str] = field(default_factory=list)
    rows: int = 0
    outside: int = 0  # households of villages outside the admin's scope (left out)
    result: national.Reconciliation | None = None
    villages: list[dict[str, Any]] = field(default_factory=list)
    fatal: str | None = None


def _header(rows: list[tuple[Any, ...]]) -> int | None:
    """The index of the header row: the first that names a key column and one more."""
    for i, cells in enumerate(rows[:HEADER_ROWS]):
        found = national.recognise(cells)
        if len(found) >= 2 and any(k in found for k in national.KEY_FIELDS):
            return i
    return None


def read_national(data: bytes, filename: str) -> tuple[Outcome, list[national.NationalHousehold]]:
    outcome = Outcome(filename)
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        rows = list(wb.worksheets[0].iter_rows(values_only=True, max_row=MAX_ROWS + 1))
    except Exception:
        outcome.fatal = message(ErrorCode.reconcile_file_invalid)
        return outcome, []
    at = _header(rows)
    if at is None:
        outcome.fatal = ("没有找到可识别的表头：至少需要“户编号”或“户主身份证号”（或“证件号码”）"
                         "之一，以及另外一列（如户主姓名、人口数）。")
        return outcome, []
    header = rows[at]
    columns = national.recognise(header)
    used = set(columns.values())
    outcome.recognised = [(national.text(header[i]), national.COLUMNS[name][0])
                          for name, i in sorted(columns.items(), key=lambda kv: kv[1])]
    outcome.unrecognised = [national.text(h) for i, h in enumerate(header)
                            if i not in used and national.text(h)]
    data_rows = rows[at + 1:]
    outcome.rows = sum(1 for r in data_rows if any(national.text(c) for c in r))
    households = national.read_rows(data_rows, columns)
    for hh in households:
        hh.row += at  # spreadsheet row numbers
    return outcome, households


def reconcile(session: Session, user: Principal, data: bytes, filename: str) -> Outcome:
    outcome, households = read_national(data, filename)
    if outcome.fatal:
        return outcome
    coded = [h for h in households if h.village_code]
    inside = [h for h in households if not h.village_code or user.covers(h.village_code)]
    outcome.outside = len(households) - len(inside)
    # ruhu's side: the file's villages when it names them, else the whole scope
    villages = {h.village_code for h in inside if h.village_code}
    ruhu = ruhu_households(session, user, villages if coded else None)
    result = national.compare(ruhu, inside)
    outcome.result = result
    names = village_names(session, user)
    counts: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "only_ruhu": 0, "only_national": 0, "differing": 0, "same": 0})
    for m in result.matched:
        counts[m.ruhu["village_code"]]["differing" if m.differences else "same"] += 1
    for r in result.only_ruhu:
        counts[r["village_code"]]["only_ruhu"] += 1
    for h in result.only_national:
        counts[h.village_code or h.village_name or NO_VILLAGE]["only_national"] += 1
    outcome.villages = [{"village": names.get(code, code), **c}
                        for code, c in sorted(counts.items())]
    return outcome


def _apply_value(m: national.Match, role: str) -> str:
    """The checkbox value that takes this household's national values over ("" when no
    difference can be taken over by a user of ``role``)."""
    fields = national.update_fields(m, role)
    return json.dumps({"id": str(m.ruhu["id"]), "fields": fields},
                      ensure_ascii=False) if fields else ""


def workbook(outcome: Outcome, names: dict[str, str]) -> tuple[Workbook, int]:
    result = outcome.result or national.Reconciliation()
    wb = Workbook()
    rows = _sheet(wb, "汇总", ["行政村", "仅入户通有", "仅国家系统有", "存在差异", "一致"],
                  ([v["village"], v["only_ruhu"], v["only_national"], v["differing"], v["same"]]
                   for v in outcome.villages), heading="与国家系统比对汇总", first=True)
    rows += _sheet(wb, "存在差异", ["行政村", "户编号", "户主姓名", "匹配依据", "项目",
                                    "入户通", "国家系统"],
                   ([names.get(m.ruhu["village_code"], m.ruhu["village_code"]),
                     m.ruhu.get("household_number") or "", m.ruhu.get("head_name") or "",
                     "户编号" if m.by == "household_number" else "户主身份证号", d.label,
                     national.display(d.field, d.ruhu), national.display(d.field, d.national)]
                    for m in result.differing for d in m.differences))
    rows += _sheet(wb, "仅入户通有", ["行政村", "户编号", "户主姓名", "户主身份证号"],
                   ([names.get(r["village_code"], r["village_code"]),
                     r.get("household_number") or "", r.get("head_name") or "",
                     r.get("head_id_number") or ""] for r in result.only_ruhu))
    rows += _sheet(wb, "仅国家系统有", ["行号", "行政村", "户编号", "户主姓名", "户主身份证号",
                                        "人口数"],
                   ([h.row, names.get(h.village_code, h.village_code or h.village_name),
                     h.household_number, h.head_name, h.head_id_number,
                     h.members if h.members is not None else ""]
                    for h in result.only_national))
    _sheet(wb, "识别的列", ["国家系统列名", "含义"], ([t, m] for t, m in outcome.recognised))
    return wb, rows


@router.get("/reconcile")
def reconcile_page(request: Request, user: ClerkDep) -> Response:
    return render(request, "reconcile.html", active="reconcile", outcome=None)


@router.post("/reconcile", dependencies=[CsrfChecked])
async def reconcile_upload(request: Request, session: SessionDep, user: ClerkDep) -> Response:
    form = await request.form()
    upload = form.get("file")
    output = str(form.get("output") or "page")
    if upload is None or isinstance(upload, str):
        return render(request, "reconcile.html", 400, active="reconcile", outcome=None,
                      error="请选择国家系统导出的 Excel 文件。")
    data = await upload.read(IMPORT_FILE_MAX_BYTES + 1)
    if len(data) > IMPORT_FILE_MAX_BYTES:
        return render(request, "reconcile.html", 413, active="reconcile", outcome=None,
                      error="文件过大（不能超过 5 MB），请按乡镇分别导出后比对。")
    outcome = reconcile(session, user, data, upload.filename or "")
    result = outcome.result
    audit(session, user.user_id, "reconcile", {
        "filename": outcome.filename, "rows": outcome.rows, "output": output,
        "matched": len(result.matched) if result else 0,
        "differing": len(result.differing) if result else 0,
        "only_ruhu": len(result.only_ruhu) if result else 0,
        "only_national": len(result.only_national) if result else 0,
        "outside_scope": outcome.outside, "fatal": outcome.fatal,
        "device_id": user.device_id})
    if output == "xlsx" and not outcome.fatal:
        wb, rows = workbook(outcome, village_names(session, user))
        audit(session, user.user_id, "export", {"kind": "reconcile", "rows": rows,
                                                "device_id": user.device_id})
        return _xlsx(wb, "与国家系统比对差异")
    return render(request, "reconcile.html", 422 if outcome.fatal else 200,
                  active="reconcile", outcome=outcome, shown=SHOWN, display=national.display,
                  apply_value=lambda m: _apply_value(m, user.role),
                  names=village_names(session, user))


def _selected(values: list[Any], role: str) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    """The ticked households and the fields a user of ``role`` may take over (others dropped)."""
    allowed = national.applicable_fields(role)
    out = []
    for raw in values:
        try:
            item = json.loads(str(raw))
            hid = uuid.UUID(str(item["id"]))
            fields = {k: v for k, v in dict(item["fields"]).items()
                      if k in allowed}
        except (ValueError, KeyError, TypeError):
            continue
        if fields:
            out.append((hid, fields))
    return out


@router.post("/reconcile/apply", dependencies=[CsrfChecked])
async def reconcile_apply(request: Request, session: SessionDep, user: ClerkDep) -> Response:
    """Take the national values of the selected households over into ruhu (a clerk or an admin,
    each in their own scope, each only the fields their role may take over): households outside
    the scope (or gone) are skipped; the writes are all or nothing, through the push path."""
    form = await request.form()
    selected = _selected(form.getlist("apply"), user.role)
    changes: list[ServerChange] = []
    skipped = 0
    for hid, fields in selected:
        hh = session.get(Household, hid)
        if hh is None or hh.deleted or not user.covers(hh.village_code):
            skipped += 1
            continue
        if "monitoring_status" in fields and "monitoring_category" not in fields \
                and fields["monitoring_status"] == "none":
            fields["monitoring_category"] = "none"
        changes.append(ServerChange("household", hid, fields))
    error = None
    if changes:
        try:
            with session.begin_nested():
                results = operations.apply(session, user, changes, Origin.IMPORT)
                rejected = [r for r in results if r.error is not None]
                if rejected:
                    reason = rejected[0].error.message if rejected[0].error else ""
                    raise RuhuError(ErrorCode.import_invalid,
                                    f"未更新任何农户：{reason}", status_code=422)
        except RuhuError as exc:
            error = exc.message
    updated = 0 if error else len(changes)
    audit(session, user.user_id, "reconcile_apply", {
        "households": updated, "skipped": skipped, "error": error,
        "fields": sorted({k for _, f in selected for k in f}), "device_id": user.device_id})
    return render(request, "reconcile.html", 422 if error else 200, active="reconcile",
                  outcome=None, applied=updated, skipped=skipped, error=error)
