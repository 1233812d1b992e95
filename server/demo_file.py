"""Household file v2 values for the demo county: health lists, disability, school stage,
employment, 增减员, the breakdown of transfer income and rigid expenses, measure plans and fund
sources, visits linked to the helper with findings.

Every choice here comes from a record's own id (``spin``), never from the demo's random stream,
so the rest of the demo county stays exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

DISEASES = ("高血压", "糖尿病", "慢性阻塞性肺疾病", "冠心病", "类风湿关节炎", "脑梗死后遗症")
SERIOUS = ("恶性肿瘤（肺癌）", "尿毒症（血液透析）", "重性精神病", "白血病")
DISABILITY = ("physical", "physical", "visual", "hearing", "intellectual", "mental", "multiple")
FUND_SOURCES = ("central", "central", "provincial", "city_county", "department", "social")
TRANSFER_KINDS = ("pension", "pension", "other_transfer", "eco_compensation")
FINDING_NOTES = {
    "income_change": "今年务工收入明显减少，家庭收入有下降风险",
    "guarantee_problem": "房屋后墙出现裂缝，需申请房屋安全鉴定",
    "risk_clue": "户主住院治疗，自付医疗费用较高，存在返贫风险",
}


def spin(*parts: object) -> int:
    """A stable number from a record's id (and a salt)."""
    return int(uuid.uuid5(uuid.NAMESPACE_URL, "ruhu-file-v2:" + ":".join(map(str, parts))
                          ).hex[:8], 16)


def _age(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def member_v2(m: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """A copy of a demo member (v1 fields, ``health`` one code) with the v2 fields."""
    s = spin(m["id"])
    out = {k: v for k, v in m.items() if k != "id"}
    health = m.get("health") or "healthy"
    birth: dt.date = m["birth_date"]
    age = _age(birth, today)
    codes = [health]
    if health == "healthy" and age > 60 and s % 4 == 0:
        codes = ["chronic"]
    if health == "disabled" and s % 3 == 0:
        codes = ["disabled", "chronic"]
    out["health"] = codes
    if "chronic" in codes:
        out["disease"] = DISEASES[s % len(DISEASES)]
    if "serious_illness" in codes:
        out["disease"] = SERIOUS[s % len(SERIOUS)]
    if "disabled" in codes:
        out["disability_category"] = DISABILITY[s % len(DISABILITY)]
        out["disability_grade"] = str(1 + (s >> 3) % 4)
    if codes != ["healthy"]:
        out["family_doctor_signed"] = s % 10 != 0  # a few not signed: a hint to follow up
    stage = {"vocational": "secondary_vocational"}.get(m.get("schooling") or "",
                                                       m.get("schooling"))
    if stage in ("preschool", "primary", "junior", "senior", "secondary_vocational", "college"):
        out["school_stage"] = stage
        first = {"primary": 6, "junior": 12, "senior": 15, "secondary_vocational": 15,
                 "college": 18, "preschool": 3}[stage]
        out["school_grade"] = max(1, min(age - first + 1, 6 if stage == "primary" else 3))
    if m.get("migrant_place"):
        out["employment"] = ["out_of_province" if s % 3 else "in_province"]
    elif m.get("labor_ability") in ("normal", "skilled") and 18 <= age <= 60:
        out["employment"] = [("farming", "in_county", "farming", "unemployed")[s % 4]]
    if m.get("public_welfare_job"):
        out["employment"] = [*out.get("employment", []), "public_welfare_job"]
    # 增减员: children born into the household, a few marriages and deaths
    if m.get("relation") in ("son", "daughter", "grandchild") and birth.year >= 2015:
        out["joined_on"], out["joined_reason"] = birth, "birth"
    elif m.get("relation") == "spouse" and s % 12 == 0:
        out["joined_on"] = today - dt.timedelta(days=400 + s % 900)
        out["joined_reason"] = "marriage_in"
    if m.get("relation") == "parent" and age > 70 and s % 3 == 0:
        out["left_on"], out["left_reason"] = today - dt.timedelta(days=60 + s % 500), "death"
    elif m.get("relation") == "daughter" and 20 <= age <= 32 and s % 3 == 0:
        out["left_on"] = today - dt.timedelta(days=30 + s % 700)
        out["left_reason"] = "marriage_out"
    out.setdefault("employment", [])
    return out


def income_kind(row: dict[str, Any], record_id: uuid.UUID, dibao: bool, tekun: bool
                ) -> dict[str, Any]:
    """A transfer income row gets its breakdown kind (低保金 for a 低保 household, ...)."""
    if row["category"] != "transfer":
        return row
    kind = "dibao" if dibao else "tekun" if tekun else TRANSFER_KINDS[spin(record_id) % 4]
    item = {"dibao": "农村低保金", "tekun": "特困供养金", "pension": "城乡居民基础养老金",
            "eco_compensation": "公益林生态补偿金", "other_transfer": "惠农补贴等转移性收入"}[kind]
    return {**row, "item_kind": kind, "item": item}


def rigid_expenses(hh: uuid.UUID, year: int, members: list[dict[str, Any]]
                   ) -> list[tuple[str, str, float]]:
    """(item_kind, item, amount) of a year's 刚性支出: medical costs for the ill, school costs."""
    out = []
    if any(m.get("health") in ("serious_illness", "chronic", "disabled") for m in members):
        out.append(("medical_out_of_pocket", "住院及门诊自付医疗费用",
                    float(800 + spin(hh, year, "med") % 9000)))
    if any(m.get("schooling") in ("senior", "vocational", "college") for m in members):
        out.append(("education_expense", "高中及以上教育支出",
                    float(1500 + spin(hh, year, "edu") % 5000)))
    return out


def measure_v2(row: dict[str, Any], record_id: uuid.UUID, today: dt.date) -> dict[str, Any]:
    """Year, fund source, the plan (date, amount) and, when done, the day it was done. Some
    done measures differ from their plan (the seeds' complaint)."""
    s = spin(record_id)
    start: dt.date = row["start_date"]
    planned_on = start - dt.timedelta(days=s % 40)
    out = {**row, "year": start.year, "fund_source": FUND_SOURCES[s % len(FUND_SOURCES)],
           "planned_on": planned_on}
    if row.get("amount"):
        out["planned_amount"] = row["amount"] if s % 5 else float(row["amount"]) * 1.5
    if row.get("status") == "done":
        out["done_on"] = min(start + dt.timedelta(days=30 + s % 200), today)
    return out


def visit_v2(row: dict[str, Any], record_id: uuid.UUID, helper_id: uuid.UUID | None,
             with_helper: bool, monitored: bool) -> dict[str, Any]:
    """A visit with the current helper is linked to the assignment; a few carry findings, and
    a risk clue on an unmonitored household proposes starting 纳入监测."""
    s = spin(record_id)
    out = {**row, "helper_assignment_id": helper_id if with_helper else None, "findings": []}
    if s % 7 == 0:
        finding = ("income_change", "guarantee_problem", "risk_clue")[(s >> 3) % 3]
        out["findings"] = [finding]
        out["finding_note"] = FINDING_NOTES[finding]
        out["proposes_entry"] = finding == "risk_clue" and not monitored
    return out
