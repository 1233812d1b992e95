"""监测审核 and 公示: the office's side of the monitoring procedures.

The 审核 queue shows a township clerk the procedures whose notice is over and not objected
(batch-approvable, each with the household file a click away) and those still in notice; a county
admin the ones the township approved. Return and reject need a reason; overdue procedures (past
the county's entry deadline) are flagged. Every move goes through
``server.api.routes.procedures.transition_procedure`` — the push path and its state machine.
The 公示 page lists, per village, the households in notice with names and groups, ID numbers and
phones masked; printable, and as xlsx (audited).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from openpyxl import Workbook

from server.api.deps import SessionDep
from server.api.routes.procedures import TransitionRequest, procedure_json, transition_procedure
from server.audit import audit
from server.console.common import scope_villages, village_names
from server.console.exports import _sheet, _xlsx
from server.console.web import ClerkDep, ConsoleRoute, CsrfChecked, redirect, render
from server.queries.names import user_names
from server.reference import county_rules
from server.scope import Principal
from server.sync.procedures import china_today
from server.sync.values import TABLES
from sync_protocol import procedure as machine
from sync_protocol.enums import MonitoringCategory, ProcedureStage, Role, label
from sync_protocol.errors import RuhuError
from sync_protocol.validation import mask_id_number, mask_phone

router = APIRouter(route_class=ConsoleRoute)


def _rows(session: SessionDep, user: Principal, stages: tuple[str, ...], village: str = ""
          ) -> list[dict[str, Any]]:
    """Procedures at ``stages`` in scope with their household's name, group and masked ids."""
    p, h = TABLES["procedure"], TABLES["household"]
    stmt = (sa.select(p, h.c.head_name, h.c.group_name, h.c.head_id_number, h.c.phone,
                      h.c.household_type)
            .join(h, h.c.id == p.c.household_id)
            .where(~p.c.deleted, p.c.stage.in_(stages), user.scope_clause(p.c.village_code)))
    if village:
        stmt = stmt.where(p.c.village_code == village)
    rows = session.execute(stmt.order_by(p.c.village_code, h.c.group_name, h.c.head_name)
                           ).mappings().all()
    policies: dict[str, machine.ProcedurePolicy] = {}
    today = china_today()
    out = []
    for row in rows:
        county = row["village_code"][:6]
        if county not in policies:
            policies[county] = county_rules(session, county).procedures
        item = procedure_json(dict(row), policies[county])
        item.update(head_name=row["head_name"], group_name=row["group_name"] or "",
                    head_id_masked=mask_id_number(row["head_id_number"]),
                    phone_masked=mask_phone(row["phone"]),
                    notice_over=machine.notice_over(item, today),
                    objection_open=machine.objection_open(item))
        out.append(item)
    return out


@router.get("/procedures")
def queue(request: Request, session: SessionDep, user: ClerkDep, done: int = 0,
          failed: str = "") -> Response:
    county = user.role == Role.county_admin
    if county:
        ready = _rows(session, user, ("township_approved",))
        waiting: list[dict[str, Any]] = []
    else:
        notice = _rows(session, user, ("notice",))
        ready = [r for r in notice if r["notice_over"] and not r["objection_open"]]
        waiting = [r for r in notice if r not in ready]
    early = _rows(session, user, ("proposed", "verified", "reviewed", "returned"))
    movers = user_names(session, [r["stage_by"] for r in ready + waiting + early])
    return render(request, "procedures.html", active="procedures", ready=ready,
                  waiting=waiting, early=early, county=county, names=village_names(
                      session, user), movers=movers, done=done, failed=failed)


def _move(session: SessionDep, user: Principal, pid: str, stage: str | None,
          fields: dict[str, Any]) -> str | None:
    """One move through the push path; the refusal's message, or None when it was applied."""
    try:
        procedure_id = uuid.UUID(pid)
        with session.begin_nested():
            transition_procedure(session, user, procedure_id, TransitionRequest(
                stage=ProcedureStage(stage) if stage else None, fields=fields))
    except ValueError:
        return "记录编号不正确"
    except RuhuError as exc:
        return exc.message
    return None


@router.post("/procedures/approve", dependencies=[CsrfChecked])
async def approve(request: Request, session: SessionDep, user: ClerkDep) -> Response:
    """Batch approval of the ticked procedures (township: 审核通过; county: 确认)."""
    form = await request.form()
    ids = [str(v) for v in form.getlist("ids")]
    note = str(form.get("decision_note") or "").strip()
    county = user.role == Role.county_admin
    stage = "approved" if county else "township_approved"
    fields = {"decision_note": note or "同意"} if county else {}
    failures = [m for m in (_move(session, user, pid, stage, fields) for pid in ids) if m]
    return redirect(f"/console/procedures?done={len(ids) - len(failures)}"
                    + (f"&failed={failures[0]}" if failures else ""))


@router.post("/procedures/{pid}/decide", dependencies=[CsrfChecked])
async def decide(request: Request, session: SessionDep, user: ClerkDep, pid: str) -> Response:
    """Return (退回) or reject (不予通过) with a reason; record or settle a 公示异议."""
    form = await request.form()
    action = str(form.get("action") or "")
    reason = str(form.get("reason") or "").strip()
    moves: dict[str, tuple[str | None, dict[str, Any]]] = {
        "return": ("returned", {"return_reason": reason}),
        "reject": ("rejected", {"decision_note": reason}),
        "objection": (None, {"objection": reason}),
        "resolve": (None, {"objection_resolution": reason}),
    }
    if action not in moves:
        return redirect("/console/procedures?failed=操作不正确")
    stage, fields = moves[action]
    failure = _move(session, user, pid, stage, fields)
    return redirect("/console/procedures?" + (f"failed={failure}" if failure else "done=1"))


@router.get("/notices")
def notices(request: Request, session: SessionDep, user: ClerkDep, village: str = "") -> Response:
    """公示: per village, the households in notice (拟纳入监测对象 / 拟风险消除对象)."""
    villages = scope_villages(session, user)
    if village and not user.covers(village):
        village = "-"
    rows = _rows(session, user, ("notice",), village)
    return render(request, "notices.html", active="notices", rows=rows, villages=villages,
                  village=village, names=village_names(session, user))


@router.get("/notices.xlsx")
def notices_xlsx(session: SessionDep, user: ClerkDep, village: str = "") -> Response:
    if village and not user.covers(village):
        village = "-"
    names = village_names(session, user)
    rows = _rows(session, user, ("notice",), village)
    wb = Workbook()
    columns = ["序号", "行政村", "村民小组", "户主姓名", "户主身份证号", "联系电话", "公示类别",
               "监测对象类别", "公示期"]
    n = _sheet(wb, "公示名单", columns, [
        [i, names.get(r["village_code"], r["village_code"]), r["group_name"], r["head_name"],
         r["head_id_masked"], r["phone_masked"],
         "拟纳入监测对象" if r["kind"] == "entry" else "拟风险消除对象",
         _category(r), f"{r['notice_start']} 至 {r['notice_end']}"]
        for i, r in enumerate(rows, 1)], heading="防止返贫监测对象公示名单", first=True)
    audit(session, user.user_id, "export", {"kind": "procedure_notice", "village": village,
                                            "rows": n, "device_id": user.device_id})
    return _xlsx(wb, "监测对象公示名单")


def _category(row: dict[str, Any]) -> str:
    return label(row.get("category"), MonitoringCategory) if row.get("category") else ""
