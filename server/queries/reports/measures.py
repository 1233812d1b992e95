"""帮扶措施落实."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlmodel import Session

from server.db.tables import Measure
from server.queries.reports.common import (
    H,
    Report,
    ReportFilters,
    Table,
    household_where,
    main_risk_sql,
    monitored_sql,
    region_names,
    village_rows,
)
from server.scope import Principal
from sync_protocol.enums import LABELS, MeasureCategory, MeasureStatus, RiskType
from sync_protocol.wuqing import unmatched_risks

MS = Measure.__table__  # type: ignore[attr-defined]

STATUS_COLUMNS = [("planned", "计划实施"), ("in_progress", "实施中"), ("done", "已落实"),
                  ("no_status", "未填写状态")]


def _risk_label(code: str) -> str:
    return LABELS[RiskType].get(code, code) if code else "未填写返贫致贫风险类型"


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
    by_village = village_rows(names, per_village)
    risk_rows = [{"code": code, "risk": _risk_label(code), **per_risk[code]}
                 for code in sorted(per_risk, key=lambda c: (-per_risk[c]["households"], c))]
    totals = {k: sum(per_village[c][k] for c in per_village)
              for k in ("monitored", "with_measures", "unmatched")}
    measure_totals = {k: sum(r[k] for r in detail) for k, _ in STATUS_COLUMNS}
    return Report(
        "measures", "帮扶措施落实情况统计表", f,
        summary=[("monitored", "风险未消除户数", totals["monitored"]),
                 ("with_measures", "已有帮扶措施户数", totals["with_measures"]),
                 ("unmatched", "返贫致贫风险类型无对应帮扶措施户数", totals["unmatched"]),
                 ("measures", "帮扶措施条数", sum(r["total"] for r in detail)),
                 *[(k, f"其中：{label}", measure_totals[k]) for k, label in STATUS_COLUMNS]],
        tables=[
            Table("by_risk_category", "按返贫致贫风险类型和帮扶措施类别",
                  [("risk", "主要返贫致贫风险类型"), ("category", "帮扶措施类别"),
                   ("households", "户数"), ("total", "措施条数"), *STATUS_COLUMNS], detail),
            Table("unmatched_by_risk", "返贫致贫风险类型无对应帮扶措施",
                  [("risk", "返贫致贫风险类型"), ("households", "户数"),
                   ("unmatched", "无对应帮扶措施户数")], risk_rows),
            Table("by_village", "按乡镇、行政村",
                  [("township", "乡镇"), ("village", "行政村"), ("monitored", "风险未消除户数"),
                   ("with_measures", "已有帮扶措施户数"),
                   ("unmatched", "返贫致贫风险类型无对应帮扶措施户数")], by_village),
        ],
        chart=("返贫致贫风险类型无对应帮扶措施户数", "unmatched_by_risk", "risk", "unmatched"),
        notes=["统计对象为风险未消除的监测户，措施为截至今日登记的全部帮扶措施。"],
    )
