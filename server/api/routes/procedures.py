"""Monitoring procedures for the office (township clerk, county admin) and the county policy.

A stage move made here is a change like a device's, through the same push path
(``operations.apply``, origin ``api``): judged by the same state machine against the current row,
stamped, written with versions and change log — never a side door. ``GET/PUT /api/v1/policy``
is the county admin's (others 403); its ``checklist_template`` is a built-in template or one of
the county's own (``server.checklist_templates.check_choice``).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from server import checklist_templates
from server.api.deps import CurrentUser, SessionDep, require_roles
from server.audit import audit
from server.db.tables import CountyPolicy, utcnow
from server.reference import county_policy, county_rules, policy_dict
from server.scope import Principal
from server.sync import operations
from server.sync.operations import Origin, ServerChange
from server.sync.procedures import china_today
from server.sync.values import FIELDS, TABLES, jsonable
from sync_protocol import procedure as machine
from sync_protocol.enums import ProcedureKind, ProcedureStage, Role
from sync_protocol.errors import ErrorCode, RuhuError

router = APIRouter(tags=["procedures"])
CountyAdmin = Annotated[Principal, Depends(require_roles(Role.county_admin))]


class TransitionRequest(BaseModel):
    """A stage move (``stage``) and what it records (``fields``: e.g. ``decision_note``,
    ``return_reason``); without ``stage``, an edit such as recording an objection."""

    model_config = ConfigDict(extra="forbid")
    stage: ProcedureStage | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


def _status(code: str) -> int:
    if code in (ErrorCode.procedure_role_forbidden, ErrorCode.auth_forbidden):
        return 403
    if code in (ErrorCode.record_not_found, ErrorCode.scope_out_of_scope):
        return 404
    if code.startswith("validation."):
        return 422
    return 409


def _row(session: SessionDep, user: Principal, procedure_id: uuid.UUID) -> dict[str, Any]:
    t = TABLES["procedure"]
    row = session.execute(sa.select(t).where(t.c.id == procedure_id, ~t.c.deleted)
                          ).mappings().first()
    if row is None or not user.covers(row["village_code"]):
        raise RuhuError(ErrorCode.record_not_found, status_code=404)
    return dict(row)


def procedure_json(row: dict[str, Any], policy: machine.ProcedurePolicy | None = None
                   ) -> dict[str, Any]:
    out = {"id": str(row["id"]), "version": row["version"],
           "village_code": row["village_code"],
           **{f: jsonable(row.get(f)) for f in FIELDS["procedure"]}}
    if policy is not None:
        out["overdue"] = machine.is_overdue(out, policy, china_today())
    return out


@router.get("/api/v1/procedures")
def list_procedures(
    session: SessionDep, user: CurrentUser,
    stage: Annotated[ProcedureStage | None, Query()] = None,
    kind: Annotated[ProcedureKind | None, Query()] = None,
    village: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
    household_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Procedures in the user's scope (newest first, at most 500), each with ``overdue``."""
    t = TABLES["procedure"]
    stmt = sa.select(t).where(~t.c.deleted, user.scope_clause(t.c.village_code))
    if stage is not None:
        stmt = stmt.where(t.c.stage == stage.value)
    if kind is not None:
        stmt = stmt.where(t.c.kind == kind.value)
    if village is not None:
        stmt = stmt.where(t.c.village_code == village)
    if household_id is not None:
        stmt = stmt.where(t.c.household_id == household_id)
    rows = session.execute(stmt.order_by(t.c.created_at.desc(), t.c.id).limit(500)
                           ).mappings().all()
    policies: dict[str, machine.ProcedurePolicy] = {}
    items = []
    for row in rows:
        county = row["village_code"][:6]
        if county not in policies:
            policies[county] = county_rules(session, county).procedures
        items.append(procedure_json(dict(row), policies[county]))
    return {"items": items, "total": len(items)}


@router.get("/api/v1/procedures/{procedure_id}")
def get_procedure(session: SessionDep, user: CurrentUser,
                  procedure_id: uuid.UUID) -> dict[str, Any]:
    return procedure_json(_row(session, user, procedure_id))


def transition_procedure(session: SessionDep, user: Principal, procedure_id: uuid.UUID,
                         req: TransitionRequest) -> dict[str, Any]:
    """Move (or edit) a procedure as ``user``: the console's path too."""
    row = _row(session, user, procedure_id)
    fields = dict(req.fields)
    if req.stage is not None:
        fields["stage"] = req.stage.value
    [result] = operations.apply(session, user, [ServerChange(
        "procedure", procedure_id, fields, base_version=row["version"])], Origin.API)
    if result.error is not None:
        code = result.error.code or ErrorCode.procedure_transition_invalid
        extra = {"field": result.error.field} if result.error.field else {}
        raise RuhuError(ErrorCode(code), result.error.message,
                        status_code=_status(code), extra=extra)
    return {"result": result.to_wire(),
            "procedure": procedure_json(_row(session, user, procedure_id))}


@router.post("/api/v1/procedures/{procedure_id}/transition")
def transition(session: SessionDep, user: CurrentUser, procedure_id: uuid.UUID,
               req: TransitionRequest) -> dict[str, Any]:
    return transition_procedure(session, user, procedure_id, req)


class PolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    visit_interval_days: Annotated[int, Field(ge=1, le=366)] | None = None
    monitored_visit_interval_days: Annotated[int, Field(ge=1, le=366)] | None = None
    stale_after_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    notice_days: Annotated[int, Field(ge=1, le=60)] | None = None
    entry_deadline_days: Annotated[int, Field(ge=1, le=365)] | None = None
    min_monitored_days: Annotated[int, Field(ge=0, le=3650)] | None = None
    # the county's monitoring income line by year (yuan per person): {"2026": 7900}
    monitoring_lines: dict[Annotated[str, Field(pattern=r"^(19|20)\d\d$")],
                           Annotated[float, Field(ge=0, le=1_000_000)]] | None = None
    # 应纳未纳 收入骤减: a fall of 人均纯收入 by more than this share (0.3 = 30 %)
    income_drop_share: Annotated[float, Field(gt=0, lt=1)] | None = None
    # the 五清 template: a built-in one or one of the county's own (server.checklist_templates)
    checklist_template: Annotated[str, Field(min_length=1, max_length=100)] | None = None


def _county(user: Principal, county: str | None) -> str:
    codes = user.county_codes
    if county is None:
        return codes[0]
    if county not in codes:
        raise RuhuError(ErrorCode.record_not_found, status_code=404)
    return county


@router.get("/api/v1/policy")
def get_policy(session: SessionDep, user: CountyAdmin,
               county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None
               ) -> dict[str, Any]:
    return policy_dict(session, county_policy(session, _county(user, county)))


@router.put("/api/v1/policy")
def put_policy(session: SessionDep, user: CountyAdmin, req: PolicyUpdate,
               county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None
               ) -> dict[str, Any]:
    code = _county(user, county)
    detail: dict[str, Any] = {"county_code": code}
    if req.checklist_template is not None:  # checked before anything is changed
        checklist_templates.check_choice(session, code, req.checklist_template)
        detail["previous"] = {"checklist_template": checklist_templates.in_use(session, code)}
    row = session.get(CountyPolicy, code)
    if row is None:
        row = CountyPolicy(county_code=code)
        session.add(row)
    changes = req.model_dump(exclude_none=True)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    audit(session, user.user_id, "policy.update", {**detail, "changes": changes})
    return policy_dict(session, row)
