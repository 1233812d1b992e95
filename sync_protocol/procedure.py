"""Monitoring procedures (纳入监测 / 风险消除) as one pure, role-gated state machine.

``judge`` decides whether a proposed change to a procedure record may be saved: the tablet calls
it before saving (offline, against its local copy) and the server at merge time (against its
current row), so both give the same verdict for the same input. ``derived_household_fields``
says what a county's approval writes onto the household, and ``household_facts`` builds the
facts the rules need from plain rows (JSON or Python values alike). No I/O, no clock: ``today``
(a China-time date) is always passed in.

Stages and who may move them (docs/protocol.md, "Monitoring procedures"):

    proposed → verified → reviewed → notice → township_approved → approved
    open stage → returned (clerk, county admin; a reason) → proposed (village roles)
    proposed / verified / reviewed / returned → withdrawn (village roles)
    township_approved → rejected (county admin; a decision note)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .enums import (
    HouseholdType,
    LaborAbility,
    MonitoringCategory,
    MonitoringStatus,
    ProcedureKind,
    ProcedureStage,
    Role,
    StatusEventKind,
)
from .errors import MESSAGES, ErrorCode
from .income import per_capita_by_year
from .input_rules import as_date
from .members import current_members
from .policy import ProcedurePolicy, china_today  # CountyRules.procedures: the county rules

S = ProcedureStage

VILLAGE_ROLES = frozenset({Role.village_cadre, Role.first_secretary, Role.village_secretary})
CLERK_ROLES = frozenset({Role.township_clerk})
COUNTY_ROLES = frozenset({Role.county_admin})
OFFICE_ROLES = CLERK_ROLES | COUNTY_ROLES

OPEN_STAGES = frozenset({S.proposed, S.verified, S.reviewed, S.notice, S.township_approved,
                         S.returned})
FINAL_STAGES = frozenset({S.approved, S.rejected, S.withdrawn})
# before the public notice: the village may still edit what it proposed, or withdraw
DRAFT_STAGES = frozenset({S.proposed, S.verified, S.reviewed, S.returned})

# (from, to) -> the roles that may make the move
TRANSITIONS: dict[tuple[ProcedureStage, ProcedureStage], frozenset[Role]] = {
    (S.proposed, S.verified): VILLAGE_ROLES,
    (S.verified, S.reviewed): VILLAGE_ROLES,
    (S.reviewed, S.notice): VILLAGE_ROLES,
    (S.notice, S.township_approved): CLERK_ROLES,
    (S.township_approved, S.approved): COUNTY_ROLES,
    (S.township_approved, S.rejected): COUNTY_ROLES,
    (S.returned, S.proposed): VILLAGE_ROLES,
    **{(s, S.returned): OFFICE_ROLES for s in OPEN_STAGES - {S.returned}},
    **{(s, S.withdrawn): VILLAGE_ROLES for s in DRAFT_STAGES},
}

# what a move itself records (allowed in the change that makes the move)
STAGE_FIELDS: dict[ProcedureStage, frozenset[str]] = {
    S.verified: frozenset({"verifiers", "verified_at", "visit_id"}),
    S.reviewed: frozenset({"review_note"}),
    S.notice: frozenset({"notice_start", "notice_end"}),
    S.returned: frozenset({"return_reason"}),
    S.approved: frozenset({"decision_note"}),
    S.rejected: frozenset({"decision_note"}),
}
# what the village may edit while the procedure is a draft
VILLAGE_EDITABLE = frozenset({"source", "category", "risk_types", "method", "proposed_on",
                              "verifiers", "verified_at", "visit_id", "review_note",
                              "notice_start", "notice_end"})
# what the township and county may record during the notice (公示异议 and how it was settled)
OFFICE_EDITABLE = frozenset({"objection", "objection_resolution"})
# stamped by the server on every stage change; never judged, never taken from a device
SERVER_STAMPED = frozenset({"stage_by", "stage_at"})
IMMUTABLE = frozenset({"household_id", "kind"})

# the household's monitoring fields: only an approved procedure (or an import) sets them
DERIVED_FIELDS = ("monitoring_status", "monitoring_category", "risk_types", "monitoring_since",
                  "eliminated_on", "elimination_method")
# the values a household may be created with (a new household is not monitored)
DERIVED_DEFAULTS: dict[str, Any] = {"monitoring_status": MonitoringStatus.none.value,
                                    "monitoring_category": MonitoringCategory.none.value,
                                    "risk_types": [], "monitoring_since": None,
                                    "eliminated_on": None, "elimination_method": None}

ABLE_TO_WORK = frozenset({LaborAbility.normal, LaborAbility.skilled, LaborAbility.weak})
MAX_RISK_TYPES = 3


@dataclass(frozen=True)
class OpenProcedure:
    id: str
    kind: str


@dataclass(frozen=True)
class HouseholdFacts:
    """What the rules need to know about the household of a procedure."""

    household_type: str | None = None
    monitoring_status: str | None = None
    monitoring_since: dt.date | None = None
    open_procedures: tuple[OpenProcedure, ...] = ()
    # labour ability of each current member (None when not recorded)
    labor_abilities: tuple[str | None, ...] = ()
    # per-capita net income (yuan) by year, for the years that have income recorded
    income_per_capita: Mapping[int, float] = field(default_factory=dict)

    @property
    def monitored(self) -> bool:
        return self.monitoring_status == MonitoringStatus.monitored

    @property
    def no_labor(self) -> bool:
        """No member is known to be able to work (普通/技能/弱劳动力)."""
        return not any(a in ABLE_TO_WORK for a in self.labor_abilities)


@dataclass(frozen=True)
class Verdict:
    """The answer of ``judge``: ``ok``, or the refusal's code, field and Chinese message."""

    ok: bool
    code: ErrorCode | None = None
    field: str | None = None
    message: str = ""
    from_stage: str | None = None
    to_stage: str | None = None

    @property
    def moves(self) -> bool:
        """The change moves the stage (the server then stamps ``stage_by``/``stage_at``)."""
        return self.ok and self.to_stage is not None and self.to_stage != self.from_stage

    @property
    def approves(self) -> bool:
        return self.moves and self.to_stage == S.approved

    def to_error(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": str(self.code), "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


def _refuse(code: ErrorCode, fld: str | None = None, message: str = "",
            from_stage: str | None = None, to_stage: str | None = None) -> Verdict:
    return Verdict(False, code, fld, message or MESSAGES[code], from_stage, to_stage)


# --- value helpers (JSON strings from the tablet, Python values from the database) ------------


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _names(value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        return []
    return list(dict.fromkeys(n for n in (_text(v) for v in value) if n))


def _stage(value: Any) -> ProcedureStage | None:
    try:
        return ProcedureStage(str(value)) if value is not None else None
    except ValueError:
        return None


def _same(a: Any, b: Any) -> bool:
    """Equal as they travel on the wire (a date and its ISO text are the same value)."""
    def norm(v: Any) -> Any:
        if isinstance(v, dt.date | dt.datetime):
            return v.isoformat()
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        return str(v) if v is not None and not isinstance(v, bool | int | float) else v
    return bool(norm(a) == norm(b))


def objection_open(procedure: Mapping[str, Any]) -> bool:
    """A 公示异议 is open while it is recorded and not yet settled."""
    return bool(_text(procedure.get("objection"))) and not _text(
        procedure.get("objection_resolution"))


def notice_over(procedure: Mapping[str, Any], today: dt.date) -> bool:
    """The notice has run its last day (``notice_end``) before ``today``."""
    end = as_date(procedure.get("notice_end"))
    return end is not None and today > end


def is_overdue(procedure: Mapping[str, Any], policy: ProcedurePolicy, today: dt.date) -> bool:
    """An open entry procedure past the county's deadline (flagged, never blocked)."""
    if procedure.get("kind") != ProcedureKind.entry or _stage(procedure.get("stage")) not in \
            OPEN_STAGES:
        return False
    start = as_date(procedure.get("proposed_on"))
    return start is not None and (today - start).days > policy.entry_deadline_days


def category_fits(category: Any, household_type: Any) -> bool:
    """脱贫不稳定户 needs a 脱贫户, 边缘易致贫户 a 一般农户; 突发严重困难户 either."""
    if category == MonitoringCategory.unstable:
        return household_type == HouseholdType.exited
    if category == MonitoringCategory.marginal:
        return household_type == HouseholdType.ordinary
    return True


# --- facts from rows ---------------------------------------------------------------------------


def per_capita_net_income(incomes: Iterable[Mapping[str, Any]],
                          people: int | Iterable[Mapping[str, Any]],
                          today: dt.date | None = None) -> dict[int, float]:
    """人均纯收入 by year (``sync_protocol.income``); none without members."""
    return per_capita_by_year(incomes, people, today or china_today())


def household_facts(household: Mapping[str, Any], members: Iterable[Mapping[str, Any]],
                    incomes: Iterable[Mapping[str, Any]],
                    procedures: Iterable[Mapping[str, Any]],
                    today: dt.date | None = None) -> HouseholdFacts:
    """The facts of one household from its rows (deleted rows are skipped; each procedure row
    needs ``id``, ``kind`` and ``stage``). Per-capita income divides each year by that year's
    members (``sync_protocol.income``)."""
    today = today or china_today()
    rows = list(members)
    current = current_members(rows, today)
    return HouseholdFacts(
        household_type=household.get("household_type"),
        monitoring_status=household.get("monitoring_status"),
        monitoring_since=as_date(household.get("monitoring_since")),
        open_procedures=tuple(
            OpenProcedure(str(p["id"]), str(p.get("kind")))
            for p in procedures
            if not p.get("deleted") and _stage(p.get("stage")) in OPEN_STAGES),
        labor_abilities=tuple(m.get("labor_ability") for m in current),
        income_per_capita=per_capita_by_year(incomes, rows, today),
    )


# --- the rules -----------------------------------------------------------------------------------


def elimination_refusal(facts: HouseholdFacts, policy: ProcedurePolicy,
                        today: dt.date) -> Verdict | None:
    """Why the household's risk cannot be marked eliminated today (None: it can)."""
    if not facts.monitored:
        return _refuse(ErrorCode.procedure_not_monitored)
    since = facts.monitoring_since
    if since is None or today < since + dt.timedelta(days=policy.min_monitored_days):
        earliest = (since + dt.timedelta(days=policy.min_monitored_days)) if since else None
        extra = f"（最早可于 {earliest.isoformat()} 之后）" if earliest else ""
        return _refuse(ErrorCode.procedure_too_early,
                       message=MESSAGES[ErrorCode.procedure_too_early] + extra)
    if facts.no_labor:
        return _refuse(ErrorCode.procedure_no_labor_household)
    year = today.year - 1  # the latest full year
    line = policy.monitoring_line(year)
    if line is None:
        return _refuse(ErrorCode.procedure_income_line_missing)
    income = facts.income_per_capita.get(year)
    if income is None:
        return _refuse(ErrorCode.procedure_income_missing)
    if income < line:
        return _refuse(ErrorCode.procedure_income_below_line,
                       message=MESSAGES[ErrorCode.procedure_income_below_line]
                       + f"（{year}年人均 {income:.0f} 元，标准 {line:.0f} 元）")
    return None


def _proposal_refusal(proc: Mapping[str, Any], facts: HouseholdFacts, policy: ProcedurePolicy,
                      today: dt.date, own_id: str | None) -> Verdict | None:
    """The conditions of (re)proposing: one open procedure of a kind, the household's
    monitoring state, the proposed category and its rule. (What else a proposal holds — source,
    risk types, method — may follow until the notice starts.)"""
    kind = proc.get("kind")
    if kind not in (ProcedureKind.entry, ProcedureKind.elimination):
        return _refuse(ErrorCode.validation_field_required, "kind")
    if any(o.kind == kind and o.id != own_id for o in facts.open_procedures):
        return _refuse(ErrorCode.procedure_already_open)
    if kind == ProcedureKind.entry:
        if facts.monitored:
            return _refuse(ErrorCode.procedure_already_monitored)
        if not proc.get("category"):
            return _refuse(ErrorCode.validation_field_required, "category")
        if proc.get("category") == MonitoringCategory.none:
            return _refuse(ErrorCode.validation_enum_invalid, "category")
        if not category_fits(proc.get("category"), facts.household_type):
            return _refuse(ErrorCode.procedure_category_mismatch, "category")
        return None
    return elimination_refusal(facts, policy, today)


def _content_refusal(proc: Mapping[str, Any]) -> Verdict | None:
    """What must be decided before the notice makes it public."""
    names = ("source", "category", "risk_types") if proc.get("kind") == ProcedureKind.entry \
        else ("method",)
    for name in names:
        if not proc.get(name):
            return _refuse(ErrorCode.validation_field_required, name)
    return None


def _condition_refusal(to: ProcedureStage, proc: Mapping[str, Any], facts: HouseholdFacts,
                       policy: ProcedurePolicy, today: dt.date) -> Verdict | None:
    """The condition of arriving at stage ``to`` (the procedure as it would be after)."""
    if to == S.proposed:
        return _proposal_refusal(proc, facts, policy, today, _text(proc.get("id")) or None)
    if to == S.verified and len(_names(proc.get("verifiers"))) < 2:
        return _refuse(ErrorCode.procedure_verifiers_missing, "verifiers")
    if to == S.reviewed and not _text(proc.get("review_note")):
        return _refuse(ErrorCode.procedure_review_note_missing, "review_note")
    if to == S.notice:
        missing = _content_refusal(proc)
        if missing is not None:
            return missing
        start, end = as_date(proc.get("notice_start")), as_date(proc.get("notice_end"))
        if start is None:
            return _refuse(ErrorCode.validation_field_required, "notice_start")
        if end is None or end < start + dt.timedelta(days=policy.notice_days):
            return _refuse(ErrorCode.procedure_notice_too_short, "notice_end",
                           MESSAGES[ErrorCode.procedure_notice_too_short]
                           + f"（{policy.notice_days}天）")
    if to == S.township_approved:
        if not notice_over(proc, today):
            return _refuse(ErrorCode.procedure_notice_not_over)
        if objection_open(proc):
            return _refuse(ErrorCode.procedure_objection_open, "objection")
    if to in (S.approved, S.rejected) and not _text(proc.get("decision_note")):
        return _refuse(ErrorCode.procedure_decision_note_missing, "decision_note")
    if to == S.returned and not _text(proc.get("return_reason")):
        return _refuse(ErrorCode.procedure_reason_missing, "return_reason")
    if to in (S.township_approved, S.approved):
        if objection_open(proc):
            return _refuse(ErrorCode.procedure_objection_open, "objection")
        if proc.get("kind") == ProcedureKind.elimination:
            return elimination_refusal(facts, policy, today)
        if facts.monitored:
            return _refuse(ErrorCode.procedure_already_monitored)
        if not category_fits(proc.get("category"), facts.household_type):
            return _refuse(ErrorCode.procedure_category_mismatch, "category")
    return None


def _field_allowed(name: str, role: Role | None, current: ProcedureStage,
                   to: ProcedureStage) -> bool:
    if to != current and name in STAGE_FIELDS.get(to, frozenset()):
        return True  # the move itself records it (its roles were checked)
    if role in VILLAGE_ROLES and current in DRAFT_STAGES and name in VILLAGE_EDITABLE:
        return True
    return role in OFFICE_ROLES and current == S.notice and name in OFFICE_EDITABLE


def _role(value: Any) -> Role | None:
    try:
        return Role(str(value))
    except ValueError:
        return None


def judge(current: Mapping[str, Any] | None, change: Mapping[str, Any], actor_role: str,
          facts: HouseholdFacts, policy: ProcedurePolicy, today: dt.date, *,
          record_id: str | None = None, deleting: bool = False) -> Verdict:
    """May ``actor_role`` apply ``change`` (the fields sent) to the procedure ``current`` (None:
    the change creates it)? ``facts`` describe its household (its open procedures may include
    this one: ``record_id`` tells which), ``today`` is China's date."""
    role = _role(actor_role)
    if deleting:
        return _refuse(ErrorCode.procedure_delete_forbidden)
    sent = {k: v for k, v in change.items() if k not in SERVER_STAMPED}
    if current is None:
        stage = _stage(sent.get("stage", S.proposed))
        if stage != S.proposed:
            return _refuse(ErrorCode.procedure_transition_invalid, "stage", to_stage=str(stage))
        if role not in VILLAGE_ROLES:
            return _refuse(ErrorCode.procedure_role_forbidden, "stage", to_stage=S.proposed)
        proc = {**sent, "stage": S.proposed.value}
        refusal = _proposal_refusal(proc, facts, policy, today, record_id)
        return refusal or Verdict(True, from_stage=None, to_stage=S.proposed)

    now = _stage(current.get("stage"))
    if now is None:
        return _refuse(ErrorCode.procedure_transition_invalid, "stage")
    changed = {k: v for k, v in sent.items() if not _same(current.get(k), v)}
    to = _stage(changed.get("stage", now))
    if to is None:
        return _refuse(ErrorCode.validation_enum_invalid, "stage")
    if not changed:
        return Verdict(True, from_stage=now, to_stage=now)
    if now in FINAL_STAGES:
        return _refuse(ErrorCode.procedure_closed, from_stage=now, to_stage=to)
    for name in IMMUTABLE:
        if name in changed:
            return _refuse(ErrorCode.validation_field_readonly, name, from_stage=now, to_stage=to)
    if to != now:
        roles = TRANSITIONS.get((now, to))
        if roles is None:
            return _refuse(ErrorCode.procedure_transition_invalid, "stage", from_stage=now,
                           to_stage=to)
        if role not in roles:
            return _refuse(ErrorCode.procedure_role_forbidden, "stage", from_stage=now,
                           to_stage=to)
    for name in changed:
        if name != "stage" and not _field_allowed(name, role, now, to):
            if role not in VILLAGE_ROLES | OFFICE_ROLES:
                return _refuse(ErrorCode.procedure_role_forbidden, name, from_stage=now,
                               to_stage=to)
            return _refuse(ErrorCode.procedure_field_locked, name, from_stage=now, to_stage=to)
    after = {**current, **changed, "id": record_id}
    if to != now:
        refusal = _condition_refusal(to, after, facts, policy, today)
    elif now in DRAFT_STAGES and now != S.returned:
        # an edit of a draft must keep the conditions of the stage it is at
        refusal = _edit_refusal(now, after, facts, policy, today)
    else:
        refusal = None
    if refusal is not None:
        return Verdict(False, refusal.code, refusal.field, refusal.message, now, to)
    return Verdict(True, from_stage=now, to_stage=to)


def _edit_refusal(stage: ProcedureStage, proc: Mapping[str, Any], facts: HouseholdFacts,
                  policy: ProcedurePolicy, today: dt.date) -> Verdict | None:
    order = [S.verified, S.reviewed]
    for reached in order[: {S.proposed: 0, S.verified: 1, S.reviewed: 2}[stage]]:
        refusal = _condition_refusal(reached, proc, facts, policy, today)
        if refusal is not None:
            return refusal
    if proc.get("kind") == ProcedureKind.entry and not category_fits(
            proc.get("category"), facts.household_type):
        return _refuse(ErrorCode.procedure_category_mismatch, "category")
    return None


def visit_refusal(visit: Mapping[str, Any] | None, household_id: str) -> Verdict | None:
    """A procedure may cite (``visit_id``) only a visit of its own household that still counts
    (not deleted, not withdrawn): 发起纳入监测 from a visit, 入户核实 with a visit."""
    if visit is None or visit.get("deleted") or visit.get("withdrawn") or \
            str(visit.get("household_id") or "") != str(household_id):
        return _refuse(ErrorCode.procedure_visit_invalid, "visit_id")
    return None


# --- what approval writes --------------------------------------------------------------------


@dataclass(frozen=True)
class Derived:
    """What an approved procedure writes: household fields and the status event."""

    household: dict[str, Any]
    event_kind: str
    event_note: str


def derived_household_fields(procedure: Mapping[str, Any], today: dt.date) -> Derived:
    """The household's derived fields and the status event of an approved ``procedure`` (dates
    as ISO text, lists as lists: JSON values, as on the wire)."""
    day = today.isoformat()
    if procedure.get("kind") == ProcedureKind.entry:
        risks = [str(r) for r in (procedure.get("risk_types") or [])][:MAX_RISK_TYPES]
        return Derived(
            {"monitoring_status": MonitoringStatus.monitored.value,
             "monitoring_category": str(procedure.get("category")),
             "risk_types": risks, "monitoring_since": day, "eliminated_on": None,
             "elimination_method": None},
            StatusEventKind.monitoring_started.value,
            _text(procedure.get("decision_note")) or "县级确认纳入监测",
        )
    return Derived(
        {"monitoring_status": MonitoringStatus.eliminated.value, "eliminated_on": day,
         "elimination_method": str(procedure.get("method"))},
        StatusEventKind.risk_eliminated.value,
        _text(procedure.get("decision_note")) or "县级确认风险消除",
    )


def derived_field_refusal(current: Mapping[str, Any] | None, change: Mapping[str, Any]
                          ) -> Verdict | None:
    """A device's household change that sets a monitoring field (other than to the
    not-monitored default on creation) is refused with ``procedure.field_derived``."""
    for name in DERIVED_FIELDS:
        if name not in change:
            continue
        value = change[name]
        if current is None:
            default = DERIVED_DEFAULTS[name]
            if value in (None, [], "") or _same(value, default):
                continue
        elif _same(current.get(name), value) or (
                value in (None, []) and current.get(name) in (None, [])):
            continue
        return _refuse(ErrorCode.procedure_field_derived, name)
    return None
