"""Reconciliation with the national system (全国防返贫监测信息系统): which columns of its household
export mean what, how its values read, how its households are matched to ruhu's and which
figures differ ("存在差异"). Pure: rows in, a ``Reconciliation`` out; nothing is changed.

A national export has one row per household or one row per person (then ``与户主关系`` says
which row is the head's); rows with the same 户编号 are one household (without 户编号, the
people listed under a head). Households are matched
by 户编号 first, then by 户主身份证号; each household matches at most once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .enums import LABELS, HouseholdType, MonitoringCategory, MonitoringStatus, Role
from .procedure import DERIVED_FIELDS

# field -> (Chinese label, the column titles the national system (and its county variants) use)
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "household_number": ("户编号", ("户编号", "户编码", "家庭编号", "户编号（国家系统）")),
    "head_name": ("户主姓名", ("户主姓名", "户主")),
    "head_id_number": ("户主身份证号", ("户主身份证号", "户主身份证号码", "户主证件号码",
                                         "户主证件号")),
    "name": ("姓名", ("姓名", "成员姓名", "人员姓名")),
    "id_number": ("证件号码", ("证件号码", "身份证号", "身份证号码", "成员身份证号")),
    "relation": ("与户主关系", ("与户主关系",)),
    "members": ("人口数", ("人口数", "家庭人口数", "家庭人口", "户人口数", "家庭人数", "户人数",
                           "人数")),
    "household_type": ("户类型", ("户类型", "农户类型")),
    "monitoring_category": ("监测对象类别", ("监测对象类别", "监测对象类型", "监测类型",
                                             "监测户类型")),
    "risk_eliminated": ("风险消除", ("风险是否已消除", "是否风险消除", "风险消除情况",
                                     "是否消除风险", "风险消除状态", "风险是否消除", "监测状态")),
    "per_capita": ("人均纯收入", ("人均纯收入", "家庭人均纯收入", "人均纯收入（元）",
                                  "家庭年人均纯收入", "年人均纯收入", "家庭人均纯收入（元）")),
    "village_code": ("行政村代码", ("行政村代码", "村代码", "行政区划代码", "村级区划代码")),
    "village_name": ("行政村", ("行政村", "村", "所在村", "村名称")),
}
# a file needs one of these to match households at all
KEY_FIELDS = ("household_number", "head_id_number", "id_number")
# the fields compared, in the order a difference list shows them
COMPARED = ("household_number", "head_name", "head_id_number", "members", "household_type",
            "monitoring_category", "monitoring_status", "per_capita")
COMPARED_LABELS = {"household_number": "户编号", "head_name": "户主姓名",
                   "head_id_number": "户主身份证号", "members": "人口数",
                   "household_type": "户类型", "monitoring_category": "监测对象类别",
                   "monitoring_status": "风险消除", "per_capita": "人均纯收入（元）"}
# what ruhu may take over from the national file (through the normal change path); members and
# income are figures of their own records, not of the household
APPLICABLE = ("household_number", "head_name", "head_id_number", "household_type",
              "monitoring_category", "monitoring_status")
# the monitoring fields are otherwise set only by an approved procedure, whose last step is the
# county's: only a county admin takes them over; a township clerk takes the other fields
CLERK_APPLICABLE = tuple(f for f in APPLICABLE if f not in DERIVED_FIELDS)
# 人均纯收入 differing by less than this (yuan) is the same figure rounded
INCOME_TOLERANCE = 1.0

_HEAD = {"户主", "本人", "本人（户主）", "户主本人"}
_YES = {"是", "已消除", "风险已消除", "消除", "y", "yes", "1", "true"}
_NO = {"否", "未消除", "风险未消除", "n", "no", "0", "false"}
_EXITED_TYPES = {"脱贫户", "一般脱贫户", "低保脱贫户", "特困脱贫户", "脱贫不稳定户（脱贫户）"}
_ORDINARY_TYPES = {"一般农户", "非贫困户", "一般户"}


def text(value: Any) -> str:
    """A cell as text: whole floats without ``.0``, dates as ISO, surrounding space dropped."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _norm_title(title: str) -> str:
    return "".join(title.split()).replace("(", "（").replace(")", "）")


def recognise(header: Sequence[Any]) -> dict[str, int]:
    """field -> column index for the columns of ``header`` this module knows (first wins)."""
    titles = [_norm_title(text(h)) for h in header]
    found: dict[str, int] = {}
    for name, (_, aliases) in COLUMNS.items():
        for alias in aliases:
            if alias in titles:
                found[name] = titles.index(alias)
                break
    return found


def _category(value: str) -> str | None:
    if not value:
        return None
    for code, label in LABELS[MonitoringCategory].items():
        if value in (label, code):
            return code
    if value in ("无", "否", "非监测户", "不是监测对象"):
        return MonitoringCategory.none.value
    return value


def _household_type(value: str) -> str | None:
    if not value:
        return None
    if value in _EXITED_TYPES or value == HouseholdType.exited.value:
        return HouseholdType.exited.value
    if value in _ORDINARY_TYPES or value == HouseholdType.ordinary.value:
        return HouseholdType.ordinary.value
    return value


def _eliminated(value: str) -> bool | None:
    v = value.lower()
    if not v:
        return None
    if v in _YES or v == MonitoringStatus.eliminated.value:
        return True
    if v in _NO or v in ("风险未消除", MonitoringStatus.monitored.value):
        return False
    return None


def _number(value: str) -> float | None:
    try:
        return float(value.replace(",", "").replace("，", "")) if value else None
    except ValueError:
        return None


@dataclass
class NationalHousehold:
    """One household of the national file, its values in ruhu's codes."""

    row: int  # the first spreadsheet row (1 = the header)
    household_number: str = ""
    head_name: str = ""
    head_id_number: str = ""
    members: int | None = None
    household_type: str | None = None
    monitoring_category: str | None = None
    eliminated: bool | None = None
    per_capita: float | None = None
    village_code: str = ""
    village_name: str = ""
    person_rows: int = 0

    @property
    def monitoring_status(self) -> str | None:
        """风险已消除 / 风险未消除 for a monitoring object; none otherwise; None when unknown."""
        if self.monitoring_category == MonitoringCategory.none.value:
            return MonitoringStatus.none.value
        if self.eliminated is None:
            return None
        return (MonitoringStatus.eliminated if self.eliminated
                else MonitoringStatus.monitored).value

    def value(self, name: str) -> Any:
        return self.monitoring_status if name == "monitoring_status" else getattr(self, name)


def read_rows(rows: Iterable[Sequence[Any]], columns: Mapping[str, int]
              ) -> list[NationalHousehold]:
    """The national file's data rows (after the header) as households, grouped by 户编号 (a
    file without 户编号: one household per row)."""
    out: dict[str, NationalHousehold] = {}
    per_person = "relation" in columns and "name" in columns

    def cell(cells: Sequence[Any], name: str) -> str:
        i = columns.get(name)
        return text(cells[i]) if i is not None and i < len(cells) else ""

    for number, cells in enumerate(rows, start=2):
        if all(text(c) == "" for c in cells):
            continue
        key = cell(cells, "household_number") or f"row-{number}"
        if per_person and not cell(cells, "household_number") and out \
                and cell(cells, "relation") not in _HEAD:
            key = next(reversed(out))  # without 户编号: a person belongs to the head above
        hh = out.get(key)
        if hh is None:
            hh = out[key] = NationalHousehold(row=number, household_number=cell(
                cells, "household_number"))
        hh.person_rows += 1
        is_head = not per_person or cell(cells, "relation") in _HEAD
        if is_head:
            hh.head_name = hh.head_name or cell(cells, "head_name") or (
                cell(cells, "name") if per_person else "")
            head_id = cell(cells, "head_id_number") or (
                cell(cells, "id_number") if per_person else "")
            hh.head_id_number = hh.head_id_number or head_id.upper()
        else:
            hh.head_name = hh.head_name or cell(cells, "head_name")
            hh.head_id_number = hh.head_id_number or cell(cells, "head_id_number").upper()
        members = _number(cell(cells, "members"))
        hh.members = hh.members if hh.members is not None else (
            int(members) if members is not None else None)
        hh.household_type = hh.household_type or _household_type(cell(cells, "household_type"))
        hh.monitoring_category = hh.monitoring_category or _category(
            cell(cells, "monitoring_category"))
        if hh.eliminated is None:
            hh.eliminated = _eliminated(cell(cells, "risk_eliminated"))
        if hh.per_capita is None:
            hh.per_capita = _number(cell(cells, "per_capita"))
        hh.village_code = hh.village_code or cell(cells, "village_code")
        hh.village_name = hh.village_name or cell(cells, "village_name")
    households = list(out.values())
    if per_person and "members" not in columns:
        for hh in households:
            hh.members = hh.person_rows
    return households


@dataclass
class Difference:
    field: str
    label: str
    ruhu: Any
    national: Any

    @property
    def applicable(self) -> bool:
        return self.field in APPLICABLE and self.national not in (None, "")

    def takeable(self, role: str) -> bool:
        """Whether a user of ``role`` may take the national value over."""
        return self.applicable and self.field in applicable_fields(role)


def applicable_fields(role: str) -> tuple[str, ...]:
    """The fields a user of ``role`` may take over from the national file."""
    return APPLICABLE if role == Role.county_admin else CLERK_APPLICABLE


@dataclass
class Match:
    ruhu: Mapping[str, Any]
    national: NationalHousehold
    by: str  # household_number | head_id_number
    differences: list[Difference] = field(default_factory=list)


@dataclass
class Reconciliation:
    matched: list[Match] = field(default_factory=list)
    only_ruhu: list[Mapping[str, Any]] = field(default_factory=list)
    only_national: list[NationalHousehold] = field(default_factory=list)

    @property
    def differing(self) -> list[Match]:
        return [m for m in self.matched if m.differences]


def same(name: str, ruhu: Any, national: Any) -> bool:
    """Whether a field agrees; a value the national file leaves empty is not compared."""
    if national in (None, ""):
        return True
    if name == "per_capita":
        return ruhu is not None and abs(float(ruhu) - float(national)) < INCOME_TOLERANCE
    if name == "head_id_number":
        return str(ruhu or "").upper() == str(national).upper()
    if name in ("monitoring_category", "monitoring_status"):
        ruhu = ruhu or MonitoringCategory.none.value
    return bool(ruhu == national)


def compare(ruhu: Iterable[Mapping[str, Any]],
            national: Iterable[NationalHousehold]) -> Reconciliation:
    """Match the national households to ruhu's (``ruhu`` rows: id, village_code, the
    ``COMPARED`` fields) and list what differs."""
    result = Reconciliation()
    pool = list(ruhu)
    by_number: dict[str, Mapping[str, Any]] = {}
    by_id: dict[str, Mapping[str, Any]] = {}
    for r in pool:
        if r.get("household_number"):
            by_number.setdefault(str(r["household_number"]).strip(), r)
        if r.get("head_id_number"):
            by_id.setdefault(str(r["head_id_number"]).upper(), r)
    taken: set[str] = set()
    for hh in national:
        found, by = None, ""
        candidate = by_number.get(hh.household_number) if hh.household_number else None
        if candidate is not None and str(candidate["id"]) not in taken:
            found, by = candidate, "household_number"
        elif hh.head_id_number:
            candidate = by_id.get(hh.head_id_number)
            if candidate is not None and str(candidate["id"]) not in taken:
                found, by = candidate, "head_id_number"
        if found is None:
            result.only_national.append(hh)
            continue
        taken.add(str(found["id"]))
        diffs = [Difference(name, COMPARED_LABELS[name], found.get(name), hh.value(name))
                 for name in COMPARED if not same(name, found.get(name), hh.value(name))]
        result.matched.append(Match(found, hh, by, diffs))
    result.only_ruhu = [r for r in pool if str(r["id"]) not in taken]
    return result


def display(name: str, value: Any) -> str:
    """A compared value as the console and the xlsx show it."""
    if value is None or value == "":
        return ""
    if name == "household_type":
        return LABELS[HouseholdType].get(str(value), str(value))
    if name == "monitoring_category":
        return LABELS[MonitoringCategory].get(str(value), str(value))
    if name == "monitoring_status":
        return LABELS[MonitoringStatus].get(str(value), str(value))
    if name == "per_capita":
        return f"{float(value):.2f}"
    return str(value)


def update_fields(match: Match, role: str) -> dict[str, Any]:
    """The household fields a user of ``role`` takes over from the national file for this
    match."""
    return {d.field: d.national for d in match.differences if d.takeable(role)}
