"""Monitoring procedures on the tablet: the server's own state machine, judged offline.

``propose``, ``move`` and ``edit`` judge a change with ``sync_protocol.procedure.judge`` against
the local copy (the household's local members, incomes and procedures; the county policy of the
reference data) before saving it to the outbox, so a cadre learns at once, without signal, what
the server would refuse. The server judges the change again at merge time against its current
row (another device may have moved the procedure meanwhile). ``describe`` says a procedure's
state in plain words for the screens.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kivy_client.store import Record, Store, StoreValidationError
from sync_protocol import procedure as machine
from sync_protocol.display import fmt_time
from sync_protocol.entities import FIELD_LABELS
from sync_protocol.enums import (
    MonitoringCategory,
    ProcedureKind,
    ProcedureSource,
    ProcedureStage,
    RiskElimination,
    RiskType,
    label,
)
from sync_protocol.errors import ErrorCode, FieldError
from sync_protocol.policy import china_date, china_today


def current_role(store: Store) -> str | None:
    """The role of the user logged in on this tablet (from the offline accounts)."""
    return store.current_role


def local_policy(store: Store, village_code: str | None) -> machine.ProcedurePolicy:
    """The county's procedure policy: the ``procedures`` of the same ``CountyRules`` the
    tablet's hints and visit intervals use (defaults when the county has none)."""
    return store.county_rules(village_code).procedures


def procedures_of(store: Store, household_id: str) -> list[Record]:
    return store.children(household_id, "procedure")


def local_facts(store: Store, household_id: str) -> machine.HouseholdFacts:
    household = store.get("household", household_id)
    if household is None or household.deleted:
        raise StoreValidationError(ErrorCode.sync_parent_missing, status_code=404)
    return machine.household_facts(
        household.fields,
        [r.fields for r in store.children(household_id, "member")],
        [r.fields for r in store.children(household_id, "income_item")],
        [{**r.fields, "id": r.id} for r in procedures_of(store, household_id)],
    )


def _refuse(verdict: machine.Verdict) -> StoreValidationError:
    error = FieldError(verdict.code or ErrorCode.procedure_transition_invalid, verdict.field,
                       verdict.message)
    return StoreValidationError(error.code, error.message, 422,
                                {"errors": [error.to_dict()], "field": error.field})


def _judge(store: Store, current: Record | None, household_id: str, change: dict[str, Any],
           role: str | None, today: dt.date | None) -> machine.Verdict:
    household = store.get("household", household_id)
    village = household.fields.get("village_code") if household is not None else None
    return machine.judge(current.fields if current is not None else None, change,
                         role or current_role(store) or "", local_facts(store, household_id),
                         local_policy(store, village), today or china_today(),
                         record_id=current.id if current is not None else None)


def propose(store: Store, household_id: str, kind: str, fields: dict[str, Any], *,
            role: str | None = None, today: dt.date | None = None) -> str:
    """发起纳入监测 / 发起风险消除: a new procedure at ``proposed``; returns its id."""
    today = today or china_today()
    change = {**fields, "household_id": household_id, "kind": kind,
              "stage": ProcedureStage.proposed.value, "proposed_on": today.isoformat()}
    verdict = _judge(store, None, household_id, change, role, today)
    if not verdict.ok:
        raise _refuse(verdict)
    _check_visit(store, household_id, change)
    return store.create("procedure", change)


def _check_visit(store: Store, household_id: str, fields: dict[str, Any]) -> None:
    """A cited visit (``visit_id``) must be a counting visit of the same household."""
    if not fields.get("visit_id"):
        return
    rec = store.get("visit", str(fields["visit_id"]))
    visit = {**rec.fields, "deleted": rec.deleted} if rec is not None else None
    refusal = machine.visit_refusal(visit, household_id)
    if refusal is not None:
        raise _refuse(refusal)


def propose_from_visit(store: Store, visit_id: str, fields: dict[str, Any] | None = None, *,
                       role: str | None = None, today: dt.date | None = None) -> str:
    """发起纳入监测 from a visit (a risk found at the door): the visit's household, source
    干部排查 (unless ``fields`` says otherwise) and the visit linked (``visit_id``)."""
    rec = store.get("visit", visit_id)
    if rec is None or rec.deleted:
        raise StoreValidationError(ErrorCode.record_not_found, status_code=404)
    household_id = str(rec.fields.get("household_id") or "")
    return propose(store, household_id, ProcedureKind.entry.value,
                   {**from_visit_defaults(visit_id), **(fields or {})}, role=role, today=today)


def from_visit_defaults(visit_id: str) -> dict[str, Any]:
    """What a procedure started from a visit is pre-filled with."""
    return {"source": ProcedureSource.screening.value, "visit_id": visit_id}


def _procedure(store: Store, procedure_id: str) -> Record:
    rec = store.get("procedure", procedure_id)
    if rec is None or rec.deleted:
        raise StoreValidationError(ErrorCode.record_not_found, status_code=404)
    return rec


def move(store: Store, procedure_id: str, stage: str, fields: dict[str, Any] | None = None, *,
         role: str | None = None, today: dt.date | None = None) -> None:
    """Move a procedure to ``stage`` recording ``fields`` (入户核实: verifiers; 村级评议:
    review_note; 公示: notice_start/notice_end; 撤回: nothing)."""
    rec = _procedure(store, procedure_id)
    change = {**(fields or {}), "stage": stage}
    verdict = _judge(store, rec, str(rec.fields["household_id"]), change, role, today)
    if not verdict.ok:
        raise _refuse(verdict)
    _check_visit(store, str(rec.fields["household_id"]), change)
    store.update("procedure", procedure_id, change)


def edit(store: Store, procedure_id: str, fields: dict[str, Any], *, role: str | None = None,
         today: dt.date | None = None) -> None:
    """Change what a draft procedure proposes (category, risk types, ...), stage unchanged."""
    rec = _procedure(store, procedure_id)
    verdict = _judge(store, rec, str(rec.fields["household_id"]), fields, role, today)
    if not verdict.ok:
        raise _refuse(verdict)
    _check_visit(store, str(rec.fields["household_id"]), fields)
    store.update("procedure", procedure_id, fields)


def describe(rec: Record, staff: dict[str, str] | None = None,
             policy: machine.ProcedurePolicy | None = None,
             today: dt.date | None = None,
             visits: dict[str, str] | None = None) -> dict[str, Any]:
    """A procedure in plain words: what, at which stage, who moved it and when, why returned."""
    f = rec.fields
    kind = label(f.get("kind"), ProcedureKind)
    stage = label(f.get("stage"), ProcedureStage)
    who = (staff or {}).get(str(f.get("stage_by") or ""), "")
    when = fmt_time(f.get("stage_at"))[:10]  # the day in China, not the UTC date
    lines = [f"{kind}：{stage}" + (f"（{who} {when}）" if who or when else "")]
    if f.get("kind") == ProcedureKind.entry:
        lines.append(f"识别来源：{label(f.get('source'), ProcedureSource)}；"
                     f"监测对象类别：{label(f.get('category'), MonitoringCategory)}")
        risks = "、".join(label(r, RiskType) for r in f.get("risk_types") or [])
        lines.append(f"{FIELD_LABELS['risk_types']}：{risks or '未填写'}")
    else:
        lines.append(f"风险消除方式：{label(f.get('method'), RiskElimination)}")
    if f.get("visit_id"):
        lines.append("已关联走访记录" + (f"（{visit_day}）" if (visit_day := _visit_day(
            visits, f["visit_id"])) else ""))
    if f.get("verifiers"):
        lines.append(f"入户核实人员：{'、'.join(f['verifiers'])}")
    if f.get("review_note"):
        lines.append(f"村级评议结果：{f['review_note']}")
    if f.get("notice_start"):
        lines.append(f"公示期：{f['notice_start']} 至 {f.get('notice_end') or ''}")
    if f.get("objection"):
        settled = f.get("objection_resolution")
        lines.append(f"公示异议：{f['objection']}" + (f"（已处理：{settled}）" if settled
                                                    else "（待处理）"))
    if f.get("stage") == ProcedureStage.returned and f.get("return_reason"):
        lines.append(f"退回理由：{f['return_reason']}")
    if f.get("decision_note"):
        lines.append(f"审定意见：{f['decision_note']}")
    overdue = bool(policy and machine.is_overdue(f, policy, today or china_today()))
    if overdue:
        lines.append("已超过办理时限")
    return {"title": lines[0], "lines": lines, "overdue": overdue,
            "open": f.get("stage") in {s.value for s in machine.OPEN_STAGES}}


def _visit_day(visits: dict[str, str] | None, visit_id: Any) -> str:
    """The date of a linked visit (``visits``: id -> visited_at), as text; "" when unknown."""
    when = (visits or {}).get(str(visit_id))
    day = china_date(when) if when else None
    return day.isoformat() if day else ""
