"""Cross-checks of a household file: answers that contradict each other (household file v2).

Each check is a hint, never a refusal: it is shown beside the file (read API, console household
page, tablet household screen) so a cadre can correct what is wrong or confirm what is right.
The same pure function serves every face.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .enums import LABELS, MeasureCategory, MeasureStatus
from .income import line_for, per_capita_by_year
from .input_rules import as_date
from .members import age_on, counts_on, health_codes, id_mismatches
from .wuqing import HouseholdBundle

COMPULSORY_AGES = range(6, 16)  # 控辍保学: ages 6-15
ILL = frozenset({"chronic", "serious_illness", "disabled"})
OPEN_MEASURE = frozenset({"planned", "in_progress"})


@dataclass(frozen=True)
class CrossCheck:
    """One contradiction: a stable ``code``, the Chinese ``message``, and where it is."""

    code: str
    message: str
    entity: str = "household"
    record_id: str | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _live(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r.get("deleted")]


def _name(member: Mapping[str, Any]) -> str:
    return str(member.get("name") or "（未填姓名）")


def _member_checks(m: Mapping[str, Any], today: dt.date, household: Mapping[str, Any]
                   ) -> list[CrossCheck]:
    out: list[CrossCheck] = []
    rid, name = str(m.get("id") or ""), _name(m)

    def add(code: str, message: str, field: str | None) -> None:
        out.append(CrossCheck(code, message, "member", rid, field))

    for field in id_mismatches(m):
        what = "性别" if field == "gender" else "出生日期"
        add(f"id_{field}_mismatch", f"成员{name}的{what}与身份证号不一致", field)
    if not counts_on(m, today):
        if m.get("left_on") and m.get("relation") == "head":
            add("head_left", f"户主{name}已减员，请变更户主", "relation")
        if m.get("left_on") and (m.get("dibao") or m.get("tekun") or m.get("public_welfare_job")):
            add("left_still_counted",
                f"成员{name}已减员，仍登记为享受低保/特困或公益岗位，请核实", "left_on")
        return out
    health = set(health_codes(m))
    if m.get("disability_grade") and not m.get("disability_category"):
        add("disability_grade_without_category", f"成员{name}填写了残疾等级，未填写残疾类别",
            "disability_category")
    if "disabled" in health and not (m.get("disability_category") and m.get("disability_grade")):
        add("disabled_without_details", f"成员{name}为残疾，未填写残疾类别或等级",
            "disability_category")
    if (m.get("disability_category") or m.get("disability_grade")) and "disabled" not in health:
        add("disability_without_health", f"成员{name}填写了残疾类别或等级，健康状况未选“残疾”",
            "health")
    if health & ILL and m.get("family_doctor_signed") is False:
        add("family_doctor_unsigned", f"成员{name}患病或残疾，尚未签约家庭医生",
            "family_doctor_signed")
    age = age_on(m, today)
    in_school = bool(m.get("school_stage")) or m.get("schooling") in (
        "preschool", "primary", "junior", "senior", "vocational", "college")
    if age in COMPULSORY_AGES and not in_school and household.get("education_secure") is True:
        add("school_age_not_in_school",
            f"成员{name}（{age}岁）处于义务教育阶段年龄、未登记在校，但“义务教育有保障”为是",
            "school_stage")
    if m.get("medical_insurance") is False and household.get("medical_secure") is True:
        add("uninsured_but_secure",
            f"成员{name}未参加城乡居民基本医疗保险，但“基本医疗有保障”为是", "medical_insurance")
    return out


def _household_checks(h: Mapping[str, Any]) -> list[CrossCheck]:
    out = []
    if h.get("housing_grade") in ("B", "C", "D") and h.get("housing_secure") is True:
        out.append(CrossCheck("housing_grade_vs_secure",
                              f"房屋安全鉴定等级为{h.get('housing_grade')}级，但“住房安全有保障”为是",
                              field="housing_secure"))
    water, secure = h.get("drinking_water_safe"), h.get("water_secure")
    if water is not None and secure is not None and water != secure:
        out.append(CrossCheck("water_fields_disagree",
                              "“饮水安全”与“饮水安全有保障”填写不一致，请统一",
                              field="water_secure"))
    return out


def _income_checks(b: HouseholdBundle, lines: Mapping[int, float], today: dt.date
                   ) -> list[CrossCheck]:
    h = b.household
    if h.get("monitoring_status") not in (None, "", "none"):
        return []
    out = []
    for year, head in per_capita_by_year(_live(b.incomes), _live(b.members), today).items():
        line, prorated = line_for(year, lines, today)
        if line is None or head >= line:
            continue
        if prorated:
            text = (f"{year}年已录入收入按时间进度折算，人均纯收入{head:,.0f}元低于"
                    f"折算监测线{line:,.0f}元，且为非监测对象，请关注")
        else:
            text = (f"{year}年人均纯收入{head:,.0f}元低于防止返贫监测线{line:,.0f}元，"
                    "但为非监测对象，请排查是否纳入监测")
        out.append(CrossCheck("income_below_line_not_monitored", text, "income_item",
                              field="amount"))
        break  # the newest year says it; older years are history
    return out


def _measure_checks(b: HouseholdBundle, today: dt.date) -> list[CrossCheck]:
    out = []
    gone = {str(m.get("id")) for m in _live(b.members) if not counts_on(m, today)}
    for x in _live(b.measures):
        rid, item = str(x.get("id") or ""), x.get("item") or "帮扶措施"
        year = x.get("year") or (as_date(x.get("planned_on")) or dt.date.max).year
        if x.get("status") in OPEN_MEASURE and isinstance(year, int) and year < today.year:
            out.append(CrossCheck("measure_plan_not_done",
                                  f"{year}年计划实施的“{item}”尚未落实", "measure", rid, "status"))
        planned, done = x.get("planned_amount"), x.get("amount")
        if x.get("status") == "done" and planned is not None and done is not None \
                and abs(float(planned) - float(done)) >= 0.01:
            out.append(CrossCheck("measure_amount_differs",
                                  f"“{item}”落实金额{float(done):,.0f}元与计划{float(planned):,.0f}元不同",
                                  "measure", rid, "amount"))
        if str(x.get("member_id")) in gone and x.get("status") in OPEN_MEASURE:
            out.append(CrossCheck("measure_for_left_member",
                                  f"“{item}”的受益成员已减员，请调整", "measure", rid, "member_id"))
    return out


def plan_vs_done(measure: Mapping[str, Any]) -> dict[str, Any] | None:
    """计划实施 vs 已落实 of one measure: the planned and carried-out date and amount, the
    difference in days (positive: later than planned) and in yuan, and the Chinese text every
    face shows; None when nothing was planned."""
    planned_on, done_on = as_date(measure.get("planned_on")), as_date(measure.get("done_on"))
    planned, actual = measure.get("planned_amount"), measure.get("amount")
    if planned_on is None and planned is None:
        return None
    days = (done_on - planned_on).days if planned_on and done_on else None
    diff = (round(float(actual) - float(planned), 2)
            if planned is not None and actual is not None and measure.get("status") == "done"
            else None)
    parts = []
    if planned_on:
        when = f"已落实{done_on:%Y-%m-%d}" if done_on else "尚未落实"
        lag = ("" if days is None else "，按计划" if days == 0
               else f"，晚{days}天" if days > 0 else f"，提前{-days}天")
        parts.append(f"计划实施{planned_on:%Y-%m-%d}，{when}{lag}")
    if planned is not None:
        text = f"计划金额{float(planned):,.0f}元"
        if diff is not None:
            text += (f"，落实金额{float(actual):,.0f}元"  # type: ignore[arg-type]
                     + ("" if abs(diff) < 0.01 else f"（{'多' if diff > 0 else '少'}"
                        f"{abs(diff):,.0f}元）"))
        parts.append(text)
    return {"planned_on": planned_on.isoformat() if planned_on else None,
            "done_on": done_on.isoformat() if done_on else None, "days_late": days,
            "planned_amount": planned, "actual_amount": actual if diff is not None else None,
            "amount_difference": diff, "text": "；".join(parts),
            # 与计划不同: carried out later than planned, or another amount
            "differs": (days or 0) > 0 or abs(diff or 0) >= 0.01}


PLAN_VS_DONE_TITLE = "计划实施与已落实对比"
PLAN_DIFFERS = "与计划不同"


def plan_gaps(measures: Sequence[Mapping[str, Any]]
              ) -> list[tuple[Mapping[str, Any], dict[str, Any]]]:
    """The household's live measures that were planned, each with its ``plan_vs_done``: the
    rows of 计划实施与已落实对比 (console household page, tablet 帮扶措施 tab)."""
    return [(m, gap) for m in measures if not m.get("deleted") and (gap := plan_vs_done(m))]


def measure_title(measure: Mapping[str, Any]) -> str:
    """A measure as a list names it: its item, else its category."""
    category = str(measure.get("category") or "")
    return str(measure.get("item") or LABELS[MeasureCategory].get(category, category))


def plan_vs_done_line(measure: Mapping[str, Any], gap: Mapping[str, Any]) -> str:
    """One row of 计划实施与已落实对比 as a line: the measure, its status, the comparison and,
    when it differs, 与计划不同 (the console shows the same parts as a table row)."""
    status = str(measure.get("status") or "")
    label = LABELS[MeasureStatus].get(status, status)
    return (f"{measure_title(measure)}{f'（{label}）' if label else ''}：{gap['text']}"
            + (f"  【{PLAN_DIFFERS}】" if gap["differs"] else ""))


def cross_checks(bundle: HouseholdBundle, today: dt.date,
                 lines: Mapping[int, float] | None = None) -> list[CrossCheck]:
    """Every contradiction in one household file. ``lines``: the monitoring line by year."""
    out = _household_checks(bundle.household)
    for m in _live(bundle.members):
        out += _member_checks(m, today, bundle.household)
    out += _income_checks(bundle, lines or {}, today)
    out += _measure_checks(bundle, today)
    return out
