"""帮扶措施落实 and 应纳未纳 (households that may need monitoring)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.db.tables import IncomeItem, Measure, Member
from server.queries.reports.common import (
    H,
    Report,
    ReportFilters,
    Table,
    household_where,
    main_risk_sql,
    monitored_sql,
    procedure_policies,
    region_names,
    township_of,
)
from server.scope import Principal
from sync_protocol.entities import FIELD_LABELS
from sync_protocol.enums import LABELS, MeasureCategory, MeasureStatus, RiskType
from sync_protocol.income import COST_CATEGORY
from sync_protocol.wuqing import unmatched_risks

MS = Measure.__table__  # type: ignore[attr-defined]
INC = IncomeItem.__table__  # type: ignore[attr-defined]
MEM = Member.__table__  # type: ignore[attr-defined]

STATUS_COLUMNS = [("planned", "计划实施"), ("in_progress", "实施中"), ("done", "已完成"),
                  ("no_status", "未填写状态")]
SECURITY_FIELDS = ("food_secure", "clothing_secure", "education_secure", "medical_secure",
                   "housing_secure", "water_secure", "drinking_water_safe")


def _village_rows(names: dict[str, str], counts: dict[str, dict[str, int]]
                  ) -> list[dict[str, Any]]:
    return [{"township": names.get(township_of(code), township_of(code)),
             "village": names.get(code, code), **counts[code]} for code in sorted(counts)]


def _risk_label(code: str) -> str:
    return LABELS[RiskType].get(code, code) if code else "未填写风险类型"


def measures_report(session: Session, principal: Principal, f: ReportFilters) -> Report:
    """帮扶措施落实 of the households whose risk is not eliminated (现状): per main risk type and
    measure category, planned vs carried out; per risk type, households with no matching
    measure (``sync_protocol.wuqing.RISK_MEASURES``)."""
    f = f.resolved()
    where = [*household_where(principal, f), monitored_sql()]
    status = sa.func.coalesce(MS.c.status, "")
    rows = session.execute(
        sa.select(main_risk_sql().label("risk"), MS.c.category,
                  sa.func.count(sa.distinct(MS.c.household_id)).label("households"),
                  *[sa.func.count().filter(status == s.value).label(s.value)
                    for s in MeasureStatus],
                  sa.func.count().filter(status.notin_([s.value for s in MeasureStatus]))
                  .label("no_status"))
        .join(MS, sa.and_(MS.c.household_id == H.c.id, MS.c.deleted.is_(False)))
        .where(*where)
        .group_by(sa.text("1"), sa.text("2"))  # main risk type, measure category
        .order_by(sa.text("1"), sa.text("2"))
    ).all()
    cat_labels = LABELS[MeasureCategory]
    detail = [{"risk": _risk_label(r.risk), "category": cat_labels.get(r.category, r.category),
               "households": r.households, "total": sum(getattr(r, k) for k, _ in STATUS_COLUMNS),
               **{k: getattr(r, k) for k, _ in STATUS_COLUMNS}} for r in rows]

    # one row per monitored household (a small share of the county): its risk types and the
    # categories of its measures, matched by the one rule in sync_protocol
    categories = sa.func.coalesce(
        sa.func.array_agg(sa.distinct(MS.c.category)).filter(MS.c.id.is_not(None)), sa.text(
            "'{}'::varchar[]"))
    households = session.execute(
        sa.select(H.c.village_code, H.c.risk_types, categories.label("categories"))
        .outerjoin(MS, sa.and_(MS.c.household_id == H.c.id, MS.c.deleted.is_(False)))
        .where(*where)
        .group_by(H.c.id)
    ).all()
    per_risk: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_village: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for hh in households:
        risks = [r for r in (hh.risk_types or []) if isinstance(r, str)]
        missing = unmatched_risks(risks, hh.categories or [])
        v = per_village[hh.village_code]
        v["monitored"] += 1
        v["with_measures"] += bool(hh.categories)
        v["unmatched"] += bool(missing)
        for risk in dict.fromkeys(risks):
            per_risk[risk]["households"] += 1
            per_risk[risk]["unmatched"] += risk in missing
    names = region_names(session, principal)
    village_rows = _village_rows(names, per_village)
    risk_rows = [{"code": code, "risk": _risk_label(code), **per_risk[code]}
                 for code in sorted(per_risk, key=lambda c: (-per_risk[c]["households"], c))]
    totals = {k: sum(per_village[c][k] for c in per_village)
              for k in ("monitored", "with_measures", "unmatched")}
    measure_totals = {k: sum(r[k] for r in detail) for k, _ in STATUS_COLUMNS}
    return Report(
        "measures", "帮扶措施落实情况统计表", f,
        summary=[("monitored", "风险未消除户数", totals["monitored"]),
                 ("with_measures", "已有帮扶措施户数", totals["with_measures"]),
                 ("unmatched", "风险类型无对应帮扶措施户数", totals["unmatched"]),
                 ("measures", "帮扶措施条数", sum(r["total"] for r in detail)),
                 *[(k, f"其中：{label}", measure_totals[k]) for k, label in STATUS_COLUMNS]],
        tables=[
            Table("by_risk_category", "按风险类型和帮扶措施类别",
                  [("risk", "主要返贫致贫风险类型"), ("category", "帮扶措施类别"),
                   ("households", "户数"), ("total", "措施条数"), *STATUS_COLUMNS], detail),
            Table("unmatched_by_risk", "风险类型无对应帮扶措施",
                  [("risk", "返贫致贫风险类型"), ("households", "户数"),
                   ("unmatched", "无对应帮扶措施户数")], risk_rows),
            Table("by_village", "按乡镇、行政村",
                  [("township", "乡镇"), ("village", "行政村"), ("monitored", "风险未消除户数"),
                   ("with_measures", "已有帮扶措施户数"),
                   ("unmatched", "风险类型无对应帮扶措施户数")], village_rows),
        ],
        chart=("风险类型无对应帮扶措施户数", "unmatched_by_risk", "risk", "unmatched"),
        notes=["统计对象为风险未消除的监测户，措施为截至今日登记的全部帮扶措施。"],
    )


def alerts_report(session: Session, principal: Principal, f: ReportFilters) -> Report:
    """应纳未纳: households not monitored whose latest per-capita net income is below that
    year's monitoring line, or with a 两不愁三保障 / drinking-water problem (a flag set to no)."""
    f = f.resolved()
    policies = procedure_policies(session, principal)
    lines = [(county, year, line) for county, p in policies.items()
             for year, line in p.monitoring_lines.items()]
    # the latest year with income of each household in scope, then that year's net: straight
    # over income_item (its own village code carries the scope; the households not monitored
    # are picked in the final join), two scans and no join of every income row
    incomes = [principal.scope_clause(INC.c.village_code), INC.c.deleted.is_(False)]
    if f.village:
        incomes.append(INC.c.village_code == f.village)
    last_year = (sa.select(INC.c.household_id, sa.func.max(INC.c.year).label("year"))
                 .where(*incomes).group_by(INC.c.household_id).subquery("last_year"))
    latest = (sa.select(INC.c.household_id, INC.c.village_code, INC.c.year,
                        sa.func.sum(sa.case((INC.c.category == COST_CATEGORY, -INC.c.amount),
                                            else_=INC.c.amount)).label("net"))
              .join(last_year, sa.and_(last_year.c.household_id == INC.c.household_id,
                                       last_year.c.year == INC.c.year))
              .where(*incomes)
              .group_by(INC.c.household_id, INC.c.village_code, INC.c.year)
              .subquery("latest"))
    people = (sa.select(MEM.c.household_id, sa.func.count().label("n"))
              .where(MEM.c.deleted.is_(False), principal.scope_clause(MEM.c.village_code))
              .group_by(MEM.c.household_id).subquery("people"))
    per_capita = latest.c.net / sa.func.nullif(people.c.n, 0)
    figures_q = sa.select(latest.c.household_id, latest.c.year,
                          per_capita.label("per_capita")).outerjoin(
        people, people.c.household_id == latest.c.household_id)
    if lines:
        line_values = sa.values(sa.column("county", sa.String), sa.column("year", sa.Integer),
                                sa.column("line", sa.Float), name="lines").data(lines)
        figures_q = figures_q.add_columns(line_values.c.line).outerjoin(
            line_values, sa.and_(line_values.c.county == sa.func.substr(latest.c.village_code,
                                                                        1, 6),
                                 line_values.c.year == latest.c.year))
    else:
        figures_q = figures_q.add_columns(sa.cast(sa.null(), sa.Float).label("line"))
    figures = figures_q.subquery("figures")
    below = sa.func.coalesce(figures.c.per_capita < figures.c.line, False)
    insecure = sa.or_(*[H.c[name].is_(False) for name in SECURITY_FIELDS])
    rows = session.execute(
        sa.select(H.c.id, H.c.village_code, H.c.household_number, H.c.head_name,
                  figures.c.year, figures.c.per_capita, figures.c.line, below.label("below"),
                  *[H.c[name] for name in SECURITY_FIELDS])
        .outerjoin(figures, figures.c.household_id == H.c.id)
        .where(*household_where(principal, f), sa.not_(monitored_sql()),
               sa.or_(below, insecure))
        .order_by(H.c.village_code, H.c.household_number.asc().nulls_last(), H.c.head_name)
    ).all()
    names = region_names(session, principal)
    detail: list[dict[str, Any]] = []
    per_village: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        problems = [FIELD_LABELS[name] for name in SECURITY_FIELDS if r._mapping[name] is False]
        v = per_village[r.village_code]
        v["total"] += 1
        v["income_below"] += bool(r.below)
        v["insecure"] += bool(problems)
        detail.append({
            "household_id": str(r.id), "township": names.get(township_of(r.village_code), ""),
            "village": names.get(r.village_code, r.village_code),
            "household_number": r.household_number or "", "head_name": r.head_name,
            "year": r.year, "per_capita": round(float(r.per_capita), 2)
            if r.per_capita is not None else None,
            "line": float(r.line) if r.line is not None else None,
            "income_below": "是" if r.below else "否", "problems": "、".join(problems)})
    village_rows = _village_rows(names, per_village)
    totals = {k: sum(per_village[c][k] for c in per_village)
              for k in ("total", "income_below", "insecure")}
    return Report(
        "alerts", "应纳未纳预警名单", f,
        summary=[("total", "预警户数", totals["total"]),
                 ("income_below", "人均纯收入低于监测标准", totals["income_below"]),
                 ("insecure", "“两不愁三保障”及饮水安全存在问题", totals["insecure"])],
        tables=[
            Table("by_village", "按乡镇、行政村",
                  [("township", "乡镇"), ("village", "行政村"), ("total", "预警户数"),
                   ("income_below", "人均纯收入低于监测标准"),
                   ("insecure", "“两不愁三保障”及饮水安全存在问题")], village_rows),
            Table("households", "预警农户名单",
                  [("township", "乡镇"), ("village", "行政村"), ("household_number", "户编号"),
                   ("head_name", "户主姓名"), ("year", "收入年度"),
                   ("per_capita", "人均纯收入（元）"), ("line", "监测标准（元/人/年）"),
                   ("income_below", "低于监测标准"),
                   ("problems", "“两不愁三保障”及饮水安全问题")], detail),
        ],
        chart=("应纳未纳预警户数", "by_village", "village", "total"),
        notes=["对象为未纳入监测或风险已消除的农户；收入为最近一个登记年度的人均纯收入。"],
    )
