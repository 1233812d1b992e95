"""The 五清 checklist: the hints computed from the data (templates: ``templates``).

Hints are advice shown beside the manual verdict of a cadre or secretary; they never overwrite it.
Everything here works on plain JSON-like dicts (wire field names plus ``id``), so the tablet and the
server compute the same hints from the same records.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .entities import FIELD_LABELS
from .errors import ErrorCode
from .members import current_members, health_codes
from .policy import HintPolicy, china_today, is_monitored, missing_fields
from .policy import china_date as _date
from .templates import (
    COMPUTED_HINTS,
    DEFAULT_TEMPLATE_CODE,
    TEMPLATES,
    WUQING_V1,
    ChecklistTemplateDef,
)
from .validation import check_id_number
from .visits import counts as visit_counts

# --- inputs and outputs ---------------------------------------------------------------------------


# Which ``HouseholdBundle`` list holds each child entity (server and console load bundles by it).
BUNDLE_FIELDS: dict[str, str] = {
    "member": "members",
    "income_item": "incomes",
    "measure": "measures",
    "helper_assignment": "helpers",
    "visit": "visits",
    "status_event": "status_events",
    "checklist_item": "checklist",
}


@dataclass
class HouseholdBundle:
    """One household and its child records, as JSON-like dicts (wire field names plus ``id``).

    Records with ``deleted`` set are ignored.
    """

    household: dict[str, Any]
    members: list[dict[str, Any]] = field(default_factory=list)
    incomes: list[dict[str, Any]] = field(default_factory=list)
    measures: list[dict[str, Any]] = field(default_factory=list)
    helpers: list[dict[str, Any]] = field(default_factory=list)
    visits: list[dict[str, Any]] = field(default_factory=list)
    status_events: list[dict[str, Any]] = field(default_factory=list)
    checklist: list[dict[str, Any]] = field(default_factory=list)
    # names of the users the records refer to (visitor ids), when the face knows them
    user_names: dict[str, str] = field(default_factory=dict)


@dataclass
class Hint:
    item_code: str
    ok: bool | None  # None: manual only (e.g. 村书记心里清)
    messages: list[str] = field(default_factory=list)
    # what the system cannot check for this item (always shown, also when ``ok``)
    cannot_check: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"item_code": self.item_code, "ok": self.ok, "messages": list(self.messages),
                "cannot_check": list(self.cannot_check)}


# --- helpers --------------------------------------------------------------------------------------


def _alive(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r.get("deleted")]


def _datetime(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        result = value
    elif isinstance(value, dt.date):
        result = dt.datetime.combine(value, dt.time())
    else:
        try:
            result = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return result if result.tzinfo else result.replace(tzinfo=dt.UTC)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


_POOR_STATUSES = {"new", "not_exited", "pre_exit", "exited", "returned"}


def _needs_support(household: dict[str, Any]) -> bool:
    """A registered or monitored household: one that must have causes, measures and a helper."""
    return is_monitored(household) or household.get("poverty_status") in _POOR_STATUSES


# --- 底子清 ---------------------------------------------------------------------------------------

_SECURITY_FLAGS = {
    name: FIELD_LABELS[name]
    for name in ("food_secure", "clothing_secure", "education_secure", "medical_secure",
                 "housing_secure", "water_secure")
}
_ID_PROBLEMS = {
    ErrorCode.validation_id_number_invalid: "身份证号格式不正确",
    ErrorCode.validation_id_number_checksum: "身份证号校验位错误",
    ErrorCode.validation_id_number_birth_date: "身份证号出生日期无效",
    ErrorCode.validation_id_number_region: "身份证号地区代码无效",
}


BASE_FILE_CANNOT_CHECK = "系统无法核对纸质明白卡（帮扶手册）与系统信息是否一致，需人工核对"


def _base_file(b: HouseholdBundle, policy: HintPolicy) -> Hint:
    h = b.household
    msgs: list[str] = []
    if not _alive(b.members) and not _alive(b.incomes) and all(
            h.get(name) is None for name in _SECURITY_FLAGS):
        msgs.append("档案几乎为空（没有家庭成员、收入和两不愁三保障信息），无法判断底子清")
    missing = [FIELD_LABELS[name] for name in missing_fields("household", h)]
    if missing:
        msgs.append("未填写：" + "、".join(missing))
    members = _alive(b.members)
    if not members:
        msgs.append("未登记家庭成员")
    for m in members:
        name = m.get("name") or "（未填姓名）"
        number = m.get("id_number")
        if not number:
            msgs.append(f"成员{name}未填写身份证号")
            continue
        errors = [e for e in check_id_number(str(number)) if not e.warning]
        if errors:
            msgs.append(f"成员{name}{_ID_PROBLEMS.get(errors[0].code, '身份证号不正确')}")
    counts = Counter(str(m.get("id_number")).upper() for m in members if m.get("id_number"))
    for number, count in counts.items():
        if count > 1:
            names = "、".join(
                str(m.get("name") or "") for m in members
                if str(m.get("id_number")).upper() == number
            )
            msgs.append(f"成员{names}身份证号重复")
    head_id = h.get("head_id_number")
    if head_id and members and all(
        str(m.get("id_number") or "").upper() != str(head_id).upper() for m in members
    ):
        msgs.append("户主身份证号与家庭成员信息不一致")
    year = policy.today.year
    if not any(_int(i.get("year")) == year for i in _alive(b.incomes)):
        msgs.append(f"未登记{year}年收入")
    unanswered = [label for name, label in _SECURITY_FLAGS.items() if h.get(name) is None]
    if unanswered:
        msgs.append("两不愁三保障未填写：" + "、".join(unanswered))
    if _needs_support(h) and not h.get("causes"):
        msgs.append("未填写致贫/返贫原因")
    return Hint("base_file", not msgs, msgs, [BASE_FILE_CANNOT_CHECK])


# --- 措施清 ---------------------------------------------------------------------------------------

# Which measure categories answer which cause (domain.md: illness→health, schooling→education, ...).
CAUSE_MEASURES: dict[str, frozenset[str]] = {
    "illness": frozenset({"health", "social_security"}),
    "disability": frozenset({"health", "social_security", "public_job"}),
    "schooling": frozenset({"compulsory_education", "other_education"}),
    "disaster": frozenset({"housing", "social_aid", "social_security", "industry",
                           "living_conditions", "temporary_aid"}),
    "marriage": frozenset({"social_security", "social_aid", "industry", "employment"}),
    "no_land": frozenset({"industry", "employment", "relocation"}),
    "no_water": frozenset({"water", "infrastructure", "living_conditions"}),
    "no_skills": frozenset({"employment", "other_education", "skills_training"}),
    "no_labor": frozenset({"social_security", "public_job", "asset_income"}),
    "no_capital": frozenset({"finance", "industry", "asset_income"}),
    "poor_transport": frozenset({"infrastructure", "living_conditions", "relocation"}),
    "low_motivation": frozenset({"employment", "industry", "public_job", "other_education",
                                 "skills_training"}),
    "funeral": frozenset({"social_security", "social_aid", "temporary_aid"}),
    "accident": frozenset({"health", "social_security", "social_aid", "temporary_aid"}),
    "business_failure": frozenset({"industry", "finance", "employment", "consumption"}),
    "unstable_job": frozenset({"employment", "public_job", "skills_training"}),
}
_CAUSE_LABELS = {
    "illness": "因病", "disability": "因残", "schooling": "因学", "disaster": "因灾",
    "marriage": "因婚", "no_land": "缺土地", "no_water": "缺水", "no_skills": "缺技术",
    "no_labor": "缺劳动力", "no_capital": "缺资金", "poor_transport": "交通条件落后",
    "low_motivation": "自身发展动力不足", "funeral": "因丧", "accident": "因意外事故",
    "business_failure": "因产业项目失败", "unstable_job": "因务工就业不稳", "other": "其他",
}
_COMPULSORY_SCHOOLING = {"primary", "junior"}


def _measures(b: HouseholdBundle, policy: HintPolicy) -> Hint:
    h = b.household
    msgs: list[str] = []
    measures = _alive(b.measures)
    categories = {m.get("category") for m in measures}
    causes = [c for c in (h.get("causes") or []) if isinstance(c, str)]
    for cause in causes:
        wanted = CAUSE_MEASURES.get(cause)
        if wanted is None:  # "other": any measure will do
            if not measures:
                msgs.append(f"致贫原因“{_CAUSE_LABELS.get(cause, cause)}”没有对应的帮扶措施")
        elif not categories & wanted:
            msgs.append(f"致贫原因“{_CAUSE_LABELS.get(cause, cause)}”没有对应的帮扶措施")
    if _needs_support(h) and not measures:
        msgs.append("未登记任何帮扶措施")
    if h.get("housing_grade") in ("C", "D") and not categories & {"housing", "relocation"}:
        msgs.append("危房（C/D级）没有住房安全保障措施")
    if h.get("drinking_water_safe") is False and not categories & {"water", "infrastructure"}:
        msgs.append("饮水不安全，没有饮水安全保障措施")
    for m in current_members(_alive(b.members), policy.today):  # 增减员: who left needs none
        name = m.get("name") or "（未填姓名）"
        mine = {x.get("category") for x in measures if x.get("member_id") in (None, m.get("id"))}
        health = health_codes(m)
        if {"serious_illness", "disabled"} & set(health) and not mine & {
            "health", "social_security"
        }:
            need = "大病" if "serious_illness" in health else "残疾"
            msgs.append(f"成员{name}（{need}）没有健康帮扶或综合保障措施")
        if m.get("schooling") == "dropped_out":
            msgs.append(f"成员{name}辍学，需落实控辍保学")
        elif m.get("schooling") in _COMPULSORY_SCHOOLING and "schooling" in causes and not (
            mine & {"compulsory_education", "other_education"}
        ):
            msgs.append(f"成员{name}在读义务教育，没有教育保障措施")
    return Hint("measures", not msgs, list(dict.fromkeys(msgs)))


# --- 帮扶责任清 -----------------------------------------------------------------------------------


def current_helpers(b: HouseholdBundle, today: dt.date) -> list[dict[str, Any]]:
    """The helper assignments active on ``today`` (started, not ended)."""
    active = []
    for a in _alive(b.helpers):
        start, end = _date(a.get("start_date")), _date(a.get("end_date"))
        if (start is None or start <= today) and (end is None or end >= today):
            active.append(a)
    return active


# what separates the names of several co-visitors ("张三、李四"); the reports' SQL uses the same
NAME_SEPARATORS = r"[、，,；;/\s]+"
_NAME_SEPARATORS = re.compile(NAME_SEPARATORS)


def visit_by_helper(visit: Mapping[str, Any], helpers: list[dict[str, Any]],
                    user_names: Mapping[str, str] | None = None) -> bool:
    """The visit was made by one of ``helpers`` (the visitor is the helper's user, or has the
    helper's name) or with one of them as co-visitor (named in ``co_visitor``)."""
    visitor = str(visit.get("visitor_id") or "")
    visitor_name = (user_names or {}).get(visitor, "").strip()
    co_names = {n for n in _NAME_SEPARATORS.split(str(visit.get("co_visitor") or "")) if n}
    for a in helpers:
        user_id = str(a.get("helper_user_id") or "")
        name = str(a.get("helper_name") or "").strip()
        if user_id and visitor == user_id:
            return True
        if name and (name == visitor_name or name in co_names):
            return True
    return False


def _helper_duty(b: HouseholdBundle, policy: HintPolicy) -> Hint:
    msgs: list[str] = []
    today = policy.today
    active = current_helpers(b, today)
    if not active:
        msgs.append("没有在岗的帮扶责任人")
    else:
        for a in active:
            if not a.get("helper_phone"):
                msgs.append(f"帮扶责任人{a.get('helper_name') or ''}未填写联系电话")
            if not a.get("helper_unit"):
                msgs.append(f"帮扶责任人{a.get('helper_name') or ''}未填写工作单位")
    all_visits = [v for v in _alive(b.visits) if visit_counts(v)]
    mine = [v for v in all_visits if visit_by_helper(v, active, b.user_names)]
    visits = [d for d in (_date(v.get("visited_at")) for v in mine) if d]
    last = max((d for d in visits if d <= today), default=None)
    if last is None and all_visits and active:
        msgs.append("走访记录均不是现任帮扶责任人走访或同行，不计入帮扶责任清")
    elif last is None:
        msgs.append("没有走访记录")
    elif (today - last).days > policy.visit_interval_days:
        msgs.append(
            f"最近一次走访在{last:%Y-%m-%d}，已超过{policy.visit_interval_days}天未走访"
        )
    return Hint("helper_duty", not msgs, msgs)


# --- 脱贫轨迹清 -----------------------------------------------------------------------------------

def _trajectory(b: HouseholdBundle, policy: HintPolicy) -> Hint:
    h = b.household
    msgs: list[str] = []
    events = sorted(
        (e for e in _alive(b.status_events) if _date(e.get("date"))),
        key=lambda e: (_date(e.get("date")), str(e.get("kind"))),
    )
    registered = h.get("poverty_status") in _POOR_STATUSES | {"cancelled"}
    kinds = [e.get("kind") for e in events]
    if registered and "identified" not in kinds:
        msgs.append("缺少识别记录")
    pre_exit_seen = exited_seen = monitoring = False
    for e in events:
        kind, day = e.get("kind"), _date(e.get("date"))
        if day and day > policy.today:
            msgs.append(f"{day:%Y-%m-%d}的轨迹记录日期晚于今天")
        if kind == "pre_exit":
            pre_exit_seen = True
        elif kind == "exited":
            if not pre_exit_seen:
                msgs.append(f"{day:%Y-%m-%d}脱贫前没有预脱贫记录")
            exited_seen, pre_exit_seen = True, False
        elif kind == "returned":
            if not exited_seen:
                msgs.append(f"{day:%Y-%m-%d}返贫前没有脱贫记录")
            exited_seen = False
        elif kind == "monitoring_started":
            monitoring = True
        elif kind == "risk_eliminated":
            if not monitoring:
                msgs.append(f"{day:%Y-%m-%d}风险消除前没有纳入监测记录")
            monitoring = False
        elif kind == "identified":
            pre_exit_seen = exited_seen = False
    status = h.get("poverty_status")
    if status == "exited" and "exited" not in kinds:
        msgs.append("历史贫困状态为已脱贫，但没有脱贫记录")
    if status == "exited" and not h.get("exit_year"):
        msgs.append("未填写脱贫年度")
    if is_monitored(h) and "monitoring_started" not in kinds:
        msgs.append("监测对象没有纳入监测记录")
    start = _int(h.get("identified_year"))
    if start is None:
        first = next((e for e in events if e.get("kind") in ("identified", "monitoring_started")),
                     None)
        start = _date(first.get("date")).year if first else None  # type: ignore[union-attr]
    if start is not None and start <= policy.today.year:
        years = {_int(i.get("year")) for i in _alive(b.incomes)}
        gaps = [y for y in range(start, policy.today.year + 1) if y not in years]
        if gaps:
            shown = "、".join(str(y) for y in gaps[:6]) + ("等" if len(gaps) > 6 else "")
            msgs.append(f"缺少{shown}年收入记录")
    return Hint("trajectory", not msgs, msgs)


_HINTS = {
    "base_file": _base_file,
    "measures": _measures,
    "helper_duty": _helper_duty,
    "trajectory": _trajectory,
}
assert set(_HINTS) == set(COMPUTED_HINTS), "a county template names the hints computed here"


def compute_hints(bundle: HouseholdBundle, policy: HintPolicy,
                  template: ChecklistTemplateDef | None = None) -> dict[str, Hint]:
    """A hint per item of ``template`` (default: the policy's built-in one; a county's own
    template must be passed), keyed by the item's code; an item shows the hint its ``hint``
    names (``ok=None`` for items checked by hand only)."""
    template = template or TEMPLATES.get(policy.template_code, WUQING_V1)
    out: dict[str, Hint] = {}
    for item in template.items:
        fn = _HINTS.get(item.hint_code)
        if fn is None or item.manual_only:
            out[item.code] = Hint(item.code, None, ["此项需人工核查确认"])
        else:
            hint = fn(bundle, policy)
            hint.item_code = item.code
            out[item.code] = hint
    return out


def checklist_item_error(recordable: Mapping[str, ChecklistTemplateDef],
                         fields: Mapping[str, Any]) -> tuple[ErrorCode, str] | None:
    """Why a new checklist item may not be recorded (the code and the field), or None: its
    ``template_code`` is one the county may record against (``recordable``: those templates by
    code, ``templates.recordable_templates``: its current one, its own earlier or retired
    versions, the built-in ones it used before) and its ``item_code`` one of THAT template's
    items. Push, server-side operations and the tablet's save all ask this."""
    template = recordable.get(str(fields.get("template_code") or ""))
    if template is None:
        return ErrorCode.validation_template_unknown, "template_code"
    if fields.get("item_code") not in template.item_codes:
        return ErrorCode.validation_item_unknown, "item_code"
    return None


def manual_verdicts(bundle: HouseholdBundle, template_code: str) -> dict[str, dict[str, Any]]:
    """The latest manual response per item code of one template (by ``checked_at``)."""
    latest: dict[str, dict[str, Any]] = {}
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)
    for row in _alive(bundle.checklist):
        if row.get("template_code") != template_code:
            continue
        code = str(row.get("item_code"))
        current = latest.get(code)
        when = _datetime(row.get("checked_at")) or floor
        if current is None or when >= (_datetime(current.get("checked_at")) or floor):
            latest[code] = row
    return latest


# --- the two figures: 已核查 and 全部为清 --------------------------------------------------------

# who judges an item the template marks ``secretary_only`` (村书记心里清 in wuqing.v1)
SECRETARY_ROLES = frozenset({"village_secretary", "first_secretary"})
SECRETARY_NOTE = "仅村党支部书记或驻村第一书记可确认"
# beside the disabled verdict buttons of that item, for a user who may not set it (``judge_hint``)
SECRETARY_ONLY_HINT = "此项由村党支部书记或驻村第一书记确认，您可填写备注和佐证照片"


def verdict_map(bundle: HouseholdBundle, template: ChecklistTemplateDef) -> dict[str, str]:
    """The latest manual verdict per item code of ``template``."""
    return {code: str(row.get("verdict") or "unchecked")
            for code, row in manual_verdicts(bundle, template.code).items()}


# The verdicts that count for each figure (the read API's SQL filters use these same sets).
CHECKED_VERDICTS = ("clear", "unclear")
CLEAR_VERDICTS = ("clear",)


def verdicts_checked(verdicts: Mapping[str, Any], item_codes: Iterable[str]) -> bool:
    """已核查: every item has the verdict ``clear`` or ``unclear``."""
    return all(verdicts.get(code) in CHECKED_VERDICTS for code in item_codes)


def verdicts_all_clear(verdicts: Mapping[str, Any], item_codes: Iterable[str]) -> bool:
    """全部为清: every item has the verdict ``clear``."""
    return all(verdicts.get(code) in CLEAR_VERDICTS for code in item_codes)


def is_checked(bundle: HouseholdBundle, template: ChecklistTemplateDef = WUQING_V1) -> bool:
    """五清已核查: every item of ``template`` has a manual verdict ``clear`` or ``unclear``."""
    return verdicts_checked(verdict_map(bundle, template), template.item_codes)


def is_all_clear(bundle: HouseholdBundle, template: ChecklistTemplateDef = WUQING_V1) -> bool:
    """全部为清: every item of ``template`` has the manual verdict ``clear``."""
    return verdicts_all_clear(verdict_map(bundle, template), template.item_codes)


def hint_summary(hint: Hint | None) -> tuple[str, str]:
    """One hint as a line beside the manual verdict, and its tone: ``manual`` (only a person
    can judge it), ``ok`` or ``bad``; what the system could not check is always added."""
    if hint is None or hint.ok is None:
        text, state = "此项需人工核查确认", "manual"
    elif hint.ok:
        text, state = "系统核对的内容未发现问题", "ok"
    else:
        text, state = "系统提示：" + "；".join(hint.messages), "bad"
    if hint is not None and hint.cannot_check:
        text += "（" + "；".join(hint.cannot_check) + "）"
    return text, state


def status_label(checked: bool, all_clear: bool) -> str:
    """The official wording of a household's two figures (never 完成 while an item is unclear)."""
    if all_clear:
        return "五清已核查·全部为清"
    return "五清已核查·有不清项" if checked else "五清未核查完"


def secretary_judged(template: ChecklistTemplateDef, item_code: Any) -> bool:
    """Whether the template says only the 村书记 may judge this item (``secretary_only``)."""
    item = template.item(item_code)
    return item is not None and item.secretary_only


def may_judge(role: str | None, template: ChecklistTemplateDef, item_code: Any) -> bool:
    """Whether ``role`` may set this item's verdict."""
    return role in SECRETARY_ROLES or not secretary_judged(template, item_code)


def judge_hint(role: str | None, template: ChecklistTemplateDef, item_code: Any) -> str:
    """What a form shows beside the verdict buttons of this item, which it disables when the
    text is not empty: ``role`` may not set the verdict (``may_judge``, the rule the save and
    the server apply)."""
    return "" if may_judge(role, template, item_code) else SECRETARY_ONLY_HINT


def checklist_role_error(role: str | None, template: ChecklistTemplateDef, item_code: Any,
                         fields: Mapping[str, Any], stored_verdict: Any = None, *,
                         deleting: bool = False) -> ErrorCode | None:
    """``checklist.role_forbidden`` when ``role`` may not make this change of a checklist item
    of ``template`` (the template the item's ``template_code`` names): only the village
    secretary and the first secretary set (or, by deleting, clear) the verdict of an item the
    template marks ``secretary_only``. Other fields (note, photos) anyone in scope may edit."""
    if may_judge(role, template, item_code):
        return None
    old = stored_verdict or "unchecked"
    if deleting:
        return ErrorCode.checklist_role_forbidden if old != "unchecked" else None
    if "verdict" not in fields or (fields.get("verdict") or "unchecked") == old:
        return None
    return ErrorCode.checklist_role_forbidden


def checklist_change_error(role: str | None, template_named: Callable[[str], ChecklistTemplateDef],
                           fields: Mapping[str, Any], stored: Any = None, *,
                           deleting: bool = False) -> ErrorCode | None:
    """``checklist_role_error`` of a synced change: ``stored`` is the record as stored (an object
    with ``values`` and ``deleted``, or None for a create); ``template_named``: the template of a
    code as the county keeps it."""
    before: Mapping[str, Any] = (stored.values if stored is not None
                                 and not getattr(stored, "deleted", False) else {})
    code = fields.get("template_code") or before.get("template_code") or DEFAULT_TEMPLATE_CODE
    return checklist_role_error(role, template_named(str(code)),
                                fields.get("item_code") or before.get("item_code"), fields,
                                before.get("verdict"), deleting=deleting)


# --- 整改: rectification of an unclear item ------------------------------------------------------


def rectification_overdue(item: Mapping[str, Any], today: dt.date | None = None) -> bool:
    """An ``unclear`` item whose rectification is due before today (China) and not done."""
    due = _date(item.get("rectify_by"))
    return (item.get("verdict") == "unclear" and not item.get("deleted") and due is not None
            and due < (today or china_today()) and not item.get("rectified_at"))


def overdue_rectifications(bundle: HouseholdBundle, template: ChecklistTemplateDef = WUQING_V1,
                           today: dt.date | None = None) -> list[dict[str, Any]]:
    """The latest responses of ``template`` whose rectification is overdue, in item order."""
    day = today or china_today()
    latest = manual_verdicts(bundle, template.code)
    return [latest[code] for code in template.item_codes
            if code in latest and rectification_overdue(latest[code], day)]


# --- risk types and measures (reports) ---------------------------------------------------------

# Which measure categories answer which 返贫致贫风险类型: the cause→measure rule of 措施清 for the
# risks that are also causes, plus the risks monitoring adds. ``None``: any measure will do.
RISK_MEASURES: dict[str, frozenset[str] | None] = {
    **{risk: CAUSE_MEASURES[risk] for risk in (
        "illness", "disability", "schooling", "disaster", "accident", "business_failure",
        "unstable_job", "no_labor")},
    "housing_unsafe": frozenset({"housing", "relocation"}),
    "water_unsafe": frozenset({"water", "infrastructure"}),
    "large_expense": frozenset({"social_security", "social_aid", "health", "temporary_aid"}),
    "income_drop": frozenset({"employment", "industry", "public_job", "social_aid",
                              "social_security"}),
    "other": None,
}


def risk_has_measure(risk: str, categories: Iterable[str | None]) -> bool:
    """The household's measures (their categories) answer the risk type."""
    cats = {c for c in categories if c}
    wanted = RISK_MEASURES.get(risk)
    return bool(cats) if wanted is None else bool(cats & wanted)


def unmatched_risks(risk_types: Iterable[str], categories: Iterable[str | None]) -> list[str]:
    """The household's risk types that no measure of theirs answers, in order."""
    cats = [c for c in categories if c]
    return [r for r in risk_types if isinstance(r, str) and not risk_has_measure(r, cats)]
