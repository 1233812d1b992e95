"""明白卡 (一户一档): what the printed card of one household shows, as labelled text.

The card is handed to the household itself and often hangs by its door, so it carries no more
personal data than the household needs to check its own file (docs/security.md, 明白卡):
ID numbers show only their last four characters (``mask_id_tail``), the household's own phone,
bank account and members' health are not printed; the helper's name, unit and phone are, since
the household must be able to reach them. Any face may render it (the server prints a PDF).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .display import value_label
from .income import income_table
from .members import current_members
from .policy import is_monitored
from .wuqing import HouseholdBundle, current_helpers

TITLE = "防止返贫监测帮扶明白卡"
SUBTITLE = "一户一档"
INCOME_YEARS = 5  # the newest years printed
SIGNATURES = ("户主（签字）", "帮扶责任人（签字）", "村委会（盖章）")


def mask_id_tail(value: str | None) -> str:
    """An ID number on the 明白卡: only the last four characters (``**************1234``)."""
    if not value:
        return ""
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]


@dataclass
class CardTable:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    empty: str = "无"


@dataclass
class Card:
    """One household's card: a heading, label/value facts, then tables."""

    household_id: str
    heading: str  # 县 乡镇 村 (names) and 户编号
    facts: list[tuple[str, str]]
    tables: list[CardTable]
    signatures: tuple[str, ...] = SIGNATURES
    printed_on: str = ""


def _v(entity: str, name: str, value: Any) -> str:
    text = value_label(entity, name, value)
    return "" if text == "（空）" else text


def _alive(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r.get("deleted") and not r.get("left_on")]


def _money(value: Any) -> str:
    if value is None:
        return ""
    return f"{float(value):,.2f}"


def build_card(bundle: HouseholdBundle, today: dt.date,
               region_names: Mapping[str, str] | None = None) -> Card:
    """The card of one household as of ``today`` (China time). ``region_names`` maps region
    codes (county, township, village) to their names."""
    hh = bundle.household
    names = region_names or {}
    village = str(hh.get("village_code") or "")
    place = [names.get(code, "") for code in (village[:6] + "000000", village[:9] + "000",
                                               village)]
    members = current_members(bundle.members, today)
    monitored = is_monitored(hh)
    facts = [
        ("户主姓名", str(hh.get("head_name") or "")),
        ("户主身份证号", mask_id_tail(hh.get("head_id_number"))),
        ("户编号", str(hh.get("household_number") or "")),
        ("村民小组", str(hh.get("group_name") or "")),
        ("住址", str(hh.get("address") or "")),
        ("家庭人口", f"{len(members)}人"),
        ("户类型", _v("household", "household_type", hh.get("household_type"))),
        ("监测对象类别", _v("household", "monitoring_category", hh.get("monitoring_category"))
         if hh.get("monitoring_category") not in (None, "", "none") else "非监测对象"),
        ("监测状态", _v("household", "monitoring_status", hh.get("monitoring_status"))),
        ("纳入监测日期", str(hh.get("monitoring_since") or "")),
        ("返贫致贫风险类型", _v("household", "risk_types", hh.get("risk_types"))
         if monitored or hh.get("risk_types") else ""),
        ("风险消除", " ".join(x for x in (str(hh.get("eliminated_on") or ""), _v(
            "household", "elimination_method", hh.get("elimination_method"))) if x)),
        ("脱贫年度", str(hh.get("exit_year") or "")),
        ("致贫原因（历史）", _v("household", "causes", hh.get("causes"))),
    ]
    member_rows = [[str(m.get("name") or ""), _v("member", "relation", m.get("relation")),
                    _v("member", "gender", m.get("gender")), mask_id_tail(m.get("id_number")),
                    _v("member", "labor_ability", m.get("labor_ability")),
                    _v("member", "schooling", m.get("schooling"))]
                   for m in sorted(members, key=lambda m: (m.get("relation") != "head",
                                                          str(m.get("name") or "")))]
    # 人均纯收入 of each year over that year's members (增减员), as on every face
    incomes = income_table([r for r in bundle.incomes if not r.get("deleted")],
                           [m for m in bundle.members if not m.get("deleted")], today)
    income_rows = [[str(r["year"]), _money(r["wage"]), _money(r["business"]),
                    _money(r["property"]), _money(r["transfer"]), _money(r["business_cost"]),
                    _money(r["net"]), _money(r["per_capita"])]
                   for r in incomes[:INCOME_YEARS]]
    measure_rows = [[_v("measure", "category", m.get("category")), str(m.get("item") or ""),
                     str(m.get("start_date") or ""), _money(m.get("amount")),
                     _v("measure", "status", m.get("status"))]
                    for m in sorted(_alive(bundle.measures),
                                    key=lambda m: str(m.get("start_date") or ""), reverse=True)]
    helper_rows = [[str(a.get("helper_name") or ""), str(a.get("helper_unit") or ""),
                    str(a.get("helper_position") or ""), str(a.get("helper_phone") or ""),
                    str(a.get("start_date") or "")]
                   for a in current_helpers(bundle, today)]
    return Card(
        household_id=str(hh.get("id") or ""),
        heading=" ".join(p for p in place if p),
        facts=[(label, value) for label, value in facts if value],
        tables=[
            CardTable("家庭成员", ["姓名", "与户主关系", "性别", "身份证号（后四位）", "劳动技能",
                               "在校生情况"], member_rows),
            CardTable(f"家庭收入（近{INCOME_YEARS}年，元）",
                      ["年度", "工资性", "生产经营性", "财产性", "转移性", "生产经营性支出",
                       "家庭纯收入", "人均纯收入"], income_rows, "未登记收入"),
            CardTable("帮扶措施", ["类别", "项目", "开始日期", "金额（元）", "状态"],
                      measure_rows, "未登记帮扶措施"),
            CardTable("帮扶责任人", ["姓名", "工作单位", "职务", "联系电话", "开始日期"],
                      helper_rows, "暂无在岗帮扶责任人"),
        ],
        printed_on=f"{today:%Y年%m月%d日}",
    )
